"""`audit show` and `audit verify`, in-process and through the CLI (exit 1 on a broken chain)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kmstui.session import Session


def test_show_filters_by_key_and_alias(session, unsealed_hsm):
    a = unsealed_hsm.create_key()["KeyMetadata"]
    b = unsealed_hsm.create_key()["KeyMetadata"]
    unsealed_hsm.create_alias(AliasName="alias/b", TargetKeyId=b["KeyId"])
    unsealed_hsm.encrypt(KeyId=a["KeyId"], Plaintext=b"x", EncryptionContext={"who": "a"})
    unsealed_hsm.encrypt(KeyId="alias/b", Plaintext=b"x")
    events = session.execute(["audit", "show", "--key-id", "alias/b"]).data["Events"]
    assert {e["eventName"] for e in events} >= {"CreateKey", "CreateAlias", "Encrypt"}
    assert all(e["resources"][0]["ARN"] == b["Arn"] for e in events)
    last = session.execute(["audit", "show", "--limit", "1", "--key-id", a["KeyId"]]).data["Events"]
    assert len(last) == 1 and last[0]["requestParameters"]["encryptionContext"] == {"who": "a"}


def test_failures_are_audited_with_error_code(session, unsealed_hsm):
    import pytest

    from kmstui.errors import NotFoundException

    with pytest.raises(NotFoundException):
        unsealed_hsm.encrypt(KeyId="alias/nope", Plaintext=b"x")
    event = session.execute(["audit", "show", "--limit", "1"]).data["Events"][0]
    assert event["eventName"] == "Encrypt" and event["errorCode"] == "NotFoundException"


def test_verify_in_process_and_cli_exit_codes(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(3):
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")
    unsealed_hsm.audit.flush()
    result = Session(load_plugins=False).execute(["audit", "verify"])
    assert result.exit_code == 0 and result.data["Valid"]
    ok = subprocess.run([sys.executable, "-m", "kmstui", "audit", "verify", "--output", "json"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)["Valid"] is True
    log = unsealed_hsm.audit.path
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-2]))
    bad = subprocess.run([sys.executable, "-m", "kmstui", "audit", "verify", "--output", "json"],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert report["Valid"] is False and "truncated" in report["Problem"]


def test_every_change_anchors_the_sealed_head_at_once(unsealed_hsm):
    """Deleting the newest lines right after a change (before any flush or exit) is still detected."""
    from kmstui.backends.local.backend import LocalBackend
    from kmstui.backends.local.store import Store

    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.disable_key(KeyId=key)
    head = hsm.store.meta_doc("audit_head")
    assert head["seq"] == hsm.audit.head().seq == 2
    log = hsm.audit.path
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:-1]))
    other = LocalBackend(Store.open(hsm.path), hsm._keys)
    report = other.verify_audit()
    other.close()
    assert not report["Valid"] and "truncated" in report["Problem"]


def test_show_table_names_each_event_key(session, unsealed_hsm):
    from kmstui.commands.render import render

    key = unsealed_hsm.create_key()["KeyMetadata"]
    unsealed_hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    table = render(session.execute(["audit", "show"]), "table")
    header, _rule, *rows = table.splitlines()
    assert "Key" in header.split()
    encrypt_row = next(row for row in rows if " Encrypt " in f" {row} ")
    assert key["Arn"] in encrypt_row
