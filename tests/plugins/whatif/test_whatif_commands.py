"""The whatif plugin's commands, run in-process through a Session as every face runs them."""

import json
from pathlib import Path

import pytest

from kmstui.errors import UsageError
from kmstui.session import Session

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "samples" / "policies"
ACCT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def files_session():
    """A session with no key store at all: file-only commands must work without one (and never open one)."""
    s = Session()
    yield s
    assert not s.open_backends()
    s.close()


def run(session, *words):
    return session.execute([str(w) for w in words])


class TestWhatif:
    def test_decision_and_trace_from_files(self, files_session):
        r = run(files_session, "whatif", "--key-policy", SAMPLES / "console-default-policy.json",
                "--principal", f"arn:aws:sts::{ACCT}:assumed-role/KeyUser/alice", "--action", "kms:Decrypt",
                "--key-arn", KEY)
        assert r.data["Decision"] == "ALLOW" and r.data["Trace"]["decided_by"] == "key_policy"
        assert r.text.startswith("ALLOW: ") and "Allow use of the key" in r.text

    def test_context_condition_and_iam_policy(self, files_session, tmp_path):
        iam = tmp_path / "iam.json"
        iam.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
        base = ["whatif", "--key-policy", SAMPLES / "via-service.json", "--principal",
                f"arn:aws:sts::{ACCT}:assumed-role/App/t", "--action", "kms:Decrypt", "--iam-policy", iam]
        assert run(files_session, *base).data["Decision"] == "DENY"
        r = run(files_session, *base, "--condition", "kms:ViaService=s3.us-east-1.amazonaws.com", "--context", "a=b")
        assert r.data["Decision"] == "ALLOW"
        assert r.data["Trace"]["request"]["encryption_context"] == {"a": "b"}

    def test_grants_file_and_grant_request(self, files_session, tmp_path):
        grants = tmp_path / "grants.json"
        grants.write_text(json.dumps({"Grants": [{"GrantId": "g", "GranteePrincipal": f"arn:aws:iam::{ACCT}:role/W",
                                                  "Operations": ["Decrypt", "CreateGrant"]}]}))
        base = ["whatif", "--key-policy", SAMPLES / "default-key-policy.json", "--grants", grants, "--principal",
                f"arn:aws:sts::{ACCT}:assumed-role/W/x"]
        assert run(files_session, *base, "--action", "kms:Decrypt").data["Decision"] == "ALLOW"
        body = json.dumps({"GranteePrincipal": f"arn:aws:iam::{ACCT}:role/V", "Operations": ["Encrypt"]})
        r = run(files_session, *base, "--action", "kms:CreateGrant", "--grant-request", body)
        assert r.data["Decision"] == "DENY"

    def test_scenario_output(self, files_session):
        r = run(files_session, "whatif", "--scenario", SAMPLES / "cross-account.scenario.json")
        assert len(r.data) == 6 and all({"Decision", "Trace", "Expected"} <= set(item) for item in r.data)
        assert [i["Decision"] for i in r.data] == [i["Expected"] for i in r.data]

    @pytest.mark.parametrize("words,message", [
        (["whatif", "--principal", "x", "--action", "kms:Decrypt"], "--key-id KEY"),
        (["whatif", "--key-policy", "/nonexistent.json", "--principal", "x", "--action", "y"], "no such file"),
        (["whatif", "--key-policy", str(SAMPLES / "default-key-policy.json")], "--principal"),
        (["whatif", "--key-policy", str(SAMPLES / "default-key-policy.json"), "--principal", "p", "--action", "a",
          "--condition", "novalue"], "KEY=VALUE"),
    ])
    def test_usage_errors(self, files_session, words, message):
        with pytest.raises(UsageError, match=message):
            files_session.execute(words)

    def test_malformed_policy_names_statement_and_element(self, files_session, tmp_path):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
        with pytest.raises(UsageError, match=r"Statement\[0\] Principal"):
            run(files_session, "whatif", "--key-policy", bad, "--principal", "p", "--action", "kms:Decrypt")


