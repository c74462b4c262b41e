"""Scenario-style checks of doubtful cases against what the AWS documentation says (review of issue 5).

Each case is a scenario (the `policy test` format) run through scenarios.run, with the AWS source of the
expected answer. Cases marked "regression" were answered wrongly before the review.
"""

import pytest

from kmstui.authz import scenarios
from kmstui.authz.conditions import Condition, parse_date, parse_operator, ConditionError

from .helpers import ACCT, ALLOW_ALL_IAM, KEY, OTHER, ROLE, ROOT, ROOT_STMT, SESSION, USER, allow, deny, policy

XUSER = f"arn:aws:iam::{OTHER}:user/ext"
IAM_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
KMS_GUIDE = "https://docs.aws.amazon.com/kms/latest/developerguide/"


def iam(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def scenario(kp, principal, action="kms:Decrypt", expected="ALLOW", *, key_arn=KEY, iam_policies=(), **request):
    req = {"principal": principal, "action": action, **request}
    if key_arn is not None:
        req["key_arn"] = key_arn
    return {"key_policy": kp, "iam_policies": list(iam_policies), "request": req, "expected": expected}


# The "deny unless from my network or via a service" policy of IAM's example
# "AWS: Denies access to AWS based on the source IP" (reference_policies_examples_aws_deny-ip.html).
DENY_IP = deny("*", "kms:*", {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
                              "Bool": {"aws:ViaAWSService": "false"}})

CASES = {
    # aws:ViaAWSService "is always included in the request context": false on a direct call, true when a
    # service calls with the caller's credentials (IAM global condition keys, aws:ViaAWSService). regression
    "deny-ip example denies a direct call from elsewhere": scenario(
        policy(ROOT_STMT, allow({"AWS": USER}), DENY_IP), USER, expected="DENY",
        context={"aws:SourceIp": "198.51.100.7"}),
    "deny-ip example lets a call through S3 pass": scenario(
        policy(ROOT_STMT, allow({"AWS": USER}), DENY_IP), USER, expected="ALLOW",
        context={"aws:SourceIp": "198.51.100.7", "kms:ViaService": "s3.us-east-1.amazonaws.com"}),
    "deny-ip example lets a direct call from the network pass": scenario(
        policy(ROOT_STMT, allow({"AWS": USER}), DENY_IP), USER, expected="ALLOW",
        context={"aws:SourceIp": "192.0.2.10"}),
    "aws:ViaAWSService given explicitly wins": scenario(
        policy(ROOT_STMT, allow({"AWS": USER}), DENY_IP), USER, expected="ALLOW",
        context={"aws:SourceIp": "198.51.100.7", "aws:ViaAWSService": "true"}),
    # A key operation always involves the key, so the key policy decides even when the request names no key
    # ARN; IAM alone decides only key-less operations (kms-authz.md §3; KMS "Key policies"). regression
    "Decrypt without key_arn: IAM alone does not allow": scenario(
        policy(allow({"AWS": ROLE})), USER, expected="DENY", key_arn=None, iam_policies=[ALLOW_ALL_IAM]),
    "Decrypt without key_arn: root not named is denied": scenario(
        policy(allow({"AWS": ROLE})), ROOT, expected="DENY", key_arn=None),
    "Decrypt without key_arn: the key policy still allows": scenario(
        policy(allow({"AWS": ROLE}, "kms:Decrypt")), SESSION, expected="ALLOW", key_arn=None),
    "CreateKey is decided by IAM alone": scenario(
        None, USER, "kms:CreateKey", "ALLOW", key_arn=None, iam_policies=[ALLOW_ALL_IAM]),
    # ${*} ${?} ${$} are the literal characters, also in Resource and ARN conditions (IAM "Policy variables",
    # special characters). regression
    "${*} in an IAM Resource is a literal asterisk": scenario(
        policy(ROOT_STMT), USER, expected="DENY",
        iam_policies=[iam({"Effect": "Allow", "Action": "kms:Decrypt",
                           "Resource": f"arn:aws:kms:us-east-1:{ACCT}:key/${{*}}"})]),
    "${*} in ArnLike is a literal asterisk": scenario(
        policy(allow("*", "kms:Decrypt", {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/${{*}}"}})),
        USER, expected="DENY"),
    "a variable in an IAM Resource still substitutes": scenario(
        policy(ROOT_STMT), USER, expected="ALLOW",
        iam_policies=[iam({"Effect": "Allow", "Action": "kms:Decrypt",
                           "Resource": "arn:aws:kms:us-east-1:${aws:PrincipalAccount}:key/*"})]),
    "a variable in ArnLike still substitutes": scenario(
        policy(allow("*", "kms:Decrypt", {"ArnLike": {"aws:PrincipalArn":
                                                      "arn:aws:iam::${aws:PrincipalAccount}:user/*"}})),
        USER, expected="ALLOW"),
    # ${aws:username} is absent for role sessions and root: "no equal or like value" (IAM "Policy variables
    # with no value").
    "${aws:username} for a role session never equals": scenario(
        policy(allow("*", "kms:Decrypt", {"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}})),
        SESSION, expected="DENY", encryption_context={"owner": ""}),
    "${aws:username} for a user substitutes": scenario(
        policy(allow("*", "kms:Decrypt", {"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}})),
        USER, expected="ALLOW", encryption_context={"owner": "bob"}),
    # Principal "*" and {"AWS": "*"} are the same; cross-account callers still need their own IAM allow
    # (KMS "Allowing users in other accounts to use a KMS key").
    'Principal "*" cross-account without IAM': scenario(policy(allow("*", "kms:Decrypt")), XUSER, expected="DENY"),
    'Principal {"AWS":"*"} cross-account with IAM': scenario(
        policy(allow({"AWS": "*"}, "kms:Decrypt")), XUSER, expected="ALLOW", iam_policies=[ALLOW_ALL_IAM]),
    # A bare 12-digit id means the account (KMS "Elements in a key policy"): delegation, not a direct grant.
    "account id principal needs IAM for a user": scenario(
        policy(allow({"AWS": ACCT}, "kms:Decrypt")), USER, expected="DENY"),
    # ListKeyRotations: "Cross-account use: No" (KMS API Reference).
    "ListKeyRotations cannot be used cross-account": scenario(
        policy(allow({"AWS": f"arn:aws:iam::{OTHER}:root"})), XUSER, "kms:ListKeyRotations", "DENY",
        iam_policies=[ALLOW_ALL_IAM]),
    "GetKeyRotationStatus can be used cross-account": scenario(
        policy(allow({"AWS": f"arn:aws:iam::{OTHER}:root"})), XUSER, "kms:GetKeyRotationStatus", "ALLOW",
        iam_policies=[ALLOW_ALL_IAM]),
    # NotPrincipal with Deny: listing the user but not its account does not exempt it (IAM "NotPrincipal").
    "NotPrincipal Deny listing only the user still denies it": scenario(
        policy(allow({"AWS": USER}), {"Effect": "Deny", "NotPrincipal": {"AWS": USER}, "Action": "kms:*",
                                      "Resource": "*"}), USER, expected="DENY"),
    # Multivalued keys: an empty set makes ForAnyValue false and ForAllValues true (IAM "Creating a condition
    # that tests multiple key values": "for example, an empty string"). regression
    "ForAnyValue on an empty-string value is false": scenario(
        policy(allow("*", "kms:Decrypt", {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "*"}})),
        USER, expected="DENY", context={"kms:EncryptionContextKeys": ""}),
    "ForAllValues on an empty-string value is true": scenario(
        policy(allow("*", "kms:Decrypt", {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "x"}})),
        USER, expected="ALLOW", context={"kms:EncryptionContextKeys": ""}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_decision_matches_aws(name):
    sc = scenarios.from_dict({**CASES[name], "name": name})
    d = scenarios.run(sc)
    assert d.decision == sc.expected, d.trace


def test_missing_key_arn_is_said_in_the_trace():
    d = scenarios.run(CASES["Decrypt without key_arn: the key policy still allows"])
    assert any("no key ARN" in n for n in d.trace["notes"])


@pytest.mark.parametrize("value", ["99999999999999999", 10**17, "1e400"])
def test_dates_out_of_range_are_rejected_not_a_crash(value):
    assert parse_date(value) is None
    with pytest.raises(ConditionError):
        Condition(parse_operator("DateLessThan"), "aws:CurrentTime", value, True)


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity"])
def test_numeric_values_must_be_finite(value):
    with pytest.raises(ConditionError):
        Condition(parse_operator("NumericLessThan"), "aws:MultiFactorAuthAge", value, True)


@pytest.mark.parametrize("field, value", [("key_arn", 7), ("caller_account", 111122223333),
                                          ("target_grant_id", ["g"]), ("grant_tokens", "t")])
def test_request_fields_of_the_wrong_type_are_named(field, value):
    bad = scenario(policy(ROOT_STMT), USER)
    bad["request"][field] = value
    with pytest.raises(scenarios.ScenarioError, match=field):
        scenarios.from_dict(bad)
