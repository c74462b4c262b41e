"""`iam put-policy|get-policy|list-policies|delete-policy` on the local HSM, and what a stored identity
policy then lets an `--as` principal do (the default key policy delegates to the account's IAM policies)."""

from __future__ import annotations

import base64
import json

import pytest

from kmstui.errors import AccessDeniedException, NotFoundException, UsageError

APP = "arn:aws:iam::111122223333:role/app"


def run(session, *words):
    return session.execute([str(w) for w in words]).data


def allow_decrypt(key_arn: str = "*") -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "UseAppKey", "Effect": "Allow",
                                                    "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": key_arn}]}


@pytest.fixture
def policy_file(tmp_path):
    def write(doc, name="p.json"):
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return str(path)
    return write


def test_put_get_list_delete_round_trip(session, policy_file):
    run(session, "iam", "put-policy", "--principal", APP, "--name", "use-app-key",
        "--file", policy_file(allow_decrypt()))
    got = run(session, "iam", "get-policy", "--principal", APP, "--name", "use-app-key")
    assert got["PrincipalArn"] == APP and got["PolicyName"] == "use-app-key"
    assert json.loads(got["PolicyDocument"]) == allow_decrypt()
    other = "arn:aws:iam::111122223333:user/dev"
    run(session, "iam", "put-policy", "--principal", other, "--name", "dev", "--file", policy_file(allow_decrypt()))
    assert run(session, "iam", "list-policies")["Policies"] == [
        {"PrincipalArn": APP, "PolicyName": "use-app-key"}, {"PrincipalArn": other, "PolicyName": "dev"}]
    assert run(session, "iam", "list-policies", "--principal", other)["Policies"] == [
        {"PrincipalArn": other, "PolicyName": "dev"}]
    run(session, "iam", "delete-policy", "--principal", APP, "--name", "use-app-key", "--yes")
    with pytest.raises(NotFoundException):
        run(session, "iam", "get-policy", "--principal", APP, "--name", "use-app-key")


def test_a_stored_identity_policy_decides_for_the_principal(session, policy_file):
    key = run(session, "key", "create")["KeyMetadata"]
    blob = base64.b64encode(run(session, "encrypt", "--key-id", key["KeyId"], "--plaintext", "hi")["CiphertextBlob"])
    words = ["decrypt", "--ciphertext-blob", blob.decode(), "--as", APP]
    with pytest.raises(AccessDeniedException):
        run(session, *words)
    run(session, "iam", "put-policy", "--principal", APP, "--name", "k",
        "--file", policy_file(allow_decrypt(key["Arn"])))
    assert run(session, *words)["Plaintext"] == b"hi"
    run(session, "iam", "delete-policy", "--principal", APP, "--name", "k", "--yes")
    with pytest.raises(AccessDeniedException):
        run(session, *words)


@pytest.mark.parametrize("doc, message", [
    ("{not json", "invalid JSON"),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "kms:Decrypt", "Resource": "*"}]},
     "Effect"),
])
def test_a_bad_policy_is_refused_before_it_is_stored(session, policy_file, doc, message):
    with pytest.raises(UsageError, match=message):
        run(session, "iam", "put-policy", "--principal", APP, "--name", "bad", "--file", policy_file(doc))
    assert run(session, "iam", "list-policies")["Policies"] == []


def test_delete_asks_for_confirmation(session, policy_file):
    run(session, "iam", "put-policy", "--principal", APP, "--name", "k", "--file", policy_file(allow_decrypt()))
    with pytest.raises(UsageError, match="--yes"):
        run(session, "iam", "delete-policy", "--principal", APP, "--name", "k")
    assert len(run(session, "iam", "list-policies")["Policies"]) == 1


def test_other_backends_say_they_keep_no_identity_policies(aws_profile, run_kmstui, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(allow_decrypt()))
    result = run_kmstui("--profile", aws_profile, "iam", "put-policy", "--principal", APP, "--name", "k",
                        "--file", str(path))
    assert result.code == 254
    assert result.err.strip() == ("kmstui: error: UnsupportedOperationException: stored IAM policies are not "
                                  "supported by aws backends")


@pytest.mark.parametrize("principal, hint", [
    ("arn:aws:iam::111122223333:group/devs", "user or role"),
    ("arn:aws:iam::111122223333:root", "needs no identity policy"),
    ("arn:aws:sts::111122223333:assumed-role/app/job-1", "session's role"),
])
def test_a_policy_that_would_never_be_read_is_refused_not_stored(session, policy_file, principal, hint):
    with pytest.raises(UsageError, match=hint):
        run(session, "iam", "put-policy", "--principal", principal, "--name", "p", "--file", policy_file(allow_decrypt()))
    assert run(session, "iam", "list-policies")["Policies"] == []