class TestPolicyTest:
    def test_samples_pass(self, files_session):
        r = run(files_session, "policy", "test", SAMPLES)
        assert r.exit_code == 0 and r.data["Failed"] == 0 and r.data["Passed"] >= 50

    def test_failure_exits_1_with_trace(self, files_session, tmp_path):
        sc = tmp_path / "wrong.scenario.json"
        sc.write_text(json.dumps([{"name": "wrong on purpose", "key_policy": json.loads(
            (SAMPLES / "default-key-policy.json").read_text()), "request": {
            "principal": f"arn:aws:iam::{ACCT}:user/bob", "action": "kms:Decrypt", "key_arn": KEY}, "expected": "ALLOW"},
            {"name": "right", "request": {"principal": "x", "action": "kms:ListKeys"}, "expected": "DENY"}]))
        r = run(files_session, "policy", "test", sc)
        assert r.exit_code == 1 and r.data["Failed"] == 1
        failure = r.data["Failures"][0]
        assert failure["Scenario"] == "wrong on purpose" and failure["Trace"]["decision"] == "DENY"
        assert "FAIL  wrong on purpose: expected ALLOW, got DENY" in r.text

    def test_broken_scenario_file_fails(self, files_session, tmp_path):
        (tmp_path / "broken.scenario.json").write_text("{")
        r = run(files_session, "policy", "test", tmp_path)
        assert r.exit_code == 1 and r.data["Results"][0]["Result"] == "ERROR"

    def test_no_scenarios(self, files_session, tmp_path):
        with pytest.raises(UsageError, match="no \\*.scenario.json"):
            run(files_session, "policy", "test", tmp_path)


class TestMatrixLintDiff:
    def test_matrix(self, files_session):
        r = run(files_session, "policy", "matrix", "--key-policy", SAMPLES / "console-default-policy.json",
                "--actions", "Decrypt,PutKeyPolicy,CreateGrant")
        rows = {row["PrincipalArn"]: row["Cells"] for row in r.data["Principals"]}
        assert rows[f"arn:aws:iam::{ACCT}:role/KeyAdmin"] == {"Decrypt": "IAM", "PutKeyPolicy": "ALLOW",
                                                              "CreateGrant": "ALLOW"}
        assert rows[f"arn:aws:iam::{ACCT}:role/KeyUser"]["CreateGrant"] == "CONDITIONAL"
        assert rows[f"arn:aws:iam::{ACCT}:role/KeyUser"]["Decrypt"] == "ALLOW"
        assert rows[f"arn:aws:iam::{ACCT}:root"]["Decrypt"] == "ALLOW"
        assert rows[f"arn:aws:iam::{ACCT}:user/any-identity"]["Decrypt"] == "IAM"

    def test_matrix_aws_managed_key_style(self, files_session):
        r = run(files_session, "policy", "matrix", "--key-policy", SAMPLES / "aws-managed-key.json", "--actions", "Decrypt")
        cells = {row["Principal"]: row["Cells"]["Decrypt"] for row in r.data["Principals"]}
        assert cells[f"any identity in {ACCT}"] == "CONDITIONAL"

    def test_lint(self, files_session, tmp_path):
        r = run(files_session, "policy", "lint", SAMPLES / "missing-root-delegation.json")
        found = {f["Code"] for f in r.data["Findings"]}
        assert "NoRootDelegation" in found and r.exit_code == 0
        p = tmp_path / "p.json"
        p.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "AWS": f"arn:aws:iam::{ACCT}:role/App"}, "Action": "kms:Decrypt", "Resource": "*"}]}))
        r2 = run(files_session, "policy", "lint", p, "--key-account", ACCT)
        assert r2.exit_code == 1 and "Lockout" in {f["Code"] for f in r2.data["Findings"]}
        assert "fix:" in r2.text
        assert run(files_session, "policy", "lint", SAMPLES / "default-key-policy.json", "--fail-on", "warning").exit_code == 0

    def test_diff_against_cloudtrail_file(self, files_session, tmp_path):
        events = tmp_path / "ct.jsonl"
        ev = {"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "awsRegion": "us-east-1",
              "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCT}:assumed-role/KeyUser/a",
                               "accountId": ACCT},
              "requestParameters": {"encryptionContext": {"app": "web"}}, "resources": [{"ARN": KEY}]}
        events.write_text("\n".join(json.dumps(ev) for _ in range(10)))
        proposed = tmp_path / "proposed.json"
        doc = json.loads((SAMPLES / "console-default-policy.json").read_text())
        doc["Statement"][2]["Condition"] = {"StringEquals": {"kms:EncryptionContext:app": "db"}}
        proposed.write_text(json.dumps(doc))
        r = run(files_session, "policy", "diff", "--proposed", proposed, "--key-policy",
                SAMPLES / "console-default-policy.json", "--key-arn", KEY, "--requests", events)
        assert (r.data["Requests"], r.data["Distinct"], len(r.data["Changed"])) == (10, 1, 1)
        change = r.data["Changed"][0]
        assert (change["Before"], change["After"], change["Count"]) == ("ALLOW", "DENY", 10)
        r2 = run(files_session, "policy", "diff", "--proposed", proposed, "--key-policy",
                 SAMPLES / "console-default-policy.json", "--requests", events, "--fail-on-change")
        assert r2.exit_code == 1


