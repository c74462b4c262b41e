"""Issue 11, authorization items 4, 5, 6 and the policy parts of 14: no fail-open principal, partitions
kept apart, linear-time wildcards, AWS's policy size limits, bounded JSON nesting, scenario type errors and
a bounded `policy test` walk."""

from __future__ import annotations

import json
import time

import pytest

from kmstui.authz import Request, evaluate, lint_policy
from kmstui.authz.policy import PolicyError, compile_policy
from kmstui.authz.scenarios import ScenarioError, from_dict, load
from kmstui.errors import (AccessDeniedException, LimitExceeded, LimitExceededException,
                           MalformedPolicyDocumentException)
from tests.authz.helpers import ACCT, ALLOW_ALL_IAM, KEY, ROOT_STMT, USER, allow, policy

CN_ROOT = f"arn:aws-cn:iam::{ACCT}:root"
HOSTILE = "*a" * 14 + "*b"  # 14 stars then a b: exponential for a backtracking matcher
VALUE = "a" * 30


# -- item 4: an empty principal is a usage error, never the root ---------------------------------------------
@pytest.mark.parametrize("how", ["flag", "env-empty", "env-blank"])
def test_empty_principal_is_a_usage_error_and_opens_nothing(run_kmstui, kmstui_home, how):
    env = {"KMSTUI_PASSPHRASE": "correct horse battery staple", "KMSTUI_KDF_COST": "8"}
    args = ["key", "list"]
    if how == "flag":
        args = ["--as", "", *args]
    else:
        env["KMSTUI_AS"] = "" if how == "env-empty" else "   "
    r = run_kmstui(*args, env=env)
    assert r.code == 252, r
    assert "empty" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (kmstui_home / "data").exists() or not any((kmstui_home / "data").iterdir())


def test_the_engine_denies_an_empty_caller():
    d = evaluate(policy(allow("*")), [], [], Request("  ", "kms:Decrypt", KEY))
    assert not d.allowed and d.decided_by == "caller"


# -- item 5: partitions ---------------------------------------------------------------------------------------
# "You cannot use IAM credentials from one partition to interact with resources in a different partition."
# (AWS Fault Isolation Boundaries, Partitions)
def test_another_partitions_root_is_not_this_accounts_root():
    d = evaluate(policy(ROOT_STMT), [], [], Request(CN_ROOT, "kms:Decrypt", KEY))
    assert not d.allowed and d.decided_by == "partition"
    assert evaluate(policy(ROOT_STMT), [], [], Request(f"arn:aws:iam::{ACCT}:root", "kms:Decrypt", KEY)).allowed


def test_a_principal_arn_of_another_partition_names_nobody_here():
    kp = policy(allow({"AWS": CN_ROOT}))  # the aws-cn account with the same number is another account
    d = evaluate(kp, [ALLOW_ALL_IAM], [], Request(USER, "kms:Decrypt", KEY))
    assert not d.allowed
    assert evaluate(policy(allow({"AWS": ACCT})), [ALLOW_ALL_IAM], [], Request(USER, "kms:Decrypt", KEY)).allowed


def test_local_enforcement_refuses_another_partition(unsealed_hsm):
    key = unsealed_hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    unsealed_hsm.set_caller(CN_ROOT)
    with pytest.raises(AccessDeniedException, match="partition"):
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")
    with pytest.raises(AccessDeniedException, match="partition"):
        unsealed_hsm.list_keys()


def test_whatif_refuses_another_partition(session):
    from tests.authz.helpers import ROOT

    r = session.execute(["whatif", "--key-policy", "samples/policies/default-key-policy.json", "--principal",
                         CN_ROOT, "--action", "kms:Decrypt"])
    assert r.data["Decision"] == "DENY" and r.data["Trace"]["decided_by"] == "partition"
    r = session.execute(["whatif", "--key-policy", "samples/policies/default-key-policy.json", "--principal",
                         ROOT, "--action", "kms:Decrypt"])
    assert r.data["Decision"] == "ALLOW"


