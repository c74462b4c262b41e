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


DENIED = ("whatif", "--key-policy", "samples/policies/default-key-policy.json", "--principal",
          "arn:aws:iam::444455556666:role/outsider", "--action", "kms:Decrypt")


def test_whatif_top_level_fields_are_pascal_case_and_the_trace_keeps_its_format(run_kmstui):
    r = run_kmstui(*DENIED, "--output", "json")
    assert r.code == 0, r.err  # a DENY is an answer, not a failure, unless --exit-code asks
    data = json.loads(r.out)
    assert list(data) == ["Decision", "DecidedBy", "Reason", "Trace"]
    assert data["DecidedBy"] == data["Trace"]["decided_by"] and "decided_by" not in data
    assert data["Trace"]["version"] == 1  # docs/authz-trace.md, version 1


def test_whatif_exit_code_exits_1_on_deny_only(run_kmstui):
    denied = run_kmstui(*DENIED, "--exit-code", "--output", "json")
    assert denied.code == 1 and json.loads(denied.out)["Decision"] == "DENY"
    allowed = run_kmstui("whatif", "--key-policy", "samples/policies/default-key-policy.json", "--principal",
                         "arn:aws:iam::111122223333:root", "--action", "kms:Decrypt", "--exit-code", "--output", "json")
    assert allowed.code == 0 and json.loads(allowed.out)["Decision"] == "ALLOW"


def test_whatif_context_help_speaks_of_the_request_not_decrypting(run_kmstui):
    text = run_kmstui("help", "whatif").out
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("--context"))
    entry = " ".join(lines[at:at + 2])  # the flag, then its help (wrapped onto the next line when long)
    assert "decrypt" not in entry.lower() and "kms:EncryptionContext" in entry


def test_policy_test_and_lint_end_a_table_with_a_one_line_summary(run_kmstui, tmp_path):
    table = run_kmstui("policy", "test", "samples/", "--output", "table")
    *rows, last = table.out.rstrip().splitlines()
    assert table.code == 0 and last.startswith(f"{sum(row.startswith('pass ') for row in rows)} passed, 0 failed")
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:*", "Resource": "*"}]}))
    lint = run_kmstui("policy", "lint", str(clean), "--output", "table")
    assert lint.out.rstrip().splitlines()[-1] == f"{clean}: no findings"
    assert "Summary" not in run_kmstui("policy", "lint", str(clean), "--output", "json").out
