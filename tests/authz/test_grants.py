"""Grant semantics: grantees, operations, constraints, CreateGrant through a grant, RetireGrant, RevokeGrant."""

import pytest

from kmstui.authz import (GRANT_OPERATIONS, GrantSet, can_retire_grant, can_revoke_grant, check_create_grant,
                          constraints_hold, validate_grant_request)

from .helpers import ACCT, ALLOW_ALL_IAM, KEY, OTHER, ROLE, ROOT, ROOT_STMT, SESSION, USER, allow, decide, deny, policy

NO_ACCESS = policy(allow({"AWS": f"arn:aws:iam::{ACCT}:role/Nobody"}, "kms:Decrypt"))


def grant(**kw):
    g = {"GrantId": "g1", "KeyId": KEY, "GranteePrincipal": ROLE, "Operations": ["Decrypt"],
         "IssuingAccount": ROOT}
    g.update(kw)
    return g


class TestUse:
    def test_grant_to_role_is_usable_by_its_sessions(self):
        d = decide(NO_ACCESS, SESSION, grants=[grant()])
        assert d.allowed and d.decided_by == "grant"

    def test_grant_to_user_exact(self):
        assert decide(NO_ACCESS, USER, grants=[grant(GranteePrincipal=USER)]).allowed
        assert not decide(NO_ACCESS, f"arn:aws:iam::{ACCT}:user/alice", grants=[grant(GranteePrincipal=USER)]).allowed

    def test_only_listed_operations(self):
        assert not decide(NO_ACCESS, SESSION, "kms:Encrypt", grants=[grant()]).allowed

    def test_grant_for_another_key_is_ignored(self):
        assert not decide(NO_ACCESS, SESSION, grants=[grant(KeyId="other-key-id")]).allowed

    def test_request_naming_no_key_is_not_allowed_by_any_grant(self):
        """A grant is on one key: a request without a key ARN must not match it (it used to match any key)."""
        d = decide(NO_ACCESS, SESSION, grants=[grant()], key=None)
        assert not d.allowed
        assert "names no key" in d.trace["grants"][0]["why"]
        assert decide(NO_ACCESS, SESSION, grants=[grant()]).allowed  # the same grant on its own key

    def test_grant_without_key_id_is_taken_as_on_the_requests_key(self):
        assert decide(NO_ACCESS, SESSION, grants=[grant(KeyId=None)]).allowed
        assert not decide(NO_ACCESS, SESSION, grants=[grant(KeyId=None)], key=None).allowed

    def test_operations_grants_cannot_carry_are_ignored_and_flagged(self):
        g = grant(Operations=["Decrypt", "PutKeyPolicy"])
        d = decide(NO_ACCESS, SESSION, "kms:PutKeyPolicy", grants=[g])
        assert not d.allowed
        d2 = decide(NO_ACCESS, SESSION, "kms:Decrypt", grants=[g])
        assert d2.trace["grants"][0]["invalid_operations"] == ["PutKeyPolicy"]

    def test_deny_beats_grant(self):
        kp = policy(ROOT_STMT, deny({"AWS": ROLE}, "kms:Decrypt"))
        assert not decide(kp, SESSION, grants=[grant()]).allowed

    def test_cross_account_grantee_without_iam_is_allowed_with_a_note(self):
        caller = f"arn:aws:sts::{OTHER}:assumed-role/R/s"
        d = decide(NO_ACCESS, caller, grants=[grant(GranteePrincipal=f"arn:aws:iam::{OTHER}:role/R")])
        assert d.allowed
        assert any("medium confidence" in n for n in d.trace["notes"])

    def test_service_grantee(self):
        g = grant(GranteePrincipal=None, GranteeServicePrincipal="ec2.amazonaws.com")
        assert decide(NO_ACCESS, "ec2.amazonaws.com", grants=[g]).allowed

    def test_grant_set_indexes_ten_thousand_grants(self):
        gs = GrantSet([grant(GrantId=f"g{i}", GranteePrincipal=f"arn:aws:iam::{ACCT}:user/u{i}") for i in range(10_000)])
        assert decide(NO_ACCESS, f"arn:aws:iam::{ACCT}:user/u9999", grants=gs).allowed
        assert not decide(NO_ACCESS, f"arn:aws:iam::{ACCT}:user/u10000", grants=gs).allowed