# -- item 6: linear-time wildcards and AWS's size limits -----------------------------------------------------
@pytest.mark.parametrize("op,key,value,pattern", [
    ("StringLike", "kms:EncryptionContext:x", VALUE, HOSTILE),
    ("StringNotLike", "kms:EncryptionContext:x", VALUE, HOSTILE),
    ("ArnLike", "aws:PrincipalArn", f"arn:aws:iam::{ACCT}:user/{VALUE}", f"arn:aws:iam::{ACCT}:user/{HOSTILE}"),
])
def test_hostile_wildcards_are_decided_at_once(op, key, value, pattern):
    kp = policy(ROOT_STMT, allow("*", "kms:Decrypt", {op: {key: pattern}}))
    principal = value if key == "aws:PrincipalArn" else USER
    start = time.process_time()  # CPU time, so a loaded machine does not fail it
    for _ in range(20):
        d = evaluate(kp, [], [], Request(principal, "kms:Decrypt", KEY, encryption_context={"x": value}))
        d.trace  # the trace re-runs every condition
    assert time.process_time() - start < 1.0  # a backtracking matcher takes minutes here
    assert d.allowed == (op == "StringNotLike")


def test_hostile_wildcard_on_a_local_decrypt(unsealed_hsm):
    key = unsealed_hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    blob = unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"x": VALUE})["CiphertextBlob"]
    unsealed_hsm.put_key_policy(KeyId=key, Policy=json.dumps(policy(
        ROOT_STMT, {**allow("*", "kms:Decrypt", {"StringLike": {"kms:EncryptionContext:x": HOSTILE}}),
                    "Effect": "Deny"})))
    start = time.process_time()
    assert unsealed_hsm.decrypt(CiphertextBlob=blob, EncryptionContext={"x": VALUE})["Plaintext"] == b"x"
    assert time.process_time() - start < 1.0


def test_key_policy_over_32_kib_is_limit_exceeded_at_once(unsealed_hsm):
    # "If the key policy exceeds the length constraint, KMS returns a LimitExceededException." (PutKeyPolicy)
    key = unsealed_hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    huge = json.dumps(policy(ROOT_STMT, allow("*", "kms:" + "A" * 10_000_000)))
    start = time.process_time()
    with pytest.raises(LimitExceededException, match="32768"):
        unsealed_hsm.put_key_policy(KeyId=key, Policy=huge)
    with pytest.raises(LimitExceededException):
        unsealed_hsm.create_key(Policy=huge)
    assert time.process_time() - start < 1.0
    assert pytest.raises(PolicyError, compile_policy, huge).value.findings[0].code == "TooLarge"


def _iam_doc(chars: int, *, pad_with_spaces: int = 0) -> str:
    """An identity policy of `chars` non-white-space characters (plus white space that IAM does not count)."""
    base = {"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow", "Action": "kms:Decrypt",
                                                    "Resource": "*"}]}
    filler = chars - len(json.dumps(base, separators=(",", ":")))
    base["Statement"][0]["Sid"] = "S" * filler
    return json.dumps(base, separators=(",", ":")) + " " * pad_with_spaces


@pytest.mark.parametrize("principal,limit", [(f"arn:aws:iam::{ACCT}:user/bob", 2048),
                                             (f"arn:aws:iam::{ACCT}:role/App", 10240)])
def test_inline_identity_policy_quota_per_principal(unsealed_hsm, principal, limit):
    # IAM quotas: "User policy size cannot exceed 2,048 characters. Role policy size cannot exceed 10,240
    # characters." ... "IAM does not count white space when calculating the size of a policy"
    hsm = unsealed_hsm
    hsm.put_identity_policy(PrincipalArn=principal, PolicyName="a", PolicyDocument=_iam_doc(limit - 100,
                                                                                            pad_with_spaces=5000))
    hsm.put_identity_policy(PrincipalArn=principal, PolicyName="a", PolicyDocument=_iam_doc(limit))  # replaces
    with pytest.raises(LimitExceeded, match=f"Maximum policy size of {limit}"):
        hsm.put_identity_policy(PrincipalArn=principal, PolicyName="b", PolicyDocument=_iam_doc(100))
    with pytest.raises(LimitExceeded):
        hsm.put_identity_policy(PrincipalArn=principal, PolicyName="a", PolicyDocument=_iam_doc(limit + 1))
    with pytest.raises(LimitExceeded):
        hsm.put_identity_policy(PrincipalArn=principal, PolicyName="c", PolicyDocument="[" * 10_000_000)


