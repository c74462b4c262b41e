"""`key ...` through the real entry point (`python -m kmstui`, a pipe for stdin, so never a TTY), on a
fresh local HSM; a few checks in-process where a subprocess would add nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO / "samples" / "scripts").glob("*.kms"))



def create(run, *args) -> dict:
    return run.ok("key", "create", *args)["KeyMetadata"]


def state(backend, key_id: str) -> str:
    return backend.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


def test_create_returns_aws_key_metadata_and_every_reference_form_finds_it(run_kmstui, unsealed_hsm):
    md = create(run_kmstui, "--description", "app data", "--alias", "alias/app", "--tag", "team=pay")
    for field in ("AWSAccountId", "KeyId", "Arn", "CreationDate", "Enabled", "Description", "KeyUsage",
                  "KeyState", "KeySpec", "KeyManager", "Origin"):
        assert field in md
    assert (md["AWSAccountId"], md["Description"], md["KeyState"]) == ("111122223333", "app data", "Enabled")
    assert (md["KeySpec"], md["KeyUsage"], md["Origin"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_KMS")
    alias_arn = md["Arn"].replace(f"key/{md['KeyId']}", "alias/app")
    for ref in (md["KeyId"], md["Arn"], "alias/app", alias_arn, "local:alias/app"):
        assert run_kmstui.ok("key", "describe", ref)["KeyMetadata"]["KeyId"] == md["KeyId"]
    # The key may also be named with --key-id, as on encrypt and in the AWS CLI; but only once.
    assert run_kmstui.ok("key", "describe", "--key-id", "alias/app")["KeyMetadata"]["KeyId"] == md["KeyId"]
    twice = run_kmstui("key", "describe", "alias/app", "--key-id", "alias/app")
    assert twice.code == 252 and "once" in twice.err
    assert run_kmstui("key", "describe").code == 252
    tags = unsealed_hsm.list_resource_tags(KeyId=md["KeyId"])["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "pay"}]
    taken = run_kmstui("key", "create", "--alias", "alias/app")
    assert taken.code == 254 and "AlreadyExistsException" in taken.err
    assert len(unsealed_hsm.list_keys()["Keys"]) == 1  # the refused line created no unnamed key


def test_key_list_joins_aliases_in_json_and_table(run_kmstui, unsealed_hsm):
    a = unsealed_hsm.create_key(Description="first")["KeyMetadata"]["KeyId"]
    b = unsealed_hsm.create_key(Description="second", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/one", TargetKeyId=a)
    keys = {k["KeyId"]: k for k in run_kmstui.ok("key", "list", "--describe")["Keys"]}
    assert keys[a]["Aliases"] == ["alias/one"] and keys[b]["Aliases"] == []
    assert keys[b]["KeySpec"] == "HMAC_256" and keys[a]["Description"] == "first"
    table = run_kmstui("key", "list", "--output", "table")
    assert table.code == 0
    header, *rows = [line for line in table.out.splitlines() if line.strip() and not set(line) <= {"-", " "}]
    assert header.split()[:4] == ["Alias", "KeyId", "Description", "State"]
    assert any(row.startswith("alias/one") and a in row and "Enabled" in row for row in rows)
    unsealed_hsm.disable_key(KeyId=b)
    assert [k["KeyId"] for k in run_kmstui.ok("key", "list", "--state", "Disabled")["Keys"]] == [b]


def test_key_usage_is_required_except_for_symmetric_keys(run_kmstui, unsealed_hsm):
    """CreateKey KeyUsage: "This parameter is optional when you are creating a symmetric encryption KMS key;
    otherwise, it is required." No spec gets a silent default: the service's ValidationException, exit 254."""
    for spec in ("HMAC_256", "ECC_NIST_P256", "ECC_SECG_P256K1", "RSA_2048"):
        bad = run_kmstui("key", "create", "--key-spec", spec)
        assert bad.code == 254 and "ValidationException" in bad.err and "KeyUsage" in bad.err, spec
    assert create(run_kmstui, "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC")["KeyUsage"] == \
        "GENERATE_VERIFY_MAC"
    assert create(run_kmstui, "--key-spec", "RSA_2048", "--key-usage", "SIGN_VERIFY")["KeySpec"] == "RSA_2048"
    agreement = create(run_kmstui, "--key-spec", "ECC_NIST_P256", "--key-usage", "KEY_AGREEMENT")
    assert agreement["KeyUsage"] == "KEY_AGREEMENT" and agreement["KeyAgreementAlgorithms"] == ["ECDH"]
    assert "SigningAlgorithms" not in agreement
    k1 = run_kmstui("key", "create", "--key-spec", "ECC_SECG_P256K1", "--key-usage", "KEY_AGREEMENT")
    assert k1.code == 254 and "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1" in k1.err
    assert create(run_kmstui)["KeyUsage"] == "ENCRYPT_DECRYPT"  # SYMMETRIC_DEFAULT may leave it out
    bad_tag = run_kmstui("key", "create", "--tag", "novalue")
    assert bad_tag.code == 252 and "KEY=VALUE" in bad_tag.err
    assert len(unsealed_hsm.list_keys()["Keys"]) == 4  # the refused lines created nothing


