"""Issue 14 item 8: local enforcement uses the organization layers kept in the HSM file.

ONE table drives it. Each row describes an organization (where the HSM's account sits, the SCPs and RCPs
attached, FullAWSAccess detached or not) and a permissions boundary, and a call. The row is applied to the
store with the backend's Organizations / IAM operations; the call is made on the local backend; `whatif`
is asked twice about the same request: live (`--key-id`, which reads what the store keeps) and with a
`--layers` file written from the same row in the scenario format (docs/policy-layers.md). All three agree,
and a denial names the layer that decided it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from kmstui.errors import AccessDeniedException

ACCT = "111122223333"  # the HSM's account (conftest's unsealed_hsm)
MGMT = "999999999999"
ROOT_ARN = f"arn:aws:iam::{ACCT}:root"
BOB = f"arn:aws:iam::{ACCT}:user/bob"


def _doc(effect: str, action: str, **extra) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": "*", **extra}]}


DENY_DECRYPT = _doc("Deny", "kms:Decrypt")
ALLOW_ENCRYPT = _doc("Allow", "kms:Encrypt")
# what `whatif --key-id` reads as the session's caller besides: DescribeKey, GetKeyPolicy, ListGrants, ...
ALLOW_ENCRYPT_AND_READ = _doc("Allow", ["kms:Encrypt", "kms:Describe*", "kms:Get*", "kms:List*", "iam:Get*", "iam:List*"])
RCP_DENY_DECRYPT = _doc("Deny", "kms:Decrypt", Principal="*")
IAM_ALL = _doc("Allow", "kms:*")


@dataclass
class Row:
    name: str
    action: str  # kms:Decrypt or kms:Encrypt
    denied: bool
    layer: str = ""  # the words a denial's reason must contain
    member: bool = True  # the HSM's account is a member (else the management account)
    in_ou: bool = True  # the account sits in OU Finance (else directly under the root)
    scps: list = field(default_factory=list)  # (name, target "root"|"ou:Finance"|"account", document)
    rcps: list = field(default_factory=list)
    detach_full: list = field(default_factory=list)  # targets FullAWSAccess is detached from
    boundary: dict | None = None  # bob's boundary; the caller is bob (IAM: kms:*) when set, else the root


TABLE = [
    # "SCPs affect only member accounts in the organization" ... an explicit Deny in an SCP attached to the
    # account's OU applies to it (AWS Organizations, SCP evaluation).
    Row("scp-deny-on-ou", "kms:Decrypt", True, "SCP DenyDecrypt", scps=[("DenyDecrypt", "ou:Finance", DENY_DECRYPT)]),
    Row("scp-deny-other-action", "kms:Encrypt", False, scps=[("DenyDecrypt", "ou:Finance", DENY_DECRYPT)]),
    Row("scp-deny-on-root", "kms:Decrypt", True, "SCP DenyDecrypt", in_ou=False,
        scps=[("DenyDecrypt", "root", DENY_DECRYPT)]),
    Row("scp-deny-on-account", "kms:Decrypt", True, "SCP DenyDecrypt", scps=[("DenyDecrypt", "account", DENY_DECRYPT)]),
    # "SCPs don't affect users or roles in the management account."
    Row("management-account-exempt", "kms:Decrypt", False, member=False, in_ou=False,
        scps=[("DenyDecrypt", "root", DENY_DECRYPT)]),
    # Allow-list: FullAWSAccess detached from the OU, only an Allow for kms:Encrypt attached there. "For a
    # permission to be allowed for a specific account, there must be an explicit Allow statement at every
    # level from the root through each OU in the direct path to the account."
    Row("scp-allow-list-lacks-action", "kms:Decrypt", True, "SCP", scps=[("OnlyEncrypt", "ou:Finance", ALLOW_ENCRYPT_AND_READ)],
        detach_full=["ou:Finance"]),
    Row("scp-allow-list-has-action", "kms:Encrypt", False, scps=[("OnlyEncrypt", "ou:Finance", ALLOW_ENCRYPT_AND_READ)],
        detach_full=["ou:Finance"]),
    # FullAWSAccess still attached next to the Allow-only SCP: the level allows everything.
    Row("scp-allow-next-to-full-access", "kms:Decrypt", False, scps=[("OnlyEncrypt", "ou:Finance", ALLOW_ENCRYPT_AND_READ)]),
    # RCPs: "RCPs apply to resources in member accounts" ... an explicit Deny denies.
    Row("rcp-deny", "kms:Decrypt", True, "RCP DenyDecryptRcp", rcps=[("DenyDecryptRcp", "root", RCP_DENY_DECRYPT)]),
    Row("rcp-management-keys-exempt", "kms:Decrypt", False, member=False, in_ou=False,
        rcps=[("DenyDecryptRcp", "root", RCP_DENY_DECRYPT)]),
    # "A permissions boundary ... sets the maximum permissions that an identity-based policy can grant."
    Row("boundary-limits-iam-grant", "kms:Decrypt", True, "permissions boundary", member=False, in_ou=False,
        boundary=ALLOW_ENCRYPT),
    Row("boundary-allows", "kms:Encrypt", False, member=False, in_ou=False, boundary=ALLOW_ENCRYPT),
    Row("boundary-and-scp", "kms:Decrypt", True, "SCP DenyDecrypt", boundary=IAM_ALL,
        scps=[("DenyDecrypt", "ou:Finance", DENY_DECRYPT)]),
]


def _apply(hsm, row: Row) -> None:
    """The row, made with the backend's Organizations and IAM operations (as the HSM account's root)."""
    hsm.set_caller(None)
    hsm.create_organization(**({"ManagementAccountId": MGMT} if row.member else {}))
    root = hsm.list_roots()["Roots"][0]["Id"]
    ou = hsm.create_organizational_unit(ParentId=root, Name="Finance")["OrganizationalUnit"]["Id"]
    if row.in_ou:
        hsm.move_account(AccountId=ACCT, SourceParentId=root, DestinationParentId=ou)
    ids = {"root": root, "ou:Finance": ou, "account": ACCT}
    for kind, items in (("SERVICE_CONTROL_POLICY", row.scps), ("RESOURCE_CONTROL_POLICY", row.rcps)):
        for name, target, doc in items:
            pid = hsm.create_org_policy(Name=name, Type=kind, Content=json.dumps(doc))["Policy"]["PolicySummary"]["Id"]
            hsm.attach_org_policy(PolicyId=pid, TargetId=ids[target])
    for target in row.detach_full:
        hsm.detach_org_policy(PolicyId="p-FullAWSAccess", TargetId=ids[target])
    if row.boundary is not None:
        hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="all", PolicyDocument=json.dumps(IAM_ALL))
        hsm.put_permissions_boundary(PrincipalArn=BOB, PolicyDocument=json.dumps(row.boundary))


def _layers_file(tmp_path, hsm, row: Row):
    """The same row in the scenario format: FullAWSAccess is implicit at a level listing no Allow SCP and is
    listed where it stays attached next to an Allow SCP (docs/policy-layers.md)."""
    org_id = hsm.describe_organization()["Organization"]["Id"]
    mgmt = MGMT if row.member else ACCT
    target = {"root": "root", "ou:Finance": "ou:Finance", "account": f"account:{ACCT}"}
    scps = [{"target": target[t], "PolicyName": n, "PolicyDocument": d} for n, t, d in row.scps]
    allow_levels = {target[t] for _n, t, d in row.scps if d["Statement"][0]["Effect"] == "Allow"}
    scps += [{"target": t, "PolicyName": "FullAWSAccess", "PolicyDocument": _doc("Allow", "*")}
             for t in sorted(allow_levels - {target[t] for t in row.detach_full})]
    data = {"organization": {"id": org_id, "management_account": mgmt, "member_accounts": [ACCT] if row.member else [],
                             "ous": [{"name": "Finance", "parent": "root", "accounts": [ACCT] if row.in_ou else []}]},
            "scps": scps,
            "rcps": [{"target": target[t], "PolicyName": n, "PolicyDocument": d} for n, t, d in row.rcps]}
    if row.boundary is not None:
        data["permissions_boundary"] = row.boundary
    path = tmp_path / "layers.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("row", TABLE, ids=[r.name for r in TABLE])
def test_local_enforcement_and_whatif_agree_on_stored_layers(unsealed_hsm, session, tmp_path, row):
    hsm = unsealed_hsm
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    blob = hsm.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"]
    _apply(hsm, row)
    caller = BOB if row.boundary is not None else ROOT_ARN
    hsm.set_caller(caller)
    try:
        if row.action == "kms:Decrypt":
            hsm.decrypt(CiphertextBlob=blob)
        else:
            hsm.encrypt(KeyId=key, Plaintext=b"x")
        local, reason = False, ""
    except AccessDeniedException as exc:
        local, reason = True, str(exc)
    finally:
        hsm.set_caller(None)
    words = ["whatif", "--key-id", key, "--principal", caller, "--action", row.action]
    live = session.execute(words).data
    from_file = session.execute([*words, "--layers", str(_layers_file(tmp_path, hsm, row))]).data
    expected = "DENY" if row.denied else "ALLOW"
    assert (local, live["Decision"], from_file["Decision"]) == (row.denied, expected, expected), (reason, live["Reason"])
    if row.denied:
        assert row.layer in reason and row.layer in live["Reason"], (reason, live["Reason"])


def test_a_change_to_the_organization_takes_effect_on_the_next_call(unsealed_hsm):
    """No stale layers: detaching the SCP allows the very next call, re-attaching denies it again."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    blob = hsm.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    _apply(hsm, Row("x", "kms:Decrypt", True, scps=[("DenyDecrypt", "ou:Finance", DENY_DECRYPT)]))
    pid = hsm.list_org_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"][1]["Id"]
    ou = hsm.list_targets_for_policy(PolicyId=pid)["Targets"][0]["TargetId"]
    with pytest.raises(AccessDeniedException, match="SCP DenyDecrypt"):
        hsm.decrypt(CiphertextBlob=blob)
    hsm.detach_org_policy(PolicyId=pid, TargetId=ou)
    assert hsm.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    hsm.attach_org_policy(PolicyId=pid, TargetId=ou)
    with pytest.raises(AccessDeniedException, match="SCP DenyDecrypt"):
        hsm.decrypt(CiphertextBlob=blob)


def test_a_restricted_principal_cannot_change_the_organization(unsealed_hsm):
    """Organization changes act for the management account: only the HSM account's root may make them, so
    a principal an SCP restricts cannot detach it."""
    hsm = unsealed_hsm
    hsm.create_organization(ManagementAccountId=MGMT)
    hsm.set_caller(BOB)
    try:
        with pytest.raises(AccessDeniedException, match="only as the account root"):
            hsm.create_org_policy(Name="x", Type="SERVICE_CONTROL_POLICY", Content=json.dumps(DENY_DECRYPT))
    finally:
        hsm.set_caller(None)
    assert len(hsm.list_org_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]) == 1  # FullAWSAccess only
