"""What a change prints: nothing on stdout in json, yaml and text, as the aws CLI prints nothing for these
calls (issue 12 left-out). The aws CLI reference for create-alias: "This operation does not return a
response." EnableKey, DisableKey, UpdateKeyDescription, TagResource, UntagResource, EnableKeyRotation,
DisableKeyRotation, CreateAlias and UpdateAlias have no output shape in botocore's KMS model (checked below),
so `aws kms enable-key ...` prints nothing in any output format. A table (a person at a terminal) still shows
the new state, read back for that view alone; every format names the change on stderr."""

from __future__ import annotations

import io
import json

import pytest

from kmstui import audit
from kmstui.runner import Runner

CHANGES = [
    (["key", "enable", "{k}"], "EnableKey"),
    (["key", "disable", "{k}", "--yes"], "DisableKey"),
    (["key", "update-description", "{k}", "--description", "new words"], "UpdateKeyDescription"),
    (["key", "tag", "{k}", "team=payments"], "TagResource"),
    (["key", "untag", "{k}", "team"], "UntagResource"),
    (["key", "rotation", "{k}", "--enable"], "EnableKeyRotation"),
    (["key", "rotation", "{k}", "--disable"], "DisableKeyRotation"),
    (["alias", "create", "alias/new", "{k}"], "CreateAlias"),
    (["alias", "update", "alias/app", "{k}"], "UpdateAlias"),
    (["enable-key", "--key-id", "{k}"], "EnableKey"),  # the aws CLI's own spelling
    (["create-alias", "--alias-name", "alias/new", "--target-key-id", "{k}"], "CreateAlias"),
]
IDS = [" ".join(words[:2]) + (" " + words[3] if words[2:3] == ["{k}"] and len(words) > 3 else "")
       for words, _op in CHANGES]


def test_these_operations_return_nothing_in_the_aws_model():
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms")
    for _words, operation in CHANGES:
        shape = model.operation_model(operation).output_shape
        assert shape is None or not shape.members, operation


def run(session, words: list[str], fmt: str) -> tuple[int, str, str]:
    err = io.StringIO()
    session.stdout = out = io.BytesIO()
    code = Runner(session, stdout_tty=fmt == "table", stderr=err).run([*words, "--output", fmt])
    return code, out.getvalue().decode(), err.getvalue()


@pytest.fixture
def key(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key)
    return key


@pytest.mark.parametrize("fmt", ["json", "yaml", "text"])
@pytest.mark.parametrize("words, operation", CHANGES, ids=IDS)
def test_machine_formats_print_nothing_as_aws_does(session, unsealed_hsm, key, words, operation, fmt):
    words = [w.format(k=key) for w in words]
    code, out, err = run(session, words, fmt)
    assert (code, out) == (0, ""), err
    assert err.strip() and "\n" not in err.strip()  # one note on stderr naming the change
    session.close()
    names = [e["eventName"] for e in audit.read_events(unsealed_hsm.audit.path)]
    assert names[-1] == operation  # done, and no read made only to show the new state
    assert "DescribeKey" not in names and "ListAliases" not in names


@pytest.mark.parametrize("words, shows", [
    (["key", "disable", "{k}", "--yes"], "Disabled"),
    (["key", "update-description", "{k}", "--description", "new words"], "new words"),
    (["key", "tag", "{k}", "team=payments"], "payments"),
    (["alias", "create", "alias/new", "{k}"], "alias/new"),
], ids=["disable", "update-description", "tag", "alias-create"])
def test_a_table_shows_the_new_state(session, key, words, shows):
    code, out, err = run(session, [w.format(k=key) for w in words], "table")
    assert code == 0 and shows in out, err


def test_import_material_prints_its_response_as_aws_does(session, unsealed_hsm, tmp_path):
    """ImportKeyMaterial does answer (KeyId, KeyMaterialId in botocore's model), so the json is that answer."""
    import os

    key = unsealed_hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    session.execute(["key", "import-parameters", key, "--out-dir", str(tmp_path)])
    (tmp_path / "m.bin").write_bytes(os.urandom(32))
    code, out, err = run(session, ["key", "import-material", key, "--import-token-file",
                                   str(tmp_path / "ImportToken.bin"), "--raw-material-file", str(tmp_path / "m.bin"),
                                   "--public-key-file", str(tmp_path / "WrappingPublicKey.bin")], "json")
    assert code == 0, err
    assert set(json.loads(out)) == {"KeyId", "KeyMaterialId"}
