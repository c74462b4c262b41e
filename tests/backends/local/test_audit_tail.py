"""The audit log's tail is proven before anything is chained onto it (issue 11 item 2).

A torn last line (a write cut short: no newline) is cut off and the cut recorded in the chain; complete lines
missing (the log ends before the head sealed in the HSM file, or that head's row is gone) refuse every call,
reads included, until `audit acknowledge-gap` records the gap. A change and its line commit together.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from kmstui.audit import AuditGapError, read_events
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import Store
from kmstui.errors import ConfigError, KMSInternalException


def reopen(hsm) -> LocalBackend:
    """A second process's view of the file (a fresh connection and log descriptor)."""
    return LocalBackend(Store.open(hsm.path), hsm._keys)


def cut_lines(log, n: int) -> bytes:
    data = log.read_bytes()
    lines = data.splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-n]))
    return b"".join(lines[-n:])


def events(hsm) -> list[dict]:
    return list(read_events(hsm.audit.path))


def every_kind_of_call(backend, key: str) -> list:
    """One read, one cryptographic call, one listing and one change: each must be refused."""
    return [lambda: backend.describe_key(KeyId=key), lambda: backend.encrypt(KeyId=key, Plaintext=b"x"),
            lambda: backend.list_key_metadata(), lambda: backend.list_keys(),
            lambda: backend.disable_key(KeyId=key), lambda: backend.create_key()]


