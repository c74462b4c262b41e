"""`policy test` through the real entry point, as a CI pipeline runs it."""

import json


def test_policy_test_samples_passes(run_kmstui):
    r = run_kmstui("policy", "test", "samples/", "--output", "text")
    assert r.code == 0, r.out + r.err
    assert "0 failed" in r.out


def test_policy_test_failure_exit_code(run_kmstui, tmp_path):
    sc = tmp_path / "f.scenario.json"
    sc.write_text(json.dumps({"name": "nope", "key_policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}]},
        "request": {"principal": "arn:aws:iam::111122223333:user/x", "action": "kms:Encrypt",
                    "key_arn": "arn:aws:kms:us-east-1:111122223333:key/k"}, "expected": "ALLOW"}))
    r = run_kmstui("policy", "test", str(sc), "--output", "text")
    assert r.code == 1
    assert "FAIL  nope: expected ALLOW, got DENY" in r.out


def test_whatif_json_output(run_kmstui):
    r = run_kmstui("whatif", "--scenario", "samples/policies/via-service.scenario.json", "--output", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert [d["Decision"] for d in data] == [d["Expected"] for d in data]
    assert all("Trace" in d for d in data)