class TestLiveBackend:
    def test_whatif_and_lint_read_the_key_from_the_backend(self, session):
        backend = session.backend()
        key = backend.create_key(Description="whatif")["KeyMetadata"]
        r = run(session, "whatif", "--key-id", key["KeyId"], "--principal", f"arn:aws:iam::{ACCT}:root",
                "--action", "kms:Decrypt")
        assert r.data["Decision"] == "ALLOW" and r.data["Trace"]["request"]["key_arn"] == key["Arn"]
        r = run(session, "whatif", "--key-id", key["KeyId"], "--principal", f"arn:aws:iam::{ACCT}:user/bob",
                "--action", "kms:Decrypt")
        assert r.data["Decision"] == "DENY"
        r = run(session, "policy", "lint", "--key-id", key["KeyId"])
        assert r.exit_code == 0

    def test_identity_policies_stored_in_the_hsm_count(self, session):
        backend = session.backend()
        key = backend.create_key(Description="whatif")["KeyMetadata"]
        bob = f"arn:aws:iam::{ACCT}:user/bob"
        backend.put_identity_policy(PrincipalArn=bob, PolicyName="use", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}))
        r = run(session, "whatif", "--key-id", key["KeyId"], "--principal", bob, "--action", "kms:Decrypt")
        assert r.data["Decision"] == "ALLOW" and r.data["Trace"]["decided_by"] == "key_policy_and_iam"
        role = f"arn:aws:iam::{ACCT}:role/App"
        backend.put_identity_policy(PrincipalArn=role, PolicyName="use", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}))
        r = run(session, "whatif", "--key-id", key["KeyId"], "--principal",
                f"arn:aws:sts::{ACCT}:assumed-role/App/s1", "--action", "kms:Encrypt")
        assert r.data["Decision"] == "ALLOW"

    def test_diff_replays_the_local_audit_log(self, session, tmp_path):
        backend = session.backend()
        key = backend.create_key(Description="whatif")["KeyMetadata"]
        for _ in range(3):
            backend.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "web"})
        proposed = tmp_path / "p.json"
        proposed.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"StringNotEquals": {"kms:EncryptionContext:app": "db"}}}]}))
        r = run(session, "policy", "diff", "--proposed", proposed, "--key-id", key["KeyId"], "--requests", "audit")
        changed = [c for c in r.data["Changed"] if c["Action"] == "kms:Encrypt"]
        assert changed and changed[0]["Count"] == 3 and changed[0]["After"] == "DENY"


class TestBadInputIsAUsageError:
    """Every kind of bad input found in review gives one clear UsageError line, never an internal error."""

    P = f"arn:aws:iam::{ACCT}:user/a"

    def _policy(self, tmp_path, condition):
        f = tmp_path / "p.json"
        f.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": condition}]}))
        return f

    def test_out_of_range_date_in_a_policy(self, files_session, tmp_path):
        f = self._policy(tmp_path, {"DateLessThan": {"aws:CurrentTime": "99999999999999999"}})
        with pytest.raises(UsageError, match="DateLessThan needs ISO 8601"):
            run(files_session, "whatif", "--key-policy", f, "--principal", self.P, "--action", "kms:Decrypt")
        with pytest.raises(UsageError, match="DateLessThan"):
            run(files_session, "policy", "matrix", "--key-policy", f)

    def test_malformed_grant_request_json(self, files_session):
        with pytest.raises(UsageError, match="--grant-request: invalid JSON"):
            run(files_session, "whatif", "--key-policy", SAMPLES / "default-key-policy.json", "--principal", self.P,
                "--action", "kms:CreateGrant", "--grant-request", "{bad")

    def test_scenario_with_a_policy_aws_rejects(self, files_session, tmp_path):
        sc = tmp_path / "s.scenario.json"
        sc.write_text(json.dumps({"name": "broken", "key_policy": {"Statement": 5},
                                  "request": {"principal": self.P, "action": "kms:Decrypt", "key_arn": KEY}}))
        with pytest.raises(UsageError, match="broken: .*Statement must be an object"):
            run(files_session, "whatif", "--scenario", sc)

    def test_scenario_request_field_of_the_wrong_type(self, files_session, tmp_path):
        sc = tmp_path / "s.scenario.json"
        sc.write_text(json.dumps({"key_policy": {"Statement": []}, "expected": "DENY",
                                  "request": {"principal": self.P, "action": "kms:Decrypt", "key_arn": 7}}))
        r = run(files_session, "policy", "test", sc)
        assert r.exit_code == 1 and "key_arn must be a string" in r.text

    def test_diff_requests_folder(self, files_session, tmp_path):
        with pytest.raises(UsageError, match="is a directory"):
            run(files_session, "policy", "diff", "--proposed", SAMPLES / "default-key-policy.json", "--key-policy",
                SAMPLES / "default-key-policy.json", "--requests", tmp_path)

    def test_lint_key_account_must_be_an_account_id(self, files_session):
        with pytest.raises(UsageError, match="12-digit"):
            run(files_session, "policy", "lint", SAMPLES / "default-key-policy.json", "--key-account", "abc")