class TestConstraints:
    def test_equals_needs_exactly_the_pairs(self):
        c = {"EncryptionContextEquals": {"a": "1", "b": "2"}}
        assert constraints_hold(c, {"b": "2", "a": "1"})[0]
        assert not constraints_hold(c, {"a": "1"})[0]
        assert not constraints_hold(c, {"a": "1", "b": "2", "c": "3"})[0]

    def test_subset_needs_at_least_the_pairs(self):
        c = {"EncryptionContextSubset": {"a": "1"}}
        assert constraints_hold(c, {"a": "1", "z": "9"})[0]
        assert not constraints_hold(c, {"z": "9"})[0]

    def test_keys_are_case_insensitive_and_values_case_sensitive(self):
        """GrantConstraints (KMS API reference): "in a grant constraint, the key in each key-value pair is
        not case sensitive, but the value is case sensitive"."""
        c = {"EncryptionContextSubset": {"a": "x"}}
        assert constraints_hold(c, {"A": "x"})[0]
        assert not constraints_hold(c, {"a": "X"})[0]
        e = {"EncryptionContextEquals": {"App": "web"}}
        assert constraints_hold(e, {"app": "web"})[0]
        assert not constraints_hold(e, {"app": "Web"})[0]
        assert not constraints_hold(e, {"app": "web", "APP": "web"})[0]

    def test_constraints_bind_only_operations_with_a_context(self):
        g = grant(Operations=["Decrypt", "DescribeKey"], Constraints={"EncryptionContextEquals": {"a": "1"}})
        assert decide(NO_ACCESS, SESSION, "kms:DescribeKey", grants=[g]).allowed
        assert not decide(NO_ACCESS, SESSION, "kms:Decrypt", grants=[g]).allowed
        assert decide(NO_ACCESS, SESSION, "kms:Decrypt", grants=[g], encryption_context={"a": "1"}).allowed


class TestCreateGrant:
    parent = {"Operations": ["Decrypt", "Encrypt", "CreateGrant"],
              "Constraints": {"EncryptionContextSubset": {"t": "1"}}}

    @pytest.mark.parametrize("child,ok", [
        ({"EncryptionContextSubset": {"t": "1"}}, True),
        ({"EncryptionContextSubset": {"t": "1", "u": "2"}}, True),
        ({"EncryptionContextEquals": {"t": "1", "u": "2"}}, True),
        ({"EncryptionContextEquals": {"u": "2"}}, False),
        ({"EncryptionContextSubset": {"u": "2"}}, False),
        (None, False),
    ])
    def test_constraints_at_least_as_strict(self, child, ok):
        body = {"GranteePrincipal": USER, "Operations": ["Decrypt"]}
        if child:
            body["Constraints"] = child
        assert check_create_grant(body, self.parent)[0] is ok

    def test_equals_parent_only_accepts_the_same_equals(self):
        parent = {"Operations": ["Decrypt", "CreateGrant"], "Constraints": {"EncryptionContextEquals": {"t": "1"}}}
        body = {"GranteePrincipal": USER, "Operations": ["Decrypt"]}
        assert check_create_grant({**body, "Constraints": {"EncryptionContextEquals": {"t": "1"}}}, parent)[0]
        assert not check_create_grant({**body, "Constraints": {"EncryptionContextSubset": {"t": "1"}}}, parent)[0]
        assert not check_create_grant({**body, "Constraints": {"EncryptionContextEquals": {"t": "1", "x": "2"}}}, parent)[0]

    def test_operations_subset(self):
        body = {"GranteePrincipal": USER, "Operations": ["Decrypt", "GenerateDataKey"],
                "Constraints": {"EncryptionContextSubset": {"t": "1"}}}
        ok, why = check_create_grant(body, self.parent)
        assert not ok and "GenerateDataKey" in why

    def test_parent_without_create_grant(self):
        assert not check_create_grant({"GranteePrincipal": USER, "Operations": ["Decrypt"]}, {"Operations": ["Decrypt"]})[0]

    def test_validation(self):
        assert validate_grant_request({"GranteePrincipal": USER, "Operations": ["Decrypt"]}) == []
        assert validate_grant_request({"GranteePrincipal": USER, "Operations": ["RevokeGrant"]})
        assert validate_grant_request({"Operations": ["Decrypt"]})
        assert "RevokeGrant" not in GRANT_OPERATIONS and "RetireGrant" in GRANT_OPERATIONS

    def test_policy_create_grant_conditions_on_grant_operations(self):
        kp = policy(allow({"AWS": USER}, "kms:CreateGrant",
                          {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]},
                           "StringEquals": {"kms:GranteePrincipal": ROLE}}))
        ok = {"GranteePrincipal": ROLE, "Operations": ["Decrypt"]}
        assert decide(kp, USER, "kms:CreateGrant", grant_request=ok).allowed
        assert not decide(kp, USER, "kms:CreateGrant", grant_request={**ok, "Operations": ["Decrypt", "Sign"]}).allowed
        assert not decide(kp, USER, "kms:CreateGrant", grant_request={**ok, "GranteePrincipal": USER}).allowed

    def test_grant_constraint_type_condition(self):
        kp = policy(allow({"AWS": USER}, "kms:CreateGrant",
                          {"StringEquals": {"kms:GrantConstraintType": "EncryptionContextEquals"}}))
        body = {"GranteePrincipal": ROLE, "Operations": ["Decrypt"]}
        assert not decide(kp, USER, "kms:CreateGrant", grant_request=body).allowed
        body["Constraints"] = {"EncryptionContextEquals": {"a": "1"}}
        assert decide(kp, USER, "kms:CreateGrant", grant_request=body).allowed


