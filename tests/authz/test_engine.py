"""The decision procedure: deny first, key policy is king, delegation, cross-account handshake, principals."""

import pytest

from kmstui.authz import Request, compile_policy, evaluate

from .helpers import (ACCT, ALLOW_ALL_IAM, KEY, OTHER, ROLE, ROOT, ROOT_STMT, SESSION, USER, allow, decide, deny,
                      policy)

OTHER_KEY = f"arn:aws:kms:us-east-1:{OTHER}:key/abcd"


class TestKeyPolicyIsKing:
    def test_nothing_allows_means_implicit_deny_even_for_root(self):
        d = decide(policy(allow({"AWS": ROLE}, "kms:Decrypt")), ROOT, "kms:PutKeyPolicy")
        assert (d.decision, d.trace["decided_by"]) == ("DENY", "implicit_deny")

    def test_iam_allow_without_root_delegation_has_no_effect(self):
        d = decide(policy(allow({"AWS": ROLE}, "kms:Decrypt")), USER, iam=[ALLOW_ALL_IAM])
        assert not d.allowed and "does not allow it for the caller or delegate" in d.reason

    def test_root_delegation_plus_iam_allows(self):
        d = decide(policy(ROOT_STMT), USER, iam=[ALLOW_ALL_IAM])
        assert d.allowed and d.decided_by == "key_policy_and_iam"

    def test_bare_account_id_means_the_same_as_root_arn(self):
        assert decide(policy(allow({"AWS": ACCT})), USER, iam=[ALLOW_ALL_IAM]).allowed
        assert not decide(policy(allow({"AWS": ACCT})), USER).allowed
        assert decide(policy(allow({"AWS": ACCT})), ROOT).allowed

    def test_delegation_is_capped_by_the_key_policy_statement(self):
        kp = policy(allow({"AWS": ROOT}, ["kms:Describe*", "kms:Get*"]))
        assert decide(kp, USER, "kms:DescribeKey", iam=[ALLOW_ALL_IAM]).allowed
        assert not decide(kp, USER, "kms:Decrypt", iam=[ALLOW_ALL_IAM]).allowed

    def test_delegating_statement_conditions_also_apply(self):
        kp = policy(allow({"AWS": ROOT}, "kms:*", {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}))
        assert not decide(kp, USER, iam=[ALLOW_ALL_IAM]).allowed
        assert decide(kp, USER, iam=[ALLOW_ALL_IAM], context={"kms:ViaService": "s3.us-east-1.amazonaws.com"}).allowed

    def test_same_account_direct_principal_needs_no_iam(self):
        assert decide(policy(allow({"AWS": USER}, "kms:Decrypt")), USER).allowed

    def test_iam_resource_must_match_the_key(self):
        iam = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt",
                                                       "Resource": f"arn:aws:kms:us-east-1:{ACCT}:alias/app"}]}
        assert not decide(policy(ROOT_STMT), USER, iam=[iam]).allowed

    def test_iam_not_resource(self):
        iam = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt",
                                                       "NotResource": f"arn:aws:kms:*:{ACCT}:key/other"}]}
        assert decide(policy(ROOT_STMT), USER, iam=[iam]).allowed
        iam["Statement"][0]["NotResource"] = [f"arn:aws:kms:*:{ACCT}:key/other", KEY]  # mutated: recompiled
        assert not decide(policy(ROOT_STMT), USER, iam=[iam]).allowed

    def test_statement_without_resource_has_no_effect(self):
        st = {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "kms:Decrypt"}
        assert not decide(policy(st), USER).allowed


class TestExplicitDeny:
    def test_key_policy_deny_beats_allow(self):
        d = decide(policy(allow({"AWS": USER}), deny({"AWS": USER}, "kms:Decrypt")), USER)
        assert d.decided_by == "explicit_deny" and not d.allowed

    def test_iam_deny_works_without_delegation(self):
        iam = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
        assert not decide(policy(allow({"AWS": USER})), USER, iam=[iam]).allowed

    def test_deny_naming_the_account_hits_every_identity_in_it(self):
        d = decide(policy(allow({"AWS": USER}), deny({"AWS": ROOT}, "kms:Decrypt")), USER)
        assert d.decided_by == "explicit_deny"

    def test_deny_with_not_action_denies_everything_else(self):
        kp = policy(allow({"AWS": USER}), deny({"AWS": USER}, None, NotAction=["kms:Decrypt"]))
        del kp["Statement"][1]["Action"]
        assert decide(kp, USER, "kms:Decrypt").allowed
        assert not decide(kp, USER, "kms:Encrypt").allowed


