"""Invariant: every backend mutation is audited, in the same transaction (issue 11 item 8).

For every operation of the local backend that can change the store, a successful call and a failing call:
the success changes rows and writes exactly one line for it, sealed as the head at once; the failure changes
nothing and writes one line with its error code. Then the same successful call with its COMMIT made to fail
after its line was written: neither the rows nor a success line survive (they share one transaction), and
the failure is recorded instead. The table of recipes must name every operation the backend has, so an
operation added later without one fails here.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kmstui.audit import read_events
from kmstui.backends.local import auditing
from kmstui.backends.local.backend import LocalBackend
from kmstui.errors import KmstuiError, KMSInternalException

ROLE = "arn:aws:iam::111122223333:role/app"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]})
IAM_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]})
ROLE_ARN = "arn:aws:iam::111122223333:role/r"
SCP = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]})
# Operations that may change nothing in the store (AssumeRole and GetSessionToken hand out a sealed session
# token): audited, but there is no change for their line to share a transaction with.
STATELESS = {"AssumeRole", "GetSessionToken"}


def as_root(hsm: LocalBackend, call):
    """Run `call` as the account root calling over `kmstui serve` (GetSessionToken needs a long-term key)."""
    from kmstui.backends.local.core import CallFacts

    identity = {"type": "Root", "principalId": hsm.account_id, "arn": hsm.root_arn, "accountId": hsm.account_id,
                "accessKeyId": "AKIAAAAAAAAAAAAAAAAA"}
    with hsm.acting_as(hsm.root_arn, CallFacts(identity=identity)):
        return call()


class World:
    """Fresh objects for one recipe: a symmetric key, an alias, a grant, an IAM policy, a BYOK key."""

    def __init__(self, hsm: LocalBackend) -> None:
        self.hsm = hsm
        self.key = hsm.create_key(Description="k")["KeyMetadata"]["KeyId"]
        self.other = hsm.create_key()["KeyMetadata"]["KeyId"]
        self.alias = f"alias/a-{os.urandom(4).hex()}"
        hsm.create_alias(AliasName=self.alias, TargetKeyId=self.key)
        self.grant = hsm.create_grant(KeyId=self.key, GranteePrincipal=ROLE, Operations=["Encrypt"],
                                      RetiringPrincipal=ROLE)
        hsm.put_identity_policy(PrincipalArn=ROLE, PolicyName="p", PolicyDocument=IAM_POLICY)
        self.external = hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        self.access_key = hsm.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
        hsm.put_role_trust_policy(RoleName="r", PolicyDocument=TRUST)

    def import_args(self) -> dict[str, Any]:
        params = self.hsm.get_parameters_for_import(KeyId=self.external, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                    WrappingKeySpec="RSA_2048")
        pub = serialization.load_der_public_key(params["PublicKey"])
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        return {"KeyId": self.external, "ImportToken": params["ImportToken"],
                "EncryptedKeyMaterial": pub.encrypt(os.urandom(32), oaep)}

    def imported(self) -> str:
        self.hsm.import_key_material(**self.import_args())
        return self.external

    def scheduled(self) -> str:
        self.hsm.schedule_key_deletion(KeyId=self.other, PendingWindowInDays=7)
        return self.other

    def rotating(self) -> str:
        self.hsm.enable_key_rotation(KeyId=self.key)
        return self.key

    def organized(self) -> dict[str, str]:
        """An organization (the HSM's account a member), an OU, an SCP attached to the root and one detached."""
        self.hsm.create_organization(ManagementAccountId="999999999999")
        root = self.hsm.list_roots()["Roots"][0]["Id"]
        ou = self.hsm.create_organizational_unit(ParentId=root, Name="Finance")["OrganizationalUnit"]["Id"]
        ids = {"root": root, "ou": ou}
        for name in ("attached", "free"):
            ids[name] = self.hsm.create_org_policy(Name=name, Type="SERVICE_CONTROL_POLICY",
                                                   Content=SCP)["Policy"]["PolicySummary"]["Id"]
        self.hsm.attach_org_policy(PolicyId=ids["attached"], TargetId=root)
        return ids

    def bounded(self) -> str:
        self.hsm.put_permissions_boundary(PrincipalArn=ROLE, PolicyDocument=IAM_POLICY)
        return ROLE


Recipe = Callable[[World], Callable[[], Any]]
MISSING = "00000000-0000-4000-8000-000000000000"

# operation -> (a call that succeeds, a call that fails); each builds what it needs first.
RECIPES: dict[str, tuple[Recipe, Recipe]] = {
    "CreateKey": (lambda w: lambda: w.hsm.create_key(Description="new"),
                  lambda w: lambda: w.hsm.create_key(KeyUsage="SIGN_VERIFY")),
    "EnableKey": (lambda w: lambda: w.hsm.enable_key(KeyId=w.key), lambda w: lambda: w.hsm.enable_key(KeyId=MISSING)),
    "DisableKey": (lambda w: lambda: w.hsm.disable_key(KeyId=w.key),
                   lambda w: lambda: w.hsm.disable_key(KeyId=MISSING)),
    "ScheduleKeyDeletion": (lambda w: lambda: w.hsm.schedule_key_deletion(KeyId=w.key, PendingWindowInDays=7),
                            lambda w: lambda: w.hsm.schedule_key_deletion(KeyId=w.key, PendingWindowInDays=3)),
    "CancelKeyDeletion": (lambda w: (lambda k: lambda: w.hsm.cancel_key_deletion(KeyId=k))(w.scheduled()),
                          lambda w: lambda: w.hsm.cancel_key_deletion(KeyId=w.key)),
    "UpdateKeyDescription": (lambda w: lambda: w.hsm.update_key_description(KeyId=w.key, Description="d2"),
                             lambda w: lambda: w.hsm.update_key_description(KeyId=MISSING, Description="d2")),
    "CreateAlias": (lambda w: lambda: w.hsm.create_alias(AliasName="alias/new", TargetKeyId=w.key),
                    lambda w: lambda: w.hsm.create_alias(AliasName=w.alias, TargetKeyId=w.key)),
    "UpdateAlias": (lambda w: lambda: w.hsm.update_alias(AliasName=w.alias, TargetKeyId=w.other),
                    lambda w: lambda: w.hsm.update_alias(AliasName="alias/none", TargetKeyId=w.other)),
    "DeleteAlias": (lambda w: lambda: w.hsm.delete_alias(AliasName=w.alias),
                    lambda w: lambda: w.hsm.delete_alias(AliasName="alias/none")),
    "TagResource": (lambda w: lambda: w.hsm.tag_resource(KeyId=w.key, Tags=[{"TagKey": "t", "TagValue": "v"}]),
                    lambda w: lambda: w.hsm.tag_resource(KeyId=MISSING, Tags=[{"TagKey": "t", "TagValue": "v"}])),
    "UntagResource": (lambda w: (w.hsm.tag_resource(KeyId=w.key, Tags=[{"TagKey": "t", "TagValue": "v"}]),
                                 lambda: w.hsm.untag_resource(KeyId=w.key, TagKeys=["t"]))[1],
                      lambda w: lambda: w.hsm.untag_resource(KeyId=MISSING, TagKeys=["t"])),
    "PutKeyPolicy": (lambda w: lambda: w.hsm.put_key_policy(KeyId=w.key, Policy=POLICY),
                     lambda w: lambda: w.hsm.put_key_policy(KeyId=w.key, Policy="{not json")),
    "EnableKeyRotation": (lambda w: lambda: w.hsm.enable_key_rotation(KeyId=w.key),
                          lambda w: lambda: w.hsm.enable_key_rotation(KeyId=w.key, RotationPeriodInDays=5)),
    "DisableKeyRotation": (lambda w: (lambda k: lambda: w.hsm.disable_key_rotation(KeyId=k))(w.rotating()),
                           lambda w: lambda: w.hsm.disable_key_rotation(KeyId=MISSING)),
    "RotateKeyOnDemand": (lambda w: lambda: w.hsm.rotate_key_on_demand(KeyId=w.key),
                          lambda w: lambda: w.hsm.rotate_key_on_demand(KeyId=w.external)),
    "CreateGrant": (lambda w: lambda: w.hsm.create_grant(KeyId=w.key, GranteePrincipal=ROLE, Operations=["Decrypt"]),
                    lambda w: lambda: w.hsm.create_grant(KeyId=w.key, GranteePrincipal=ROLE, Operations=["Nope"])),
    "RetireGrant": (lambda w: lambda: w.hsm.retire_grant(GrantToken=w.grant["GrantToken"]),
                    lambda w: lambda: w.hsm.retire_grant()),
    "RevokeGrant": (lambda w: lambda: w.hsm.revoke_grant(KeyId=w.key, GrantId=w.grant["GrantId"]),
                    lambda w: lambda: w.hsm.revoke_grant(KeyId=w.key, GrantId="0" * 64)),
    "PutPrincipalPolicy": (lambda w: lambda: w.hsm.put_identity_policy(PrincipalArn=ROLE, PolicyName="q",
                                                                      PolicyDocument=IAM_POLICY),
                           lambda w: lambda: w.hsm.put_identity_policy(PrincipalArn=ROLE, PolicyName="q",
                                                                      PolicyDocument="{")),
    "DeletePrincipalPolicy": (lambda w: lambda: w.hsm.delete_identity_policy(PrincipalArn=ROLE, PolicyName="p"),
                              lambda w: lambda: w.hsm.delete_identity_policy(PrincipalArn=ROLE, PolicyName="none")),
    "GetParametersForImport": (
        lambda w: lambda: w.hsm.get_parameters_for_import(KeyId=w.external, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                          WrappingKeySpec="RSA_2048"),
        lambda w: lambda: w.hsm.get_parameters_for_import(KeyId=w.key, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                          WrappingKeySpec="RSA_2048")),
    "ImportKeyMaterial": (lambda w: (lambda args: lambda: w.hsm.import_key_material(**args))(w.import_args()),
                          lambda w: (lambda args: lambda: w.hsm.import_key_material(
                              **{**args, "EncryptedKeyMaterial": b"\0" * 256}))(w.import_args())),
    "CreateAccessKey": (lambda w: lambda: w.hsm.create_access_key(UserName="bob"),
                        lambda w: lambda: w.hsm.create_access_key(UserName="bob", ViaService="not a service!")),
    "DeleteAccessKey": (lambda w: lambda: w.hsm.delete_access_key(AccessKeyId=w.access_key, UserName="alice"),
                        lambda w: lambda: w.hsm.delete_access_key(AccessKeyId="AKIA0000000000000000",
                                                                  UserName="alice")),
    "UpdateAssumeRolePolicy": (lambda w: lambda: w.hsm.put_role_trust_policy(RoleName="r2", PolicyDocument=TRUST),
                               lambda w: lambda: w.hsm.put_role_trust_policy(RoleName="r2", PolicyDocument="{")),
    "DeleteRole": (lambda w: lambda: w.hsm.delete_role(RoleName="r"), lambda w: lambda: w.hsm.delete_role(RoleName="none")),
    "AssumeRole": (lambda w: lambda: w.hsm.assume_role(RoleArn=ROLE_ARN, RoleSessionName="s"),
                   lambda w: lambda: w.hsm.assume_role(RoleArn=ROLE_ARN + "-none", RoleSessionName="s")),
    "GetSessionToken": (lambda w: lambda: as_root(w.hsm, lambda: w.hsm.get_session_token(DurationSeconds=900)),
                        lambda w: lambda: w.hsm.get_session_token()),  # a local caller has no long-term key
    "CreateOrganization": (lambda w: lambda: w.hsm.create_organization(),
                           lambda w: lambda: w.hsm.create_organization(ManagementAccountId="12")),
    "DeleteOrganization": (lambda w: (w.hsm.create_organization(), lambda: w.hsm.delete_organization())[1],
                           lambda w: (w.organized(), lambda: w.hsm.delete_organization())[1]),
    "InviteAccountToOrganization": (
        lambda w: (w.organized(), lambda: w.hsm.invite_account(Target={"Id": "444455556666", "Type": "ACCOUNT"}))[1],
        lambda w: (w.organized(), lambda: w.hsm.invite_account(Target={"Id": "111122223333", "Type": "ACCOUNT"}))[1]),
    "RemoveAccountFromOrganization": (
        lambda w: (w.organized(), lambda: w.hsm.remove_account(AccountId="111122223333"))[1],
        lambda w: (w.organized(), lambda: w.hsm.remove_account(AccountId="999999999999"))[1]),
    "CreateOrganizationalUnit": (
        lambda w: (lambda ids: lambda: w.hsm.create_organizational_unit(ParentId=ids["ou"], Name="Sub"))(w.organized()),
        lambda w: (lambda ids: lambda: w.hsm.create_organizational_unit(ParentId=ids["root"], Name="Finance"))(
            w.organized())),
    "DeleteOrganizationalUnit": (
        lambda w: (lambda ids: lambda: w.hsm.delete_organizational_unit(OrganizationalUnitId=ids["ou"]))(w.organized()),
        lambda w: (lambda ids: lambda: w.hsm.delete_organizational_unit(OrganizationalUnitId=ids["ou"] + "x"))(
            w.organized())),
    "MoveAccount": (
        lambda w: (lambda ids: lambda: w.hsm.move_account(AccountId="111122223333", SourceParentId=ids["root"],
                                                          DestinationParentId=ids["ou"]))(w.organized()),
        lambda w: (lambda ids: lambda: w.hsm.move_account(AccountId="111122223333", SourceParentId=ids["ou"],
                                                          DestinationParentId=ids["root"]))(w.organized())),
    "CreatePolicy": (
        lambda w: (w.organized(), lambda: w.hsm.create_org_policy(Name="new", Type="SERVICE_CONTROL_POLICY",
                                                                  Content=SCP))[1],
        lambda w: (w.organized(), lambda: w.hsm.create_org_policy(Name="new", Type="SERVICE_CONTROL_POLICY",
                                                                  Content="{"))[1]),
    "AttachPolicy": (
        lambda w: (lambda ids: lambda: w.hsm.attach_org_policy(PolicyId=ids["free"], TargetId=ids["ou"]))(w.organized()),
        lambda w: (lambda ids: lambda: w.hsm.attach_org_policy(PolicyId=ids["attached"], TargetId=ids["root"]))(
            w.organized())),
    "DetachPolicy": (
        lambda w: (lambda ids: lambda: w.hsm.detach_org_policy(PolicyId=ids["attached"], TargetId=ids["root"]))(
            w.organized()),
        lambda w: (lambda ids: lambda: w.hsm.detach_org_policy(PolicyId=ids["free"], TargetId=ids["root"]))(
            w.organized())),
    "DeletePolicy": (
        lambda w: (lambda ids: lambda: w.hsm.delete_org_policy(PolicyId=ids["free"]))(w.organized()),
        lambda w: (lambda ids: lambda: w.hsm.delete_org_policy(PolicyId=ids["attached"]))(w.organized())),
    "PutPermissionsBoundary": (lambda w: lambda: w.hsm.put_permissions_boundary(PrincipalArn=ROLE,
                                                                               PolicyDocument=IAM_POLICY),
                               lambda w: lambda: w.hsm.put_permissions_boundary(PrincipalArn=ROLE, PolicyDocument="{")),
    "DeletePermissionsBoundary": (
        lambda w: (lambda arn: lambda: w.hsm.delete_permissions_boundary(PrincipalArn=arn))(w.bounded()),
        lambda w: lambda: w.hsm.delete_permissions_boundary(PrincipalArn=ROLE)),
    "DeleteImportedKeyMaterial": (lambda w: (lambda k: lambda: w.hsm.delete_imported_key_material(KeyId=k))(w.imported()),
                                  lambda w: lambda: w.hsm.delete_imported_key_material(KeyId=w.key)),
}


def mutating_operations() -> set[str]:
    """Every audited operation that can write to the store: not read-only, or known to write (import tokens)."""
    ops = set()
    for name in dir(LocalBackend):
        fn = getattr(LocalBackend, name)
        if getattr(fn, "audit_name", None) and not getattr(fn, "read_only", True):
            ops.add(fn.audit_name)
    return ops | {"GetParametersForImport"}


def snapshot(path) -> dict[str, list]:
    """Every row of the file except the sealed audit head (which moves with every line)."""
    conn = sqlite3.connect(str(path))
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in tables}
        out["meta"] = sorted(map(repr, conn.execute("SELECT * FROM meta WHERE name != 'audit_head'")))
        return out
    finally:
        conn.close()


