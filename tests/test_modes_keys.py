"""The scripted modes with real keys in a local HSM (unsealed through KMSTUI_PASSPHRASE): AWS-shaped
output, KMS error names and exit codes, confirmations, --read-only, scripts stopping at a backend error."""

from __future__ import annotations

import base64
import json

import pytest


@pytest.fixture
def app_key(unsealed_hsm, run_kmstui):
    r = run_kmstui("key", "create", "--description", "payments", "--alias", "alias/app", "--output", "json")
    assert r.code == 0, r.err
    return json.loads(r.out)["KeyMetadata"]["KeyId"]


def test_key_list_json_and_query(run_kmstui, app_key):
    r = run_kmstui("key", "list", "--output", "json")
    assert r.code == 0, r.err
    keys = json.loads(r.out)["Keys"]
    assert [k["KeyId"] for k in keys] == [app_key] and set(keys[0]) == {"KeyId", "KeyArn"}  # ListKeys' shape
    described = json.loads(run_kmstui("key", "list", "--describe", "--output", "json").out)["Keys"]
    assert described[0]["Aliases"] == ["alias/app"] and described[0]["Description"] == "payments"
    q = run_kmstui("key", "list", "--query", "Keys[0].KeyId", "--output", "text")
    assert q.out.strip() == app_key
    table = run_kmstui("--output", "table", "key", "list").out
    assert "alias/app" in table and app_key in table and "Enabled" in table


def test_encrypt_prints_base64_and_decrypt_round_trips(run_kmstui, app_key, tmp_path):
    r = run_kmstui("encrypt", "--key-id", "alias/app", "--plaintext", "hello", "--context", "app=pay")
    assert r.code == 0, r.err
    blob = base64.b64decode(json.loads(r.out)["CiphertextBlob"])
    (tmp_path / "ct").write_bytes(blob)
    d = run_kmstui("decrypt", "--in", str(tmp_path / "ct"), "--context", "app=pay", "--output", "json")
    assert d.code == 0, d.err
    assert base64.b64decode(json.loads(d.out)["Plaintext"]) == b"hello"
    wrong = run_kmstui("decrypt", "--in", str(tmp_path / "ct"), "--context", "app=other")
    assert wrong.code == 254
    assert wrong.errors[-1].startswith("kmstui: error: InvalidCiphertextException:")
    assert "hello" not in wrong.err


def test_backend_error_is_254_with_the_kms_name(run_kmstui, unsealed_hsm):
    r = run_kmstui("key", "describe", "alias/nope")
    assert r.code == 254
    assert r.errors == [e for e in r.errors if e.startswith("kmstui: error: NotFoundException:")] and r.errors
    assert "Traceback" not in r.err


def test_sealed_without_passphrase_or_agent_is_253(run_kmstui, unsealed_hsm):
    r = run_kmstui("key", "list", env={"KMSTUI_PASSPHRASE": ""})
    assert r.code == 253
    assert "unseal" in r.err


def test_confirmation_needs_a_tty_or_yes(run_kmstui, app_key):
    r = run_kmstui("key", "disable", "alias/app")
    assert r.code == 252
    state = json.loads(run_kmstui("key", "describe", "alias/app").out)["KeyMetadata"]["KeyState"]
    assert state == "Enabled"
    assert run_kmstui("key", "disable", "alias/app", "--yes").code == 0
    state = json.loads(run_kmstui("key", "describe", "alias/app").out)["KeyMetadata"]["KeyState"]
    assert state == "Disabled"


def test_read_only_allows_reads_and_refuses_changes(run_kmstui, app_key):
    assert run_kmstui("--read-only", "key", "list").code == 0
    r = run_kmstui("--read-only", "-c", "key create --description x")
    assert r.code == 252 and "read-only" in r.err
    r = run_kmstui("alias", "create", "alias/two", app_key, "--read-only")
    assert r.code == 252
    assert len(json.loads(run_kmstui("key", "list").out)["Keys"]) == 1


def test_script_stops_at_a_backend_error_and_names_the_line(run_kmstui, app_key, tmp_path):
    script = tmp_path / "ops.kms"
    script.write_text("key describe alias/app --output json\n"
                      "key describe alias/missing\n"
                      "key create --description never\n")
    r = run_kmstui("run", str(script))
    assert r.code == 254
    assert f"{script}:2: error: NotFoundException:" in r.err
    assert len(json.loads(run_kmstui("key", "list").out)["Keys"]) == 1
    r = run_kmstui("run", str(script), "--keep-going")
    assert r.code == 254
    assert len(json.loads(run_kmstui("key", "list").out)["Keys"]) == 2


def test_piped_commands_share_one_process(run_kmstui, unsealed_hsm):
    r = run_kmstui(input="key create --alias alias/a --output text --query KeyMetadata.KeyId\n"
                         "alias list --output json\n")
    assert r.code == 0, r.err
    key_id = r.out.splitlines()[0]
    aliases = json.loads(r.out[len(key_id) + 1:])["Aliases"]
    assert any(a["AliasName"] == "alias/a" and a.get("TargetKeyId") == key_id for a in aliases)


def test_backend_list_reports_the_existing_file(run_kmstui, unsealed_hsm):
    rows = json.loads(run_kmstui("backend", "list").out)["Backends"]
    local = {r["Profile"]: r for r in rows}["local"]
    assert local["Reachable"] is True and local["Location"] == str(unsealed_hsm.path)