class TestPrincipals:
    def test_role_arn_matches_every_session_of_that_role(self):
        kp = policy(allow({"AWS": f"arn:aws:iam::{ACCT}:role/service-role/App"}, "kms:Decrypt"))
        assert decide(kp, SESSION).allowed
        assert not decide(kp, f"arn:aws:sts::{ACCT}:assumed-role/Other/s1").allowed

    def test_session_arn_matches_only_that_session(self):
        kp = policy(allow({"AWS": SESSION}, "kms:Decrypt"))
        assert decide(kp, SESSION).allowed
        assert not decide(kp, f"arn:aws:sts::{ACCT}:assumed-role/App/s2").allowed

    def test_user_name_is_case_sensitive(self):
        assert not decide(policy(allow({"AWS": f"arn:aws:iam::{ACCT}:user/Bob"})), USER).allowed

    @pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
    def test_wildcard_principal_same_account_needs_no_iam(self, principal):
        assert decide(policy(allow(principal, "kms:Decrypt")), USER).allowed

    def test_wildcard_principal_other_account_still_needs_iam(self):
        kp = policy(allow("*", "kms:Decrypt"))
        caller = f"arn:aws:iam::{OTHER}:user/eve"
        assert not decide(kp, caller).allowed
        assert decide(kp, caller, iam=[ALLOW_ALL_IAM]).allowed

    def test_service_principal(self):
        kp = policy(allow({"Service": "cloudtrail.amazonaws.com"}, "kms:GenerateDataKey*"))
        d = decide(kp, "cloudtrail.amazonaws.com", "kms:GenerateDataKey")
        assert d.allowed and d.trace["request"]["principal_kind"] == "service"
        assert not decide(kp, "config.amazonaws.com", "kms:GenerateDataKey").allowed

    def test_not_principal_deny_exempts_only_when_every_form_is_listed(self):
        kp = policy(allow("*", "kms:Decrypt"),
                    {"Effect": "Deny", "NotPrincipal": {"AWS": [ROOT, ROLE, SESSION]}, "Action": "kms:*", "Resource": "*"})
        assert decide(kp, SESSION).allowed
        assert not decide(kp, f"arn:aws:sts::{ACCT}:assumed-role/App/s2").allowed  # session not listed
        kp2 = policy(allow("*", "kms:Decrypt"),
                     {"Effect": "Deny", "NotPrincipal": {"AWS": [ROOT]}, "Action": "kms:*", "Resource": "*"})
        assert not decide(kp2, USER).allowed  # the account ARN does not exempt the account's users
        assert decide(kp2, ROOT).allowed
        assert "NotPrincipal" in " ".join(decide(kp2, USER).trace["notes"])

    def test_not_principal_allow(self):
        kp = policy({"Effect": "Allow", "NotPrincipal": {"AWS": USER}, "Action": "kms:Decrypt", "Resource": "*"})
        assert not decide(kp, USER).allowed
        assert decide(kp, f"arn:aws:iam::{ACCT}:user/alice").allowed


class TestCrossAccount:
    def test_two_sided_handshake(self):
        kp = policy(ROOT_STMT, allow({"AWS": f"arn:aws:iam::{OTHER}:root"}, ["kms:Decrypt"]))
        caller = f"arn:aws:sts::{OTHER}:assumed-role/R/s"
        assert not decide(kp, caller).allowed
        d = decide(kp, caller, iam=[ALLOW_ALL_IAM])
        assert d.allowed and d.trace["request"]["cross_account"] is True

    def test_caller_iam_alone_is_not_enough(self):
        assert not decide(policy(ROOT_STMT), f"arn:aws:iam::{OTHER}:user/eve", iam=[ALLOW_ALL_IAM]).allowed

    @pytest.mark.parametrize("action", ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource",
                                        "kms:EnableKey", "kms:GetKeyPolicy", "kms:CreateAlias"])
    def test_operations_that_never_work_cross_account(self, action):
        kp = policy(allow("*", "kms:*"))
        d = decide(kp, f"arn:aws:iam::{OTHER}:root", action, iam=[ALLOW_ALL_IAM])
        assert d.decided_by == "cross_account_filter"

    @pytest.mark.parametrize("action", ["kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey", "kms:GetPublicKey",
                                        "kms:ListGrants", "kms:RevokeGrant", "kms:GetKeyRotationStatus", "kms:Sign"])
    def test_operations_that_work_cross_account(self, action):
        kp = policy(allow("*", "kms:*"))
        assert decide(kp, f"arn:aws:iam::{OTHER}:user/x", action, iam=[ALLOW_ALL_IAM]).allowed

    def test_key_in_another_account_naming_the_callers_account_works_for_its_root(self):
        d = evaluate(policy(ROOT_STMT), [], [], Request(ROOT, "kms:Decrypt", OTHER_KEY))
        assert d.allowed and d.trace["request"]["cross_account"]
        assert not evaluate(policy(ROOT_STMT), [], [], Request(USER, "kms:Decrypt", OTHER_KEY)).allowed


class TestKeylessAndMisc:
    def test_keyless_operation_by_iam_alone(self):
        iam = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"}]}
        assert evaluate(None, [iam], [], Request(USER, "kms:CreateKey")).allowed
        assert not evaluate(None, [], [], Request(USER, "kms:CreateKey")).allowed

    def test_bare_operation_name_and_any_case(self):
        kp = policy(allow({"AWS": USER}, "kms:Decrypt"))
        assert decide(kp, USER, "Decrypt").allowed
        assert decide(kp, USER, "KMS:DECRYPT").allowed

    def test_wildcard_action_patterns(self):
        kp = policy(allow({"AWS": USER}, "kms:Re*"))
        for a in ("kms:RevokeGrant", "kms:ReEncryptFrom", "kms:ReplicateKey"):
            assert decide(kp, USER, a).allowed
        assert not decide(kp, USER, "kms:Decrypt").allowed

    def test_not_action_allow(self):
        kp = policy({"Effect": "Allow", "Principal": {"AWS": USER}, "NotAction": "kms:Decrypt", "Resource": "*"})
        assert decide(kp, USER, "kms:Encrypt").allowed
        assert not decide(kp, USER, "kms:Decrypt").allowed

    def test_compiled_policy_and_raw_dict_agree(self):
        kp = policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:Decrypt", {"StringEquals": {"kms:EncryptionContext:a": "1"}}))
        compiled = compile_policy(kp)
        for ec in ({}, {"a": "1"}, {"A": "1"}, {"a": "2"}):
            assert decide(kp, SESSION, encryption_context=ec).allowed == decide(compiled, SESSION, encryption_context=ec).allowed

    def test_identity_policy_entries_in_iam_shape(self):
        entry = {"PolicyName": "kms-use", "PolicyDocument": ALLOW_ALL_IAM}
        d = decide(policy(ROOT_STMT), USER, iam=[entry])
        assert d.allowed and "kms-use" in d.reason
