"""Lint findings and KMS's lockout safety check."""

from kmstui.authz import lint_policy, would_lock_out

from .helpers import ACCT, OTHER, ROLE, ROOT, ROOT_STMT, USER, allow, deny, policy


def codes(findings):
    return {f.code for f in findings}


def test_default_policy_is_clean():
    assert not {f for f in lint_policy(policy(ROOT_STMT)) if f.severity in ("error", "warning")}


def test_public_principal_without_narrowing_condition():
    found = lint_policy(policy(ROOT_STMT, allow("*", "kms:Decrypt")))
    f = next(f for f in found if f.code == "PublicPrincipal")
    assert f.statement == "Statement[1]" and f.fix
    assert "PublicPrincipal" not in codes(lint_policy(policy(ROOT_STMT, allow(
        "*", "kms:Decrypt", {"StringEquals": {"kms:CallerAccount": ACCT, "kms:ViaService": "s3.us-east-1.amazonaws.com"}}))))


def test_kms_star_to_non_admin():
    assert "KmsStarToNonAdmin" in codes(lint_policy(policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:*"))))
    assert "KmsStarToNonAdmin" not in codes(lint_policy(policy(ROOT_STMT, allow({"AWS": f"arn:aws:iam::{ACCT}:role/KeyAdmin"}, "kms:*"))))


def test_no_root_delegation_and_lockout():
    found = lint_policy(policy(allow({"AWS": ROLE}, ["kms:Decrypt", "kms:Encrypt"])), key_account=ACCT)
    assert {"NoRootDelegation", "Lockout"} <= codes(found)
    assert any(f.severity == "error" for f in found if f.code == "Lockout")


def test_via_service_missing():
    found = lint_policy(policy(ROOT_STMT, allow("*", "kms:Decrypt", {"StringEquals": {"kms:CallerAccount": ACCT}})))
    assert "ViaServiceMissing" in codes(found)


def test_unconstrained_cross_account_grant():
    grants = [{"GrantId": "g", "GranteePrincipal": f"arn:aws:iam::{OTHER}:role/R", "Operations": ["Decrypt"]}]
    assert "UnconstrainedCrossAccountGrant" in codes(lint_policy(policy(ROOT_STMT), key_account=ACCT, grants=grants))
    grants[0]["Constraints"] = {"EncryptionContextEquals": {"a": "1"}}
    assert "UnconstrainedCrossAccountGrant" not in codes(lint_policy(policy(ROOT_STMT), key_account=ACCT, grants=grants))


def test_invalid_policy_returns_validation_errors():
    assert codes(lint_policy({"Statement": [{"Effect": "Allow"}]})) >= {"NoPrincipal"}


class TestWouldLockOut:
    def test_root_delegation_never_locks_out_account_principals(self):
        assert not would_lock_out(policy(ROOT_STMT), USER)
        assert not would_lock_out(policy(ROOT_STMT), ROOT)

    def test_no_put_key_policy_for_the_caller(self):
        assert would_lock_out(policy(allow({"AWS": ROLE}, "kms:Decrypt")), ROOT)
        assert not would_lock_out(policy(allow({"AWS": ROLE}, "kms:PutKeyPolicy")), f"arn:aws:sts::{ACCT}:assumed-role/App/x")

    def test_deny_locks_out(self):
        assert would_lock_out(policy(ROOT_STMT, deny({"AWS": USER}, "kms:PutKeyPolicy")), USER)

    def test_with_identity_policies_the_iam_side_must_allow(self):
        assert would_lock_out(policy(ROOT_STMT), USER, iam_policies=[])
        iam = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:PutKeyPolicy", "Resource": "*"}]}
        assert not would_lock_out(policy(ROOT_STMT), USER, iam_policies=[iam])