class TestRetireRevoke:
    def test_retiring_principal(self):
        g = grant(RetiringPrincipal=USER)
        assert can_retire_grant(g, USER)[0]
        d = decide(NO_ACCESS, USER, "kms:RetireGrant", grants=[g], target_grant_id="g1")
        assert d.allowed and d.decided_by == "retire_grant"

    def test_grantee_needs_retire_grant_operation(self):
        assert not can_retire_grant(grant(), SESSION)[0]
        assert can_retire_grant(grant(Operations=["Decrypt", "RetireGrant"]), SESSION)[0]

    def test_issuing_account_root(self):
        assert can_retire_grant(grant(), ROOT)[0]
        assert not can_retire_grant(grant(), f"arn:aws:iam::{OTHER}:root")[0]

    def test_key_policy_retire_grant_has_no_effect(self):
        kp = policy(allow({"AWS": USER}, "kms:RetireGrant"))
        assert not decide(kp, USER, "kms:RetireGrant", grants=[grant()], target_grant_id="g1").allowed

    def test_explicit_deny_blocks_retiring(self):
        kp = policy(ROOT_STMT, deny({"AWS": USER}, "kms:RetireGrant"))
        d = decide(kp, USER, "kms:RetireGrant", grants=[grant(RetiringPrincipal=USER)], target_grant_id="g1")
        assert d.decided_by == "explicit_deny"

    def test_unknown_target(self):
        assert not decide(NO_ACCESS, USER, "kms:RetireGrant", grants=[grant(RetiringPrincipal=USER)],
                          target_grant_id="nope").allowed

    def test_revoke_is_a_policy_permission_only(self):
        g = grant(Operations=["RevokeGrant"], GranteePrincipal=USER)
        assert not decide(NO_ACCESS, USER, "kms:RevokeGrant", grants=[g], target_grant_id="g1").allowed
        assert can_revoke_grant(policy(ROOT_STMT), [ALLOW_ALL_IAM], USER, KEY).allowed
        assert not can_revoke_grant(policy(ROOT_STMT), [], USER, KEY).allowed


