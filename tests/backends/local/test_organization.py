"""The organization, SCPs, RCPs and permissions boundaries kept in the local HSM file: Organizations' and
IAM's rules on input (each refusal one clean line, nothing stored), and the rows sealed like every other row
(a forged or deleted row is caught on open and by `hsm verify`)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from kmstui import errors
from kmstui.backends.local.organization import MAX_POLICY_CHARS

DENY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]})
SCP = "SERVICE_CONTROL_POLICY"


@pytest.fixture
def org(unsealed_hsm):
    unsealed_hsm.create_organization(ManagementAccountId="999999999999")
    return unsealed_hsm


def _rows(hsm, table: str) -> list:
    return hsm.store.conn.execute(f"SELECT * FROM {table}").fetchall()


@pytest.mark.parametrize("content, error, words", [
    ('{"Version": "2012-10-17", "Statement": [', "MalformedPolicyDocumentException", "not JSON"),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]}),
     "MalformedPolicyDocumentException", "Effect"),
    # "Maximum size of a policy document: Service control policies: 5,120 characters" (Quotas for AWS
    # Organizations); the text counts as given (white space included when not saved through the console).
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt",
                                                         "Resource": "*", "Sid": "x" * MAX_POLICY_CHARS}]}),
     "ConstraintViolationException", "POLICY_CONTENT_LIMIT_EXCEEDED"),
])
def test_a_bad_policy_is_refused_and_nothing_is_stored(org, content, error, words):
    before = _rows(org, "org_policies")
    with pytest.raises(getattr(errors, error), match=words) as caught:
        org.create_org_policy(Name="p", Type=SCP, Content=content)
    assert "\n" not in str(caught.value)
    assert _rows(org, "org_policies") == before


def test_a_policy_at_the_quota_is_accepted(org):
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
                                                   "Sid": ""}]}
    doc["Statement"][0]["Sid"] = "x" * (MAX_POLICY_CHARS - len(json.dumps(doc)))
    assert len(json.dumps(doc)) == MAX_POLICY_CHARS
    org.create_org_policy(Name="p", Type=SCP, Content=json.dumps(doc))


def test_targets_and_attachments_follow_organizations_rules(org):
    pid = org.create_org_policy(Name="DenyDecrypt", Type=SCP, Content=DENY)["Policy"]["PolicySummary"]["Id"]
    root = org.list_roots()["Roots"][0]["Id"]
    with pytest.raises(errors.TargetNotFoundException, match="ou-none"):
        org.attach_org_policy(PolicyId=pid, TargetId="ou-none")
    with pytest.raises(errors.PolicyNotFoundException):
        org.attach_org_policy(PolicyId="p-12345678", TargetId=root)
    org.attach_org_policy(PolicyId=pid, TargetId=root)
    with pytest.raises(errors.DuplicatePolicyAttachmentException):
        org.attach_org_policy(PolicyId=pid, TargetId=root)
    with pytest.raises(errors.PolicyInUseException):  # "you must first detach the policy from all targets"
        org.delete_org_policy(PolicyId=pid)
    org.detach_org_policy(PolicyId=pid, TargetId=root)
    # "you can't detach the last SCP from a root, OU or account": FullAWSAccess is the only one left
    with pytest.raises(errors.ConstraintViolationException, match="MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"):
        org.detach_org_policy(PolicyId="p-FullAWSAccess", TargetId=root)
    org.delete_org_policy(PolicyId=pid)
    names = [p["Name"] for p in org.list_org_policies(Filter=SCP)["Policies"]]
    assert names == ["FullAWSAccess"]


def test_at_most_five_scps_per_target(org):
    root = org.list_roots()["Roots"][0]["Id"]
    for i in range(4):  # with FullAWSAccess: five
        pid = org.create_org_policy(Name=f"p{i}", Type=SCP, Content=DENY)["Policy"]["PolicySummary"]["Id"]
        org.attach_org_policy(PolicyId=pid, TargetId=root)
    sixth = org.create_org_policy(Name="p5", Type=SCP, Content=DENY)["Policy"]["PolicySummary"]["Id"]
    with pytest.raises(errors.ConstraintViolationException, match="POLICY_NUMBER_LIMIT_EXCEEDED"):
        org.attach_org_policy(PolicyId=sixth, TargetId=root)


def test_without_an_organization_the_calls_say_so(unsealed_hsm):
    with pytest.raises(errors.AWSOrganizationsNotInUseException, match="create-organization"):
        unsealed_hsm.create_org_policy(Name="p", Type=SCP, Content=DENY)
    unsealed_hsm.create_organization()
    with pytest.raises(errors.AlreadyInOrganizationException):
        unsealed_hsm.create_organization()


def test_a_boundary_is_checked_like_a_managed_policy(unsealed_hsm):
    bob = "arn:aws:iam::111122223333:user/bob"
    big = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt",
                                                              "Resource": "*", "Sid": "x" * 6200}]})
    # "Managed policy size cannot exceed 6,144 characters" (IAM and AWS STS quotas): a boundary is a managed policy
    with pytest.raises(errors.LimitExceeded, match="6144"):
        unsealed_hsm.put_permissions_boundary(PrincipalArn=bob, PolicyDocument=big)
    with pytest.raises(errors.MalformedPolicyDocumentException):
        unsealed_hsm.put_permissions_boundary(PrincipalArn=bob, PolicyDocument="{")
    with pytest.raises(errors.ValidationException, match="user or role"):
        unsealed_hsm.put_permissions_boundary(PrincipalArn="arn:aws:iam::111122223333:root", PolicyDocument=DENY)
    assert _rows(unsealed_hsm, "iam_boundaries") == []


@pytest.mark.parametrize("table", ["org_state", "org_policies", "iam_boundaries"])
def test_rows_are_sealed_and_checked_by_hsm_verify(org, run_kmstui, table):
    org.create_org_policy(Name="p", Type=SCP, Content=DENY)
    org.put_permissions_boundary(PrincipalArn="arn:aws:iam::111122223333:user/bob", PolicyDocument=DENY)
    assert run_kmstui("hsm", "verify").code == 0
    conn = sqlite3.connect(str(org.path))
    with conn:  # a forger edits a row's document: its MAC no longer matches
        old, new = ("999999999999", "111122223333") if table == "org_state" else ("Deny", "Allo")
        conn.execute(f"UPDATE {table} SET doc = CAST(REPLACE(CAST(doc AS TEXT), ?, ?) AS BLOB)", (old, new))
    conn.close()
    run = run_kmstui("hsm", "verify")
    assert run.code != 0 and table in run.out + run.err, run


def test_cli_bad_input_is_one_line(run_kmstui, unsealed_hsm, tmp_path):
    unsealed_hsm.create_organization(ManagementAccountId="999999999999")
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [')
    runs = [run_kmstui("org", "create-policy", "--name", "x", "--type", SCP, "--content", f"file://{bad}"),
            run_kmstui("org", "attach-policy", "--policy-id", "p-FullAWSAccess", "--target-id", "ou-nope-12345678"),
            run_kmstui("iam", "put-boundary", "--principal", "arn:aws:iam::111122223333:user/bob",
                       "--file", f"file://{bad}")]
    for run in runs:
        assert run.code != 0 and run.out == "", run
        assert len(run.err.strip().splitlines()) == 1 and "Traceback" not in run.err, run.err
    assert "MalformedPolicyDocumentException" in runs[0].err
    assert "TargetNotFoundException" in runs[1].err


def test_read_only_refuses_every_organization_and_boundary_change(run_kmstui, unsealed_hsm):
    from kmstui.backends.base import MUTATING_OPERATIONS
    from kmstui.backends.local.backend import LocalBackend

    ours = {name for name in dir(LocalBackend) if getattr(getattr(LocalBackend, name), "audit_name", None)
            and not getattr(LocalBackend, name).read_only
            and (getattr(LocalBackend, name).audit_name.endswith("PermissionsBoundary")
                 or name in ("create_organization", "delete_organization", "invite_account", "remove_account",
                             "create_organizational_unit", "delete_organizational_unit", "move_account")
                 or name.endswith("_org_policy"))}
    assert len(ours) == 13 and ours <= MUTATING_OPERATIONS
    for words in (["org", "create-organization"],
                  ["iam", "put-user-permissions-boundary", "--user-name", "bob", "--permissions-boundary", DENY]):
        run = run_kmstui(*words, "--read-only")
        assert run.code == 252 and "read-only" in run.err, run
    assert unsealed_hsm.store.conn.execute("SELECT count(*) FROM org_state").fetchone()[0] == 0