def lines(hsm) -> list[dict]:
    return list(read_events(hsm.audit.path))


def test_every_mutating_operation_has_a_recipe():
    assert mutating_operations() == set(RECIPES)


@pytest.mark.parametrize("op", sorted(RECIPES))
def test_success_is_audited_and_sealed_in_the_same_commit(unsealed_hsm, op):
    hsm = unsealed_hsm
    call = RECIPES[op][0](World(hsm))
    before, count = snapshot(hsm.path), len(lines(hsm))
    call()
    after = lines(hsm)
    mine = [e for e in after[count:] if e["eventName"] == op]
    assert len(mine) == 1 and "errorCode" not in mine[0]
    if op in STATELESS:
        return
    assert snapshot(hsm.path) != before, f"{op} changed nothing"
    head = auditing.sealed_head(hsm.store)
    assert (head.seq, head.hash) == (after[-1]["seq"], after[-1]["hash"])  # sealed with the change, not later


@pytest.mark.parametrize("op", sorted(RECIPES))
def test_failure_changes_nothing_and_is_audited(unsealed_hsm, op):
    hsm = unsealed_hsm
    call = RECIPES[op][1](World(hsm))
    before, count = snapshot(hsm.path), len(lines(hsm))
    with pytest.raises(KmstuiError) as caught:
        call()
    assert snapshot(hsm.path) == before, f"a failing {op} changed the store"
    mine = [e for e in lines(hsm)[count:] if e["eventName"] == op]
    assert len(mine) == 1 and mine[0]["errorCode"] == caught.value.code


@pytest.mark.parametrize("op", sorted(set(RECIPES) - STATELESS))
def test_a_failed_commit_keeps_neither_the_change_nor_its_success_line(unsealed_hsm, monkeypatch, op):
    hsm = unsealed_hsm
    call = RECIPES[op][0](World(hsm))
    before, count = snapshot(hsm.path), len(lines(hsm))
    real_hook = auditing._hook

    def failing_commit(store, log):
        real_hook(store, log)

        def full() -> None:
            raise sqlite3.OperationalError("database or disk is full")

        store.on_commit(full, lambda _committed: None)

    monkeypatch.setattr(auditing, "_hook", failing_commit)
    with pytest.raises(KMSInternalException, match="disk is full"):
        call()
    monkeypatch.undo()
    assert snapshot(hsm.path) == before, f"{op} kept a change whose commit failed"
    mine = [e for e in lines(hsm)[count:] if e["eventName"] == op]
    assert [e.get("errorCode") for e in mine] == ["KMSInternalException"]
    assert hsm.verify_audit()["Valid"]