def test_create_with_a_policy_file_checks_it_first(run_kmstui, unsealed_hsm, tmp_path):
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "Mine", "Effect": "Allow", "Action": "kms:*",
                                                       "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                                       "Resource": "*"}]}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(policy))
    bad.write_text(json.dumps(policy)[:-2])
    refused = run_kmstui("key", "create", "--policy", str(bad))
    assert refused.code == 252 and "invalid JSON" in refused.err and "column" in refused.err
    assert unsealed_hsm.list_keys()["Keys"] == []
    key = create(run_kmstui, "--policy", str(good))["KeyId"]
    stored = json.loads(unsealed_hsm.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert stored["Statement"][0]["Sid"] == "Mine"


def test_disable_asks_for_confirmation_and_a_disabled_key_refuses_to_encrypt(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/d", TargetKeyId=key)
    refused = run_kmstui("key", "disable", "alias/d")
    assert refused.code == 252 and "--yes" in refused.err
    assert state(unsealed_hsm, key) == "Enabled"
    assert run_kmstui.ok("key", "disable", "alias/d", "--yes") is None  # as aws kms disable-key: no output
    assert state(unsealed_hsm, key) == "Disabled"
    enc = run_kmstui("encrypt", "--key-id", "alias/d", "--plaintext", "x")
    assert enc.code == 254 and "DisabledException" in enc.err
    assert run_kmstui.ok("key", "enable", "alias/d") is None
    assert state(unsealed_hsm, key) == "Enabled"
    assert run_kmstui.ok("encrypt", "--key-id", "alias/d", "--plaintext", "x")["CiphertextBlob"]


def test_read_only_refuses_changes_but_allows_reading_and_encrypting(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    refused = run_kmstui("key", "create", "--read-only")
    assert refused.code == 252 and "read-only" in refused.err
    assert len(unsealed_hsm.list_keys()["Keys"]) == 1
    assert run_kmstui.ok("encrypt", "--key-id", key, "--plaintext", "hi", "--read-only")["CiphertextBlob"]
    assert run_kmstui.ok("key", "rotation", key, "--read-only")["KeyRotationEnabled"] is False
    rotation = run_kmstui("key", "rotation", key, "--enable", "--read-only")
    assert rotation.code == 252 and "read-only" in rotation.err
    assert unsealed_hsm.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False


def test_schedule_deletion_window_state_and_cancel(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    short = run_kmstui("key", "schedule-deletion", key, "--days", "3", "--yes")
    assert short.code == 254 and "ValidationException" in short.err and "7 and 30" in short.err
    scheduled = run_kmstui.ok("key", "schedule-deletion", key, "--days", "7", "--yes")
    assert scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7
    enc = run_kmstui("encrypt", "--key-id", key, "--plaintext", "x")
    assert enc.code == 254 and "KMSInvalidStateException" in enc.err
    assert run_kmstui.ok("key", "cancel-deletion", key) == {"KeyId": scheduled["KeyId"]}
    assert state(unsealed_hsm, key) == "Disabled"


def test_unknown_key_is_not_found(run_kmstui, unsealed_hsm):
    for args in (("key", "describe", "alias/missing"), ("key", "enable", "alias/missing"),
                 ("key", "describe", "1234abcd-12ab-34cd-56ef-1234567890ab")):
        result = run_kmstui(*args)
        assert result.code == 254 and "NotFoundException" in result.err, args


def test_rotation_on_demand_and_automatic(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/r", TargetKeyId=key)
    old = unsealed_hsm.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    assert run_kmstui.ok("key", "rotation", "alias/r", "--enable", "--period", "180") is None
    status = run_kmstui.ok("key", "rotation", "alias/r")
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 180
    bad = run_kmstui("key", "rotation", "alias/r", "--enable", "--period", "10")
    assert bad.code == 252 and "valid min value: 90" in bad.err
    run_kmstui.ok("key", "rotate", "alias/r")
    status = run_kmstui.ok("key", "rotation", "alias/r")
    assert [r["RotationType"] for r in status["Rotations"]] == ["ON_DEMAND"]
    assert unsealed_hsm.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    disabled = run_kmstui("key", "rotation", "alias/r", "--disable", "--output", "text")
    assert (disabled.code, disabled.out) == (0, "")  # as aws kms disable-key-rotation: no output
    text = run_kmstui("key", "rotation", "alias/r", "--output", "text")
    assert text.code == 0 and "automatic rotation: disabled" in text.out and "ON_DEMAND" in text.out


def test_tags_update_description(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/t", TargetKeyId=key)
    assert run_kmstui.ok("key", "tag", "alias/t", "owner=sec", "env=prod") is None
    tags = run_kmstui.ok("key", "tags", key)["Tags"]
    assert {t["TagKey"]: t["TagValue"] for t in tags} == {"owner": "sec", "env": "prod"}
    assert run_kmstui.ok("key", "untag", "alias/t", "env") is None
    assert run_kmstui.ok("key", "tags", key)["Tags"] == [{"TagKey": "owner", "TagValue": "sec"}]
    bad = run_kmstui("key", "tag", key, "oops")
    assert bad.code == 252 and "KEY=VALUE" in bad.err
    assert run_kmstui.ok("key", "update-description", "alias/t", "--description", "new words") is None
    assert run_kmstui.ok("key", "describe", key)["KeyMetadata"]["Description"] == "new words"


def test_public_key_pem_and_der_verify_a_signature(run_kmstui, unsealed_hsm, tmp_path):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = unsealed_hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    pem, der = tmp_path / "k.pem", tmp_path / "k.der"
    run_kmstui.ok("key", "public-key", key, "--out", str(pem))
    run_kmstui.ok("key", "public-key", key, "--out", str(der), "--format", "DER")
    public = serialization.load_pem_public_key(pem.read_bytes())
    assert public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == der.read_bytes()
    signature = unsealed_hsm.sign(KeyId=key, Message=b"m", MessageType="RAW",
                                  SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public.verify(signature, b"m", ec.ECDSA(hashes.SHA256()))
    printed = run_kmstui("key", "public-key", key, "--output", "text")
    assert printed.out.startswith("-----BEGIN PUBLIC KEY-----")
    again = run_kmstui("key", "public-key", key, "--out", str(pem))
    assert again.code == 252 and "--force" in again.err
    symmetric = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    assert run_kmstui("key", "public-key", symmetric).code == 254


def test_bring_your_own_key_material(run_kmstui, unsealed_hsm, tmp_path):
    md = create(run_kmstui, "--origin", "EXTERNAL", "--alias", "alias/byok")
    assert md["Origin"] == "EXTERNAL" and md["KeyState"] == "PendingImport"
    params = run_kmstui.ok("key", "import-parameters", "alias/byok", "--out-dir", str(tmp_path))
    assert sorted(Path(f).name for f in params["Files"]) == ["ImportToken.bin", "WrappingPublicKey.bin"]
    material = tmp_path / "material.bin"
    material.write_bytes(os.urandom(32))
    imported = run_kmstui.ok("key", "import-material", "alias/byok",
                  "--import-token-file", str(tmp_path / "ImportToken.bin"),
                  "--raw-material-file", str(material), "--public-key-file", str(tmp_path / "WrappingPublicKey.bin"))
    assert imported["KeyId"].endswith(md["KeyId"]) and imported["KeyMaterialId"]  # ImportKeyMaterial's response
    assert state(unsealed_hsm, md["KeyId"]) == "Enabled"
    blob = unsealed_hsm.encrypt(KeyId="alias/byok", Plaintext=b"own key")["CiphertextBlob"]
    assert unsealed_hsm.decrypt(CiphertextBlob=blob)["Plaintext"] == b"own key"
    again = run_kmstui("key", "import-parameters", "alias/byok", "--out-dir", str(tmp_path))
    assert again.code == 252 and "--force" in again.err  # never overwrites the files silently
    missing = run_kmstui("key", "import-material", "alias/byok", "--import-token-file", str(tmp_path / "nope"),
                         "--material-file", str(material))
    assert missing.code == 252 and "no such file" in missing.err


def test_help_lists_key_commands_with_summaries(session):
    help_result = session.execute(["help", "key"])
    text = json.dumps(help_result.data, default=str) + (help_result.text or "")
    for word in ("create", "schedule-deletion", "rotation", "import-material", "public-key"):
        assert word in text
    for command in session.registry:
        if command.path[0] in ("key", "alias", "policy", "encrypt", "decrypt", "data-key", "sign", "verify", "mac"):
            assert command.summary and all(arg.help for arg in command.args), command.name


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_sample_scripts_run_on_a_fresh_hsm(script, tmp_path, monkeypatch):
    monkeypatch.setenv("KMSTUI_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")
    init = subprocess.run([sys.executable, "-m", "kmstui", "hsm", "init"], cwd=tmp_path, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert init.returncode == 0, init.stderr  # nothing creates the HSM on the side (issue 12 item 3)
    proc = subprocess.run([sys.executable, "-m", "kmstui", "run", str(script)], cwd=tmp_path, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if script.stem == "quickstart":
        assert (tmp_path / "hello.txt").read_bytes() == b"hello, kmstui"
    if script.stem == "data-keys":
        assert (tmp_path / "data.key").read_bytes() == (tmp_path / "data.key.copy").read_bytes()
        assert (tmp_path / "data.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("alias, error", [
    ("alias/aws/mine", "InvalidAliasNameException"), ("alias/", "InvalidAliasNameException"),
    ("alias/has space", "ValidationException"), ("alias/" + "a" * 251, "ValidationException"),
    ("noprefix", "ValidationException"), ("alias/a:b", "ValidationException")])
def test_create_with_an_alias_kms_refuses_creates_no_key(session, unsealed_hsm, alias, error):
    """The alias is checked with CreateAlias's rules (kmstui.backends.aliasnames) before the key is made."""
    from kmstui import errors

    with pytest.raises(getattr(errors, error), match="no key was created"):
        session.execute(["key", "create", "--alias", alias])
    assert unsealed_hsm.list_keys()["Keys"] == []  # not an unnamed key left behind


def test_a_tag_key_given_twice_with_different_values_is_refused(session, unsealed_hsm):
    from kmstui.errors import UsageError

    with pytest.raises(UsageError, match="'team' is given twice"):
        session.execute(["key", "create", "--tag", "team=a", "--tag", "team=b"])
    assert unsealed_hsm.list_keys()["Keys"] == []
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(UsageError, match="e.g. team=payments"):  # positional pairs: no flag in the example
        session.execute(["key", "tag", key, "oops"])


def test_a_mistyped_profile_prefix_names_the_known_profiles(session, unsealed_hsm):
    from kmstui.errors import UsageError

    unsealed_hsm.create_key()
    with pytest.raises(UsageError, match=r"'prod:' in 'prod:alias/app' is not a profile \(known: local\)"):
        session.execute(["key", "describe", "prod:alias/app"])


def test_read_only_rotation_change_names_the_flag(session, unsealed_hsm):
    from kmstui.errors import UsageError

    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    session.options = session.options.replace(read_only=True)
    with pytest.raises(UsageError, match="'key rotation --disable'"):
        session.execute(["key", "rotation", key, "--disable"])


@pytest.fixture
def far_from_utc(monkeypatch):
    """The process's local time zone set to UTC-5 (so a naive time read as local time is 5 hours off)."""
    import time

    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_import_material_valid_to_without_a_zone_is_utc(session, unsealed_hsm, tmp_path, far_from_utc):
    from datetime import datetime, timezone

    key = unsealed_hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    session.execute(["key", "import-parameters", key, "--wrapping-key-spec", "RSA_2048", "--out-dir", str(tmp_path)])
    (tmp_path / "m.bin").write_bytes(os.urandom(32))
    md = session.execute(["key", "import-material", key, "--import-token-file", str(tmp_path / "ImportToken.bin"),
                          "--raw-material-file", str(tmp_path / "m.bin"),
                          "--public-key-file", str(tmp_path / "WrappingPublicKey.bin"),
                          "--valid-to", "2031-01-02T03:04:05"])
    valid_to = unsealed_hsm.describe_key(KeyId=key)["KeyMetadata"]["ValidTo"]
    valid_to = datetime.fromisoformat(valid_to) if isinstance(valid_to, str) else valid_to
    assert valid_to == datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
