"""Enforcement on the local HSM (kmstui.authz.local, installed by the backend when it opens)."""

import json

import pytest

from kmstui.errors import AccessDeniedException, MalformedPolicyDocumentException

ACCT = "111122223333"
BOB = f"arn:aws:iam::{ACCT}:user/bob"
WORKER = f"arn:aws:iam::{ACCT}:role/Worker"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/Worker/w1"


@pytest.fixture
def hsm(unsealed_hsm):
    from kmstui.authz.local import Authorizer

    assert isinstance(unsealed_hsm.authorizer, Authorizer)
    return unsealed_hsm


def test_root_by_default_and_implicit_deny_for_others(hsm):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    blob = hsm.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    hsm.set_caller(BOB)
    with pytest.raises(AccessDeniedException, match="kms:Decrypt") as info:
        hsm.decrypt(CiphertextBlob=blob)
    assert info.value.trace["decided_by"] == "implicit_deny"
    hsm.set_caller(None)
    hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="use", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}))
    hsm.set_caller(BOB)
    assert hsm.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    with pytest.raises(AccessDeniedException):
        hsm.encrypt(KeyId=key, Plaintext=b"y")


def test_grant_with_context_constraint_end_to_end(hsm):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    good = hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"job": "42"})["CiphertextBlob"]
    bad = hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"job": "43"})["CiphertextBlob"]
    grant = hsm.create_grant(KeyId=key, GranteePrincipal=WORKER, Operations=["Decrypt"],
                             RetiringPrincipal=BOB, Constraints={"EncryptionContextEquals": {"job": "42"}})
    hsm.set_caller(SESSION)
    assert hsm.decrypt(CiphertextBlob=good, EncryptionContext={"job": "42"})["Plaintext"] == b"x"
    with pytest.raises(AccessDeniedException, match="grant|implicit|allows"):
        hsm.decrypt(CiphertextBlob=bad, EncryptionContext={"job": "43"})
    with pytest.raises(AccessDeniedException):  # a grant cannot widen itself
        hsm.create_grant(KeyId=key, GranteePrincipal=WORKER, Operations=["Decrypt", "Encrypt"])
    with pytest.raises(AccessDeniedException):  # the grantee may not retire it (no RetireGrant operation)
        hsm.retire_grant(KeyId=key, GrantId=grant["GrantId"])
    hsm.set_caller(BOB)
    hsm.retire_grant(GrantToken=grant["GrantToken"])  # the retiring principal may
    hsm.set_caller(SESSION)
    with pytest.raises(AccessDeniedException):
        hsm.decrypt(CiphertextBlob=good, EncryptionContext={"job": "42"})


def test_policy_checks_on_put_key_policy(hsm):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    lockout = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": WORKER}, "Action": "kms:Decrypt", "Resource": "*"}]})
    with pytest.raises(MalformedPolicyDocumentException, match="lockout"):
        hsm.put_key_policy(KeyId=key, Policy=lockout)
    with pytest.raises(MalformedPolicyDocumentException, match=r"Statement\[0\] Principal"):
        hsm.put_key_policy(KeyId=key, Policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*",
                                                                        "Resource": "*"}]}))
    hsm.put_key_policy(KeyId=key, Policy=lockout, BypassPolicyLockoutSafetyCheck=True)
    with pytest.raises(AccessDeniedException):  # now even the root is locked out, as in AWS
        hsm.describe_key(KeyId=key)


def test_identity_policy_for_key_less_create_key(hsm):
    hsm.set_caller(BOB)
    with pytest.raises(AccessDeniedException, match="kms:CreateKey"):
        hsm.create_key(Description="t")