def test_a_truncated_log_refuses_every_call_until_the_gap_is_acknowledged(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.disable_key(KeyId=key)
    hsm.enable_key(KeyId=key)
    hsm.close()
    before = hsm.audit.path.read_bytes()
    cut_lines(hsm.audit.path, 1)  # the sealed EnableKey line
    other = reopen(hsm)
    for call in every_kind_of_call(other, key):
        with pytest.raises(AuditGapError, match="acknowledge-gap"):
            call()
    assert hsm.audit.path.read_bytes() == before[: len(hsm.audit.path.read_bytes())]  # nothing chained on
    report = other.verify_audit()
    assert not report["Valid"] and "sealed head is event 3" in report["Problem"]
    recorded = other.acknowledge_audit_gap("lost with the old disk")
    assert recorded["missingEvents"] == 1 and recorded["logEndsAtSeq"] == 2 and recorded["sealedHeadSeq"] == 3
    assert other.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    report = other.verify_audit()
    assert report["Valid"], report
    (gap,) = report["AcknowledgedGaps"]
    assert gap["missingEvents"] == 1 and gap["Seq"] == 3
    ack = [e for e in events(hsm) if e["eventName"] == "AcknowledgeAuditGap"]
    assert ack[0]["requestParameters"] == {"reason": "lost with the old disk"}
    assert other.acknowledge_audit_gap() is None  # nothing more to acknowledge
    other.close()


def test_the_truncation_is_noticed_by_a_process_that_already_checked_the_tail(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    other = reopen(hsm)
    other.encrypt(KeyId=key, Plaintext=b"x")  # this process has proven the tail once
    hsm.disable_key(KeyId=key)  # sealed at once
    cut_lines(hsm.audit.path, 1)
    with pytest.raises(AuditGapError):
        other.encrypt(KeyId=key, Plaintext=b"x")
    with pytest.raises(AuditGapError):  # and stays refused
        other.list_keys()
    other.close()


def test_a_deleted_head_row_is_evidence_loss_not_a_fresh_start(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.close()
    conn = sqlite3.connect(hsm.path)
    conn.execute("DELETE FROM meta WHERE name='audit_head'")
    conn.commit()
    conn.close()
    other = reopen(hsm)
    with pytest.raises(AuditGapError, match="sealed audit head is missing"):
        other.encrypt(KeyId=key, Plaintext=b"x")
    assert other.store.meta_raw("audit_head") is None  # never silently re-created
    assert not other.verify_audit()["Valid"]
    assert other.acknowledge_audit_gap()["sealedHeadSeq"] is None
    other.encrypt(KeyId=key, Plaintext=b"x")
    assert other.verify_audit()["Valid"]
    other.close()


def test_a_torn_last_line_is_cut_off_and_the_cut_recorded(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.close()
    torn = b'{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"torn-here'  # a crash or full disk mid-write
    with open(hsm.audit.path, "ab") as fh:
        fh.write(torn)
    other = reopen(hsm)
    other.encrypt(KeyId=key, Plaintext=b"x")
    names = [e["eventName"] for e in events(hsm)]
    assert names[-2:] == ["RecoverAuditLogTail", "Encrypt"]
    recovery = events(hsm)[-2]["additionalEventData"]
    assert recovery["removedBytes"] == len(torn) and recovery["afterSeq"] == 1
    assert torn not in hsm.audit.path.read_bytes()
    report = other.verify_audit()
    assert report["Valid"] and len(report["RecoveredTornLines"]) == 1
    other.close()


def test_a_sealed_line_cut_in_half_is_not_taken_for_a_torn_write(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.disable_key(KeyId=key)  # sealed at once: event 2
    hsm.close()
    data = hsm.audit.path.read_bytes()
    hsm.audit.path.write_bytes(data[:-40])
    other = reopen(hsm)
    with pytest.raises(AuditGapError, match="event 1 but the HSM file sealed event 2"):
        other.describe_key(KeyId=key)
    assert hsm.audit.path.read_bytes() == data[:-40]  # the evidence is left as it is
    other.close()


def test_a_forged_last_line_is_refused_and_cannot_be_chained_onto(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.close()
    line = hsm.audit.path.read_bytes().splitlines()[-1]
    forged = json.loads(line)
    forged["seq"], forged["eventName"] = 99, "EnableKey"
    with open(hsm.audit.path, "ab") as fh:
        fh.write(json.dumps(forged).encode() + b"\n")
    other = reopen(hsm)
    with pytest.raises(AuditGapError, match="not a record kmstui wrote"):
        other.encrypt(KeyId=key, Plaintext=b"x")
    with pytest.raises(ConfigError, match="move the log aside"):
        other.acknowledge_audit_gap()
    aside = hsm.audit.path.with_name("evidence.jsonl")
    hsm.audit.path.rename(aside)
    assert other.acknowledge_audit_gap()["missingEvents"] == 1
    other.encrypt(KeyId=key, Plaintext=b"x")
    assert other.verify_audit()["Valid"]
    other.close()


def test_a_change_whose_commit_fails_keeps_no_success_line(unsealed_hsm, monkeypatch):
    """The line of a change is written inside its transaction: if COMMIT fails the line is cut off again and
    the failure is recorded instead, so the log never claims a change the file does not hold."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]

    def full(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(hsm.store, "_fold_pending", full)
    with pytest.raises(KMSInternalException, match="disk is full"):
        hsm.disable_key(KeyId=key)
    monkeypatch.undo()
    assert hsm.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    disables = [e for e in events(hsm) if e["eventName"] == "DisableKey"]
    assert len(disables) == 1 and disables[0]["errorCode"] == "KMSInternalException"
    assert hsm.verify_audit()["Valid"]


def test_cli_truncation_then_any_command_is_refused_with_one_line(unsealed_hsm, run_kmstui):
    """The issue's reproduction: truncate the last line, run any command; verify must not say intact."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.disable_key(KeyId=key)
    hsm.close()
    cut_lines(hsm.audit.path, 1)
    for words in (["random", "--number-of-bytes", "4"], ["key", "list"], ["key", "describe", "--key-id", key]):
        run = run_kmstui(*words)
        assert run.code == 253, run
        assert run.err.count("\n") == 1 and "acknowledge-gap" in run.err and "Traceback" not in run.err
    assert run_kmstui("audit", "verify").code == 1
    verify = run_kmstui("hsm", "verify", "--output", "json")
    assert verify.code == 1 and "sealed head" in json.dumps(json.loads(verify.out)["Problems"])
    ack = run_kmstui("audit", "acknowledge-gap", "--reason", "test")
    assert ack.code == 0, ack
    assert run_kmstui("random", "--number-of-bytes", "4").code == 0
    final = run_kmstui("audit", "verify")
    assert final.code == 0 and "acknowledged gap" in final.err


def test_acknowledge_gap_is_refused_in_read_only_mode(unsealed_hsm, run_kmstui):
    assert run_kmstui("--read-only", "audit", "acknowledge-gap").code == 252


def test_restoring_a_backup_without_its_log_records_the_gap_in_the_restore_event(session, unsealed_hsm, tmp_path):
    """A backup does not carry its audit log: restoring it where that log is absent is the explicit, audited
    step that records the missing lines, so work goes on and `audit verify` names the gap."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.disable_key(KeyId=key)
    backup = tmp_path / "b.kmstui"
    session.execute(["hsm", "backup", str(backup)])
    hsm.close()
    session.close()
    hsm.audit.path.rename(tmp_path / "elsewhere.jsonl")  # the log is not where the file is restored
    os.unlink(hsm.path)
    from kmstui.session import Session

    fresh = Session(load_plugins=False)
    out = fresh.execute(["hsm", "restore", str(backup), "--yes"])
    assert out.data["Audited"] is True
    (restore,) = [e for e in read_events(hsm.audit.path) if e["eventName"] == "RestoreHsm"]
    assert restore["additionalEventData"]["missingEvents"] >= 2
    assert fresh.backend().describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    report = fresh.execute(["audit", "verify"])
    assert report.exit_code == 0 and report.data["Valid"]
    assert [g["Event"] for g in report.data["AcknowledgedGaps"]] == ["RestoreHsm"]
    fresh.close()


def test_read_only_backend_refuses_acknowledge_gap_itself(unsealed_hsm):
    """Fail closed: `audit acknowledge-gap` is refused under --read-only by its command (mutates=True) and,
    as a second layer, by the session's backend wrapper, so no other caller (a plugin, a face) can record a
    gap and reseal the head through a read-only session."""
    from kmstui.errors import UsageError
    from kmstui.session import Options, Session

    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.disable_key(KeyId=key)
    hsm.close()
    cut_lines(hsm.audit.path, 1)
    before = hsm.audit.path.read_bytes()
    session = Session(options=Options(read_only=True))
    try:
        with pytest.raises(UsageError, match="read-only mode: acknowledge_audit_gap would change the backend"):
            session.backend().acknowledge_audit_gap("through a plugin")
    finally:
        session.close()
    assert hsm.audit.path.read_bytes() == before


def test_read_only_backend_refuses_every_operation_that_changes_the_store(unsealed_hsm):
    """Every public method of the local backend is either declared as changing the store (refused by a
    read-only session's wrapper whatever calls it) or listed here as leaving it unchanged; a new method
    fails this test until it is classified."""
    from kmstui.backends.base import MUTATING_OPERATIONS, OPERATIONS
    from kmstui.backends.local.backend import LocalBackend
    from kmstui.errors import UsageError
    from kmstui.session import Options, Session

    unchanged = {name for name in OPERATIONS if name not in MUTATING_OPERATIONS} | {
        "access_key", "acting_as", "alias_arn", "aliases_of", "assume_role", "get_session_token",  # sealed tokens
        "audit_anchor", "boundary_for",
        "caller", "caller_arn", "capabilities", "close", "describe_org_policy", "describe_organization",
        "get_permissions_boundary", "get_role", "grant", "grant_id_from_token", "grants_for_grantee",
        "grants_for_key", "iam_policies_for", "info", "key_arn", "key_metadata", "key_policy", "kind",
        "list_access_keys", "list_key_metadata", "list_org_policies", "list_organizational_units_for_parent",
        "list_roles", "list_roots", "list_targets_for_policy", "open_session", "organization_state", "require",
        "resolve", "role", "role_arn", "root_key", "seal_session", "set_caller", "supports",
        "trust_policy_document", "user_arn", "verify_audit",
        "apply_due_events",  # the service's own scheduled deletions: AWS applies them whoever is reading
    }
    public = {name for name in dir(LocalBackend) if not name.startswith("_")}
    assert public - unchanged - MUTATING_OPERATIONS == set(), "classify these methods"
    unsealed_hsm.create_key()
    lines = unsealed_hsm.audit.path.read_bytes()
    session = Session(options=Options(read_only=True))
    try:
        view = session.backend()
        for name in sorted(public & MUTATING_OPERATIONS):
            with pytest.raises(UsageError, match=f"read-only mode: {name} would change"):
                getattr(view, name)()
    finally:
        session.close()
    assert unsealed_hsm.audit.path.read_bytes() == lines  # refused before the backend saw any of them