def test_lint_flags_pathological_wildcards(tmp_path):
    doc = policy(ROOT_STMT, allow("*", "kms:Decrypt", {"StringLike": {"kms:EncryptionContext:x": HOSTILE}}))
    found = [f for f in lint_policy(doc, key_account=ACCT) if f.code == "PathologicalWildcard"]
    assert found and "kms:EncryptionContext:x" in found[0].element
    assert not [f for f in lint_policy(policy(ROOT_STMT), key_account=ACCT) if f.code == "PathologicalWildcard"]


# -- item 14: nesting, scenario types, the bounded walk ------------------------------------------------------
NESTED = "[" * 1000 + "]" * 1000


def test_deeply_nested_policy_is_a_clean_error(unsealed_hsm, run_kmstui, tmp_path):
    with pytest.raises(PolicyError, match="nests more than"):
        compile_policy('{"Statement": ' + NESTED + "}")
    key = unsealed_hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    with pytest.raises(MalformedPolicyDocumentException):
        unsealed_hsm.put_key_policy(KeyId=key, Policy='{"Statement": ' + NESTED + "}")
    f = tmp_path / "deep.json"
    f.write_text('{"Version": "2012-10-17", "Statement": ' + "[" * 100_000 + "]" * 100_000 + "}")
    r = run_kmstui("whatif", "--key-policy", str(f), "--principal", USER, "--action", "kms:Decrypt")
    assert r.code == 252 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r
    s = tmp_path / "deep.scenario.json"
    s.write_text(NESTED)
    r = run_kmstui("policy", "test", str(s))
    assert r.code == 1 and "nests too deeply" in r.out + r.err and "Traceback" not in r.err


GOOD_REQUEST = {"principal": USER, "action": "kms:Decrypt", "key_arn": KEY}


@pytest.mark.parametrize("scenario,needle", [
    ({"name": 5, "key_policy": {}, "request": GOOD_REQUEST}, "name must be a string"),
    ({"key_policy": 5, "request": GOOD_REQUEST}, "key_policy must be a policy object"),
    ({"key_policy": {}, "iam_policies": [5], "request": GOOD_REQUEST}, "iam_policies[0]"),
    ({"key_policy": {}, "grants": [5], "request": GOOD_REQUEST}, "grants[0] must be a grant object"),
    ({"key_policy": {}, "grants": [{"Operations": "Decrypt"}], "request": GOOD_REQUEST}, "Operations must be a list"),
    ({"key_policy": {}, "grants": [{"GranteePrincipal": 7}], "request": GOOD_REQUEST}, "GranteePrincipal"),
    ({"key_policy": {}, "grants": [{"Constraints": {"EncryptionContextEquals": [1]}}], "request": GOOD_REQUEST},
     "Constraints.EncryptionContextEquals"),
    ({"key_policy": {}, "request": {**GOOD_REQUEST, "context": {"k": {"x": 1}}}}, "context must be"),
    ({"key_policy": {}, "request": {**GOOD_REQUEST, "principal": 5}}, "principal is required"),
    ({"key_policy": {}, "request": []}, "request must be an object"),
    ({"key_policy": {}, "request": GOOD_REQUEST, "expected": True}, "expected must be"),
])
def test_scenario_with_wrong_types_is_one_clean_line(scenario, needle):
    with pytest.raises(ScenarioError) as info:
        from_dict(scenario)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_scenario_file_wrong_types_cli(run_kmstui, tmp_path):
    f = tmp_path / "bad.scenario.json"
    f.write_text(json.dumps({"key_policy": {}, "grants": [None], "request": GOOD_REQUEST, "expected": "DENY"}))
    r = run_kmstui("whatif", "--scenario", str(f))
    assert r.code == 252 and "grants[0]" in r.err and "Traceback" not in r.err


def test_policy_test_of_the_filesystem_root_is_bounded(run_kmstui):
    start = time.monotonic()
    r = run_kmstui("policy", "test", "/", timeout=60)
    assert r.code == 252 and "name the folder" in r.err and "Traceback" not in r.err, r
    assert time.monotonic() - start < 60


def test_policy_test_walk_skips_hidden_folders_and_links(tmp_path):
    from kmstui.authz.scenarios import discover

    sample = json.dumps({"key_policy": {}, "request": GOOD_REQUEST})
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "x.scenario.json").write_text(sample)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "y.scenario.json").write_text(sample)
    (tmp_path / "real" / "loop").symlink_to(tmp_path)  # a cycle: never followed
    assert [p.name for p in discover([tmp_path])] == ["y.scenario.json"]
    assert load(tmp_path / "real" / "y.scenario.json")
