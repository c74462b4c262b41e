"""Property tests: random and mutated policies and requests never crash the parser or the evaluator, and
compiled and uncompiled evaluation agree."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmstui.authz import PolicyError, Request, compile_policy, evaluate, lint_policy, validate_policy
from kmstui.authz.actions import ALL_ACTIONS

from .helpers import ACCT, KEY, OTHER

ARNS = [f"arn:aws:iam::{ACCT}:root", f"arn:aws:iam::{ACCT}:user/bob", f"arn:aws:iam::{ACCT}:role/App",
        f"arn:aws:sts::{ACCT}:assumed-role/App/s1", f"arn:aws:iam::{OTHER}:root", f"arn:aws:iam::{OTHER}:user/x",
        ACCT, "*", "ec2.amazonaws.com", "arn:aws:iam::*:root", "garbage", ""]
OPS = ["StringEquals", "StringNotEquals", "StringLike", "StringNotLikeIfExists", "ForAnyValue:StringEquals",
       "ForAllValues:StringLike", "NumericLessThan", "DateGreaterThan", "Bool", "IpAddress", "NotIpAddress",
       "ArnLike", "ArnNotEquals", "Null", "BinaryEquals", "StringEqualsIgnoreCase", "Bogus", "NullIfExists"]
KEYS = ["kms:CallerAccount", "kms:ViaService", "kms:EncryptionContext:app", "kms:EncryptionContextKeys",
        "aws:SourceIp", "aws:PrincipalArn", "aws:CurrentTime", "kms:GrantOperations", "aws:username", "x"]
scalars = st.one_of(st.text(max_size=12), st.integers(-5, 10**10), st.booleans(), st.sampled_from(
    ["10.0.0.0/8", "2020-01-01T00:00:00Z", "${aws:username}", "s3.us-east-1.amazonaws.com", "true", "*", "a?c",
     "arn:aws:iam::*:role/*", "aGVsbG8="]))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.none(), st.dictionaries(st.text(max_size=3), scalars, max_size=2))
principal_el = st.one_of(st.sampled_from(["*", None]), st.dictionaries(
    st.sampled_from(["AWS", "Service", "Federated", "Bogus"]),
    st.one_of(st.sampled_from(ARNS), st.lists(st.sampled_from(ARNS), max_size=3)), max_size=2))
action_el = st.one_of(st.sampled_from(["kms:*", "*", "kms:Re*", "KMS:decrypt", "kms:ReEncrypt", "s3:*", "bad"]),
                      st.lists(st.sampled_from(["kms:" + a for a in ALL_ACTIONS]), max_size=4))
condition = st.dictionaries(st.sampled_from(OPS), st.dictionaries(st.sampled_from(KEYS), values, max_size=2), max_size=2)
statement = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny", "Maybe"])},
    optional={"Sid": st.text(max_size=5), "Principal": principal_el, "NotPrincipal": principal_el,
              "Action": action_el, "NotAction": action_el,
              "Resource": st.sampled_from(["*", KEY, "arn:aws:kms:*:*:key/*", "alias/x", 5]),
              "Condition": st.one_of(condition, st.just("oops"))})
policies = st.fixed_dictionaries({"Statement": st.one_of(st.lists(statement, max_size=4), statement)},
                                 optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17", "1999"])})
requests = st.builds(
    Request, principal=st.sampled_from([a for a in ARNS if a != "*"]), action=st.sampled_from(
        ["kms:" + a for a in ALL_ACTIONS] + ["Decrypt", "s3:GetObject"]),
    key_arn=st.sampled_from([KEY, None, f"arn:aws:kms:us-east-1:{OTHER}:key/k"]),
    encryption_context=st.dictionaries(st.sampled_from(["app", "App", "t"]), st.text(max_size=4), max_size=2),
    context=st.dictionaries(st.sampled_from(KEYS), values.filter(lambda v: not isinstance(v, dict)), max_size=3))
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policies, requests)
def test_random_policies_never_crash(doc, req):
    findings = validate_policy(doc)
    try:
        compiled = compile_policy(doc)
    except PolicyError as exc:
        assert any(f.severity == "error" for f in findings)
        assert exc.findings
        return
    assert not any(f.severity == "error" for f in findings)
    d = evaluate(compiled, [], [], req)
    assert d.decision in ("ALLOW", "DENY") and d.reason
    assert evaluate(doc, [], [], req).allowed == d.allowed
    json.dumps(d.trace, default=str)
    assert d.trace["decision"] == d.decision
    lint_policy(doc)


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_is_rejected_cleanly(text):
    validate_policy(text)


@SETTINGS
@given(policies, st.data())
def test_mutated_valid_policies(doc, data):
    base = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*", "Resource": "*"}]}
    path = data.draw(st.sampled_from(["Effect", "Principal", "Action", "Resource", "Condition"]))
    base["Statement"][0][path] = data.draw(values)
    findings = validate_policy(base)
    try:
        compile_policy(base)
    except PolicyError:
        assert any(f.severity == "error" for f in findings)
        return
    iam_ok = not any(f.severity == "error" for f in validate_policy(doc, "iam"))
    evaluate(base, [doc] if iam_ok else [], [], Request(f"arn:aws:iam::{ACCT}:user/bob", "kms:Decrypt", KEY))