class TestCreateGrantValidation:
    """validate_grant_request: what CreateGrant rejects with ValidationException (shared by the local
    backend and whatif)."""

    def body(self, ops, **kw):
        return {"GranteePrincipal": ROLE, "Operations": ops, **kw}

    @pytest.mark.parametrize("ops, spec, usage", [
        (["Sign"], "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        (["GetPublicKey"], "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        (["GenerateMac"], "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        (["Encrypt"], "ECC_NIST_P256", "SIGN_VERIFY"),
        (["Decrypt", "Sign"], "ECC_NIST_P256", "SIGN_VERIFY"),
        (["Sign"], "HMAC_256", "GENERATE_VERIFY_MAC"),
        (["Decrypt"], "HMAC_256", None),
        (["GenerateDataKey"], "RSA_2048", "ENCRYPT_DECRYPT"),
        (["Sign"], "RSA_2048", "ENCRYPT_DECRYPT"),
        (["Encrypt"], "RSA_2048", "SIGN_VERIFY"),
        (["Sign"], "ECC_NIST_P256", "KEY_AGREEMENT"),
    ])
    def test_operations_the_key_type_does_not_support_are_rejected(self, ops, spec, usage):
        problems = validate_grant_request(self.body(ops), spec, usage)
        assert len(problems) == 1 and "not supported by this key" in problems[0] and spec in problems[0]
        assert validate_grant_request(self.body(ops)) == []  # without the key, the key-type rule cannot run

    @pytest.mark.parametrize("ops, spec, usage", [
        (["Decrypt", "Encrypt", "GenerateDataKey", "ReEncryptFrom", "CreateGrant", "DescribeKey", "RetireGrant"],
         "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        (["Sign", "Verify", "GetPublicKey", "DescribeKey"], "ECC_NIST_P256", "SIGN_VERIFY"),
        (["Encrypt", "Decrypt", "GetPublicKey"], "RSA_3072", "ENCRYPT_DECRYPT"),
        (["GenerateMac", "VerifyMac", "RetireGrant"], "HMAC_384", "GENERATE_VERIFY_MAC"),
        (["DeriveSharedSecret", "GetPublicKey"], "ECC_NIST_P384", "KEY_AGREEMENT"),
    ])
    def test_operations_the_key_type_supports_are_accepted(self, ops, spec, usage):
        assert validate_grant_request(self.body(ops), spec, usage) == []

    def test_constraints_only_on_symmetric_encryption_keys(self):
        cons = {"EncryptionContextEquals": {"app": "web"}}
        assert validate_grant_request(self.body(["Decrypt"], Constraints=cons), "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT") == []
        for spec, usage, ops in (("RSA_2048", "ENCRYPT_DECRYPT", ["Decrypt"]), ("HMAC_256", "GENERATE_VERIFY_MAC",
                                 ["GenerateMac"]), ("ECC_NIST_P256", "SIGN_VERIFY", ["DescribeKey"])):
            problems = validate_grant_request(self.body(ops, Constraints=cons), spec, usage)
            assert problems and "only for symmetric encryption keys" in problems[0], spec

    def test_name_pairs_and_principals(self):
        assert validate_grant_request(self.body(["Decrypt"], Name="app:web/prod_1-a")) == []
        for name in ("", "has space", "x" * 257, "é"):
            assert any("Name" in p for p in validate_grant_request(self.body(["Decrypt"], Name=name))), name
        eight = {f"k{i}": "v" for i in range(8)}
        assert validate_grant_request(self.body(["Decrypt"], Constraints={"EncryptionContextSubset": eight})) == []
        nine = {**eight, "k8": "v"}
        assert any("at most 8" in p for p in validate_grant_request(
            self.body(["Decrypt"], Constraints={"EncryptionContextEquals": nine})))
        assert any("384" in p for p in validate_grant_request(
            self.body(["Decrypt"], Constraints={"EncryptionContextEquals": {"k": "v" * 400}})))
        for good in (ROOT, USER, ROLE, SESSION, f"arn:aws:iam::{ACCT}:role/path/to/R",
                     f"arn:aws:sts::{ACCT}:federated-user/fred"):
            assert validate_grant_request({"GranteePrincipal": good, "RetiringPrincipal": good,
                                           "Operations": ["Decrypt"]}) == [], good
        for bad in ("bob", ACCT, "*", f"arn:aws:iam::{ACCT}:group/admins", f"arn:aws:sts::{ACCT}:assumed-role/R",
                    f"arn:aws:iam::{ACCT}:user/", "logs.amazonaws.com", f"arn:aws:s3:::{ACCT}"):
            problems = validate_grant_request({"GranteePrincipal": bad, "Operations": ["Decrypt"]})
            assert any("GranteePrincipal" in p for p in problems), bad
            problems = validate_grant_request({"GranteePrincipal": ROLE, "RetiringPrincipal": bad, "Operations": ["Decrypt"]})
            assert any("RetiringPrincipal" in p for p in problems), bad
        assert validate_grant_request({"GranteeServicePrincipal": "logs.amazonaws.com", "Operations": ["Decrypt"]}) == []
        assert validate_grant_request({"GranteeServicePrincipal": ROLE, "Operations": ["Decrypt"]})

    def test_check_create_grant_applies_the_key_type_rule_too(self):
        ok, why = check_create_grant(self.body(["Sign"]), key_spec="SYMMETRIC_DEFAULT", key_usage="ENCRYPT_DECRYPT")
        assert not ok and "not supported by this key" in why


class TestDenialMessage:
    def test_reason_names_the_grant_whose_constraint_failed(self):
        g = grant(GrantId="1a2b3c4d5e6f" * 4, Constraints={"EncryptionContextEquals": {"job": "42"}})
        d = decide(NO_ACCESS, SESSION, grants=[g], encryption_context={"job": "43"})
        assert not d.allowed
        assert "; grant 1a2b3c4d… does not apply: EncryptionContextEquals" in d.reason
        assert "'job': '42'" in d.reason and d.reason.count("\n") == 0
        assert d.trace["reason"] == d.reason  # the traced and the fast path agree

    def test_reason_says_when_no_grant_lists_the_operation(self):
        d = decide(NO_ACCESS, SESSION, "kms:Encrypt", grants=[grant()])
        assert "1 grant(s) name the caller but none lists Encrypt" in d.reason

    def test_no_grant_note_without_grants_for_the_caller(self):
        reason = decide(NO_ACCESS, SESSION, grants=[grant(GranteePrincipal=USER)]).reason
        assert reason == "no key-policy statement, IAM policy or grant allows kms:Decrypt (implicit deny)"
