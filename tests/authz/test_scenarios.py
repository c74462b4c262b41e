"""Scenario files: loading, derived condition keys, shared policy files, clear errors."""

import json
from pathlib import Path

import pytest

from kmstui.authz import scenarios

from .helpers import ACCT, KEY, OTHER, ROLE, ROOT_STMT, SESSION, USER, allow, policy

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_object_or_list_and_relative_policy_paths(tmp_path):
    write(tmp_path, "kp.json", policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:Decrypt")))
    one = {"key_policy": "kp.json", "request": {"principal": SESSION, "action": "kms:Decrypt", "key_arn": KEY},
           "expected": "ALLOW"}
    assert [s.expected for s in scenarios.load(write(tmp_path, "a.scenario.json", one))] == ["ALLOW"]
    loaded = scenarios.load(write(tmp_path, "b.scenario.json", [one, {**one, "expected": "deny"}]))
    assert [s.expected for s in loaded] == ["ALLOW", "DENY"] and loaded[1].source.endswith("[1]")
    assert scenarios.run(loaded[0]).decision == "ALLOW"


def test_derived_keys_and_given_keys(tmp_path):
    kp = policy(allow("*", "kms:Decrypt", {"StringEquals": {"kms:CallerAccount": ACCT, "aws:PrincipalArn": ROLE,
                                                             "kms:EncryptionContext:app": "web"}}))
    base = {"key_policy": kp, "request": {"principal": SESSION, "action": "kms:Decrypt", "key_arn": KEY,
                                          "encryption_context": {"app": "web"}}}
    assert scenarios.run(base).allowed
    given = json.loads(json.dumps(base))
    given["request"]["context"] = {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/Other"}
    assert not scenarios.run(given).allowed


def test_service_caller_with_null_account():
    kp = policy(allow({"Service": "logs.amazonaws.com"}, "kms:Encrypt"))
    sc = {"key_policy": kp, "request": {"principal": "logs.amazonaws.com", "caller_account": None,
                                        "action": "kms:Encrypt", "key_arn": KEY}}
    assert scenarios.run(sc).allowed


@pytest.mark.parametrize("data,message", [
    ({"request": {"action": "kms:Decrypt"}}, "principal is required"),
    ({"key_policy": {}, "request": {"principal": USER, "action": "kms:Decrypt", "bogus": 1}}, "unknown field"),
    ({"key_policy": {}, "request": {"principal": USER, "action": "x"}, "expected": "MAYBE"}, "expected must be"),
    ({"key_policy": "missing.json", "request": {"principal": USER, "action": "x"}}, "no such file"),
    ({"key_policy": {}}, "'request' is required"),
])
def test_errors_name_file_and_field(tmp_path, data, message):
    p = write(tmp_path, "bad.scenario.json", data)
    with pytest.raises(scenarios.ScenarioError, match=message) as info:
        scenarios.load(p)
    assert "bad.scenario.json" in str(info.value)


def test_discover_finds_scenarios_under_folders(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "x.scenario.json", [])
    write(tmp_path, "not-a-scenario.json", [])
    assert [p.name for p in scenarios.discover([tmp_path])] == ["x.scenario.json"]
    with pytest.raises(scenarios.ScenarioError):
        scenarios.discover([tmp_path / "nope"])


def test_every_sample_scenario_passes():
    files = scenarios.discover([REPO / "samples" / "policies"])
    assert len(files) >= 7
    count = 0
    for f in files:
        for sc in scenarios.load(f):
            assert sc.expected, sc.name
            assert scenarios.run(sc).decision == sc.expected, sc.name
            count += 1
    assert count >= 40


def test_cross_account_sample_has_both_sides(tmp_path):
    kp = policy(ROOT_STMT, allow({"AWS": f"arn:aws:iam::{OTHER}:root"}, "kms:Decrypt"))
    sc = {"key_policy": kp, "iam_policies": [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]}],
        "request": {"principal": f"arn:aws:iam::{OTHER}:user/x", "action": "kms:Decrypt", "key_arn": KEY}}
    assert scenarios.run(sc).allowed