def test_grants_are_read_only_when_the_policies_do_not_decide(hsm, monkeypatch):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    hsm.create_grant(KeyId=key, GranteePrincipal=WORKER, Operations=["Encrypt"])
    calls = []
    real = hsm.grants_for_key
    monkeypatch.setattr(hsm, "grants_for_key", lambda key_id: calls.append(key_id) or real(key_id))
    hsm.encrypt(KeyId=key, Plaintext=b"x")  # the root: the key policy decides
    assert calls == []
    hsm.set_caller(SESSION)
    hsm.encrypt(KeyId=key, Plaintext=b"x")  # the grantee: grants are consulted
    assert calls == [key] or hasattr(hsm, "grants_for_grantee")


def test_key_list_as_a_principal_shows_only_ids_of_keys_it_may_not_describe(hsm):
    """kms:ListKeys shows every key's id and ARN; the rest of the metadata (and aliases) needs DescribeKey on
    that key (and ListAliases), as an AWS CLI user would see it: neither refused nor leaked."""
    seen = hsm.create_key(Description="visible")["KeyMetadata"]
    hidden = hsm.create_key(Description="secret project")["KeyMetadata"]
    hsm.create_alias(AliasName="alias/seen", TargetKeyId=seen["KeyId"])
    hsm.create_alias(AliasName="alias/hidden", TargetKeyId=hidden["KeyId"])
    hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:ListKeys", "kms:ListAliases"], "Resource": "*"},
            {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": seen["Arn"]}]}))
    hsm.set_caller(BOB)
    listed = {k["KeyId"]: k for k in hsm.list_key_metadata()}
    assert listed[hidden["KeyId"]] == {"KeyId": hidden["KeyId"], "KeyArn": hidden["Arn"]}
    assert listed[seen["KeyId"]]["Description"] == "visible" and listed[seen["KeyId"]]["Aliases"] == ["alias/seen"]
    hsm.set_caller(None)
    hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:ListKeys", "kms:DescribeKey"], "Resource": "*"}]}))
    hsm.set_caller(BOB)
    assert all(k["Aliases"] == [] and "Description" in k for k in hsm.list_key_metadata())  # no ListAliases
    hsm.set_caller(WORKER)
    with pytest.raises(AccessDeniedException, match="kms:ListKeys"):
        hsm.list_key_metadata()


def test_denial_names_the_grant_whose_constraint_failed(hsm):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    blob = hsm.encrypt(KeyId=key, Plaintext=b"secret-plaintext", EncryptionContext={"job": "43"})["CiphertextBlob"]
    grant = hsm.create_grant(KeyId=key, GranteePrincipal=WORKER, Operations=["Decrypt"],
                             Constraints={"EncryptionContextEquals": {"job": "42"}})
    hsm.set_caller(SESSION)
    with pytest.raises(AccessDeniedException) as info:
        hsm.decrypt(CiphertextBlob=blob, EncryptionContext={"job": "43"})
    message = str(info.value)
    assert f"; grant {grant['GrantId'][:8]}… does not apply: EncryptionContextEquals" in message
    assert "'job': '42'" in message and "\n" not in message
    assert "secret-plaintext" not in message and grant["GrantToken"] not in message
    assert info.value.trace["grants"][0]["result"] is False


@pytest.mark.parametrize("call", [
    lambda h: h.list_keys(), lambda h: h.create_key(), lambda h: h.list_aliases(),
    lambda h: h.generate_random(NumberOfBytes=8), lambda h: h.create_access_key(UserName="planted"),
])
def test_another_accounts_root_cannot_act_in_this_account_on_no_key(hsm, call):
    """Key-less operations act in the caller's own account (ListKeys "Gets a list of all KMS keys in the caller's
    Amazon Web Services account and Region", KMS API reference). The engine lets any account's root call them
    (it decides for the caller's account), so a foreign root (--as, or `kmstui serve --insecure-anonymous-as`)
    created and listed keys, and issued access keys, in this HSM's account."""
    hsm.set_caller("arn:aws:iam::444455556666:root")
    with pytest.raises(AccessDeniedException, match="444455556666"):
        call(hsm)
    hsm.set_caller(None)
    assert hsm.list_keys()["Keys"] == [] and hsm.list_access_keys(AllUsers=True)["AccessKeyMetadata"] == []
