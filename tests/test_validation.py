"""Input validation before any change (issue 11 item 8): text that is not UTF-8 and values breaking the KMS
API Reference's constraints are refused with one clean line, nothing is created, `key list` keeps working.

The constraints are the API Reference's "Length Constraints" and "Pattern" lines (e.g. CreateKey
Description: "Length Constraints: Minimum length of 0. Maximum length of 8192."; CreateAlias AliasName:
"Pattern: ^[a-zA-Z0-9:/_-]+$"; PutKeyPolicy Policy: "Pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"),
checked here against botocore's KMS service model, which carries the same numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kmstui.errors import ValidationException
from kmstui.validation import LISTS, RULES
from tests.conftest import REPO

BAD = b"d\xff\xfe"  # the issue's `$'d\xff\xfe'`


def test_rules_match_the_kms_api_reference_as_botocore_carries_it():
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms")
    seen: dict[str, tuple] = {}
    for op in model.operation_names:
        shape = model.operation_model(op).input_shape
        for name, member in (shape.members.items() if shape else []):
            if member.type_name == "string" and "max" in member.metadata:
                seen[name] = (member.metadata.get("min", 0), member.metadata["max"], member.metadata.get("pattern"))
            if member.type_name == "list":
                seen[name] = member.metadata.get("max")
    tag = model.shape_for("Tag").members
    for name in ("TagKey", "TagValue"):
        seen[name] = (tag[name].metadata.get("min", 0), tag[name].metadata["max"], tag[name].metadata.get("pattern"))
    for name, rule in RULES.items():
        assert seen[name] == rule, name
    for name, (_member, most) in LISTS.items():
        assert seen[name] == most, name


def kmstui(*args: bytes | str):
    """`python -m kmstui ARGS` with raw bytes in argv, as a shell passes $'d\\xff\\xfe'."""
    return subprocess.run([sys.executable, "-m", "kmstui", *args], capture_output=True, timeout=120, cwd=str(REPO),
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture
def key(unsealed_hsm) -> str:
    return unsealed_hsm.create_key(Description="ok")["KeyMetadata"]["KeyId"]


def keys_now(backend) -> list:
    return sorted(k["KeyId"] for k in backend.list_keys()["Keys"])


@pytest.mark.parametrize("words", [
    [b"key", b"create", b"--description", BAD],
    [b"alias", b"create", b"alias/" + BAD, b"KEY"],
    [b"key", b"enable", BAD],
    [b"key", b"cancel-deletion", BAD],
    [b"key", b"tag", b"KEY", b"team=" + BAD],
    [b"key", b"create", b"--tag", BAD + b"=x"],
    [b"encrypt", b"--key-id", b"KEY", b"--plaintext", b"p", b"--context", b"app=" + BAD],
    [b"key", b"update-description", b"KEY", b"--description", BAD],
], ids=lambda w: b" ".join(w[:2]).decode())
def test_non_utf8_arguments_are_one_clean_line_and_change_nothing(unsealed_hsm, key, words):
    before = keys_now(unsealed_hsm)
    proc = kmstui(*[key.encode() if w == b"KEY" else w for w in words])
    err = proc.stderr.decode("utf-8")  # whatever came in, what goes out is UTF-8
    assert proc.returncode == 252, err
    assert len(err.strip().splitlines()) == 1 and "not valid UTF-8 text" in err and "\\xff" in err
    assert "Traceback" not in err and not proc.stdout
    assert keys_now(unsealed_hsm) == before
    for fmt in ("json", "table", "text"):
        listed = kmstui("key", "list", "--output", fmt)
        assert listed.returncode == 0, listed.stderr


def test_the_backend_refuses_raw_bytes_from_any_face(session, unsealed_hsm):
    before = keys_now(unsealed_hsm)
    backend = session.backend()
    with pytest.raises(ValidationException, match=r"at 'description' failed to satisfy constraint: Member must be "
                                                  r"valid UTF-8 text"):
        backend.create_key(Description="d\udcff\udcfe")  # what json.loads makes of "d\udcff\udcfe" from a client
    with pytest.raises(ValidationException, match=r"at 'encryptionContext.key'"):
        backend.encrypt(KeyId=before[0] if before else "x", Plaintext=b"p", EncryptionContext={"\udcff": "v"})
    assert keys_now(unsealed_hsm) == before


@pytest.mark.parametrize("call, message", [
    (lambda b, k: b.create_key(Description="x" * 8193),
     "at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192"),
    (lambda b, k: b.update_key_description(KeyId=k, Description="x" * 8193), "less than or equal to 8192"),
    (lambda b, k: b.create_alias(AliasName="alias/" + "a" * 251, TargetKeyId=k), "at 'aliasName'"),
    (lambda b, k: b.tag_resource(KeyId=k, Tags=[{"TagKey": "k" * 129, "TagValue": ""}]), "at 'tags.1.member.tagKey'"),
    (lambda b, k: b.tag_resource(KeyId=k, Tags=[{"TagKey": "k", "TagValue": "v" * 257}]), "tags.1.member.tagValue"),
    (lambda b, k: b.put_key_policy(KeyId=k, PolicyName="default", Policy='{"Version": "2012-10-17", "S": "\u65e5"}'),
     "at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern"),
    (lambda b, k: b.create_grant(KeyId=k, GranteePrincipal="arn:aws:iam::111122223333:role/r", Operations=["Decrypt"],
                                 Name="bad name!"), "at 'name'"),
    (lambda b, k: b.encrypt(KeyId=k, Plaintext=b"p", GrantTokens=["t"] * 11), "at 'grantTokens'"),
], ids=["description", "update-description", "alias", "tag-key", "tag-value", "policy-latin1", "grant-name",
        "grant-tokens"])
def test_kms_constraints_refused_before_any_change(session, unsealed_hsm, key, call, message):
    before_keys = keys_now(unsealed_hsm)
    before = json.dumps(unsealed_hsm.describe_key(KeyId=key)["KeyMetadata"], default=str)
    with pytest.raises(ValidationException, match=message.replace("(", r"\(")):
        call(session.backend(), key)
    assert keys_now(unsealed_hsm) == before_keys
    assert json.dumps(unsealed_hsm.describe_key(KeyId=key)["KeyMetadata"], default=str) == before
    assert unsealed_hsm.list_resource_tags(KeyId=key)["Tags"] == []


def test_grant_tokens_are_never_echoed(session, key):
    with pytest.raises(ValidationException) as exc:
        session.backend().encrypt(KeyId=key, Plaintext=b"p", GrantTokens=["s3cret-token"] * 11)
    assert "s3cret" not in str(exc.value)


def test_values_at_the_limits_pass(session, unsealed_hsm):
    made = session.backend().create_key(Description="é" * 8192)["KeyMetadata"]
    assert made["Description"] == "é" * 8192
