"""`hsm ...` commands, in-process through Session and through the real CLI (`python -m kmstui`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kmstui.errors import ConfigError, SealedError, UsageError
from kmstui.session import Session

TEST_PASSPHRASE = "correct horse battery staple"  # the unsealed_hsm fixture's (tests/conftest.py); not imported:
# `from conftest import` picks up whichever conftest.py was loaded last (tests/plugins/envelope has one)

KMSTUI = [sys.executable, "-m", "kmstui"]


def run(*args, env_extra=None, input=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([*KMSTUI, *args], capture_output=True, text=True, env=env, input=input, timeout=60)


@pytest.fixture
def cheap_kdf(monkeypatch):
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")


def test_init_then_status_never_unseals(cheap_kdf, monkeypatch):
    s = Session(load_plugins=False)
    assert s.execute(["hsm", "status"]).data["Exists"] is False
    with pytest.raises(ConfigError, match="KMSTUI_PASSPHRASE"):
        s.execute(["hsm", "init"])
    answers = iter([TEST_PASSPHRASE, TEST_PASSPHRASE])
    s.prompt_secret = lambda _prompt: next(answers)
    data = s.execute(["hsm", "init", "--account-id", "123456789012", "--region", "eu-west-2"]).data
    assert (data["AccountId"], data["Region"], data["Slots"]) == ("123456789012", "eu-west-2", ["passphrase"])
    with pytest.raises(UsageError, match="already exists"):
        s.execute(["hsm", "init"])
    status = Session(load_plugins=False).execute(["hsm", "status"]).data
    assert status["Sealed"] is True and status["Mode"] == "0600" and status["Keys"] == 0
    assert status["Slots"][0]["Kdf"] == "scrypt"


def test_init_refuses_mismatched_passphrases_and_bad_identity(cheap_kdf):
    s = Session(load_plugins=False)
    answers = iter([TEST_PASSPHRASE, TEST_PASSPHRASE + "x"])
    s.prompt_secret = lambda _prompt: next(answers)
    with pytest.raises(UsageError, match="differ"):
        s.execute(["hsm", "init"])
    s.prompt_secret = lambda _prompt: TEST_PASSPHRASE
    with pytest.raises(UsageError, match="12 digits"):
        s.execute(["hsm", "init", "--account-id", "12"])
    assert not s.config.paths.data_dir.joinpath("hsm.kmstui").exists()


def test_a_missing_file_is_never_created_on_the_side(cheap_kdf, monkeypatch):
    """Issue 12 item 3: only `hsm init` (and the first-run flows that run it) creates the file; a passphrase in
    the environment, a terminal or --read-only change nothing: exit 253 naming the file and the command."""
    s = Session(load_plugins=False)
    path = s.config.paths.data_dir / "hsm.kmstui"
    for env in ({}, {"KMSTUI_PASSPHRASE": TEST_PASSPHRASE}):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        s.interactive = True
        s.prompt_secret = lambda _prompt: TEST_PASSPHRASE
        with pytest.raises(ConfigError, match="kmstui hsm init") as caught:
            s.backend()
        assert str(path) in str(caught.value) and caught.value.exit_code == 253
        assert not path.exists()
    s.execute(["hsm", "init"])
    assert s.backend().unsealed_by and path.exists()


def test_change_passphrase_rewraps_only_the_slot(session, unsealed_hsm, monkeypatch):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    blob = unsealed_hsm.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
    monkeypatch.setenv("KMSTUI_NEW_PASSPHRASE", "a brand new passphrase")
    session.execute(["hsm", "change-passphrase"])
    with pytest.raises(SealedError, match="wrong passphrase"):
        Session(load_plugins=False).backend()
    monkeypatch.setenv("KMSTUI_PASSPHRASE", "a brand new passphrase")
    backend = Session(load_plugins=False).backend()
    assert backend.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_backup_and_restore(session, unsealed_hsm, tmp_path):
    keep = unsealed_hsm.create_key(Description="before")["KeyMetadata"]["KeyId"]
    dest = tmp_path / "backup.kmstui"
    out = session.execute(["hsm", "backup", str(dest)]).data
    assert out["Bytes"] > 0 and oct(dest.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(UsageError, match="--force"):
        session.execute(["hsm", "backup", str(dest)])
    later = unsealed_hsm.create_key(Description="after")["KeyMetadata"]["KeyId"]
    with pytest.raises(UsageError, match="--yes"):
        session.execute(["hsm", "restore", str(dest)])
    session.execute(["hsm", "restore", str(dest), "--yes"])
    ids = {m["KeyId"] for m in unsealed_hsm.list_key_metadata()}  # an open connection sees the restored file
    assert keep in ids and later not in ids
    (tmp_path / "junk").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="not a kmstui HSM"):
        session.execute(["hsm", "restore", str(tmp_path / "junk"), "--yes"])


def test_cli_wrong_passphrase_exits_253(unsealed_hsm):
    result = run("key", "list", env_extra={"KMSTUI_PASSPHRASE": "wrong passphrase!"})
    assert result.returncode == 253, result.stderr
    assert "wrong passphrase" in result.stderr and "wrong passphrase!" not in result.stderr
    env = {k: v for k, v in os.environ.items() if k != "KMSTUI_PASSPHRASE"}
    sealed = subprocess.run([*KMSTUI, "key", "list"], capture_output=True, text=True, env=env, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert sealed.returncode == 253 and "hsm unseal" in sealed.stderr


def test_cli_init_status_and_missing_file(tmp_path):
    env = {"KMSTUI_KDF_COST": "8"}
    missing = run("key", "list", env_extra=env)
    assert missing.returncode == 253 and "hsm init" in missing.stderr
    created = run("hsm", "init", "--output", "json", env_extra={**env, "KMSTUI_PASSPHRASE": TEST_PASSPHRASE})
    assert created.returncode == 0, created.stderr
    assert TEST_PASSPHRASE not in created.stdout + created.stderr
    status = run("hsm", "status", "--output", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["Sealed"] is True


def test_backup_never_overwrites_the_live_file_or_its_companions(session, unsealed_hsm, tmp_path):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    live = unsealed_hsm.path
    for target in (live, f"{live}-wal", f"{live}-shm", unsealed_hsm.audit.path):
        with pytest.raises(UsageError, match="live HSM file"):
            session.execute(["hsm", "backup", str(target), "--force"])
    with pytest.raises(UsageError, match="is a folder"):
        session.execute(["hsm", "backup", str(tmp_path), "--force"])
    assert unsealed_hsm.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert unsealed_hsm.verify_audit()["Valid"]


def test_restore_refuses_the_live_file_and_folders(session, unsealed_hsm, tmp_path):
    with pytest.raises(UsageError, match="live HSM file"):
        session.execute(["hsm", "restore", str(unsealed_hsm.path), "--yes"])
    with pytest.raises(UsageError, match="is a folder"):
        session.execute(["hsm", "restore", str(tmp_path), "--yes"])


def test_backup_file_is_not_modified_by_a_restore(session, unsealed_hsm, tmp_path):
    dest = tmp_path / "b.kmstui"
    session.execute(["hsm", "backup", str(dest)])
    before = dest.read_bytes()
    session.execute(["hsm", "restore", str(dest), "--yes"])
    assert dest.read_bytes() == before and not (tmp_path / "b.kmstui-wal").exists()


def test_restoring_another_hsm_moves_the_old_audit_log_aside(session, unsealed_hsm, tmp_path, monkeypatch):
    from kmstui.backends.local.unseal import create_hsm

    unsealed_hsm.create_key()
    unsealed_hsm.audit.flush()
    other_path = tmp_path / "other.kmstui"
    store, _keys = create_hsm(other_path, TEST_PASSPHRASE)
    store.close()
    out = session.execute(["hsm", "restore", str(other_path), "--yes"])
    assert "OldAuditLog" in out.data and os.path.exists(out.data["OldAuditLog"])
    unsealed_hsm.close()
    fresh = Session(load_plugins=False)
    report = fresh.execute(["audit", "verify"])
    assert report.exit_code == 0, report.data
    fresh.close()


def test_init_on_a_folder_says_so(cheap_kdf, kmstui_home, monkeypatch):
    (kmstui_home / "data" / "hsm.kmstui").mkdir(parents=True)
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    with pytest.raises(UsageError, match="is a folder"):
        Session(load_plugins=False).execute(["hsm", "init"])
    with pytest.raises(ConfigError, match="is a folder"):
        Session(load_plugins=False).execute(["hsm", "status"])


def test_seal_in_a_session_drops_cached_key_objects(session, unsealed_hsm):
    """A REPL that runs `hsm seal` must not keep AES or private-key objects (key material) in its caches."""
    from kmstui.backends.local import keymaterial

    backend = session.backend()
    sym = backend.create_key()["KeyMetadata"]["KeyId"]
    ecc = backend.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    backend.encrypt(KeyId=sym, Plaintext=b"x")
    backend.sign(KeyId=ecc, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert keymaterial._aead.cache_info().currsize and keymaterial.private_key.cache_info().currsize
    session.execute(["hsm", "seal"])
    assert keymaterial._aead.cache_info().currsize == 0
    assert keymaterial.private_key.cache_info().currsize == 0
    assert "local" not in session.open_backends()


def _hsm_events(path):
    from kmstui import audit

    return [e for e in audit.read_events(path) if e.get("eventSource") == "hsm.kmstui.local"]


def test_hsm_commands_are_audited_without_passphrases(cheap_kdf, monkeypatch, tmp_path):
    from kmstui.backends.local.core import audit_path

    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    s = Session(load_plugins=False)
    path = s.config.paths.data_dir / "hsm.kmstui"
    try:
        assert s.execute(["hsm", "init", "--account-id", "123456789012"]).data["Audited"] is True
        assert s.execute(["hsm", "unseal", "--ttl", "60s"]).data["Audited"] is True
        s.backend().create_key()
        s.execute(["hsm", "backup", str(tmp_path / "b.kmstui")])
        monkeypatch.setenv("KMSTUI_NEW_PASSPHRASE", "a brand new passphrase")
        assert s.execute(["hsm", "change-passphrase"]).data["Audited"] is True
        monkeypatch.setenv("KMSTUI_PASSPHRASE", "a brand new passphrase")
        assert s.execute(["hsm", "restore", str(tmp_path / "b.kmstui"), "--yes"]).data["Audited"] is True
        assert s.execute(["hsm", "seal", "--all"]).data["Audited"] is True  # key taken from the agent first
    finally:
        s.execute(["hsm", "seal", "--all"])
        s.close()
    events = _hsm_events(audit_path(path))
    # the second seal had no key at hand (agent stopped; the restored file takes the old passphrase)
    assert [e["eventName"] for e in events] == ["InitHsm", "UnsealHsm", "ChangeHsmPassphrase", "RestoreHsm",
                                                "SealHsm"]
    assert events[0]["requestParameters"]["accountId"] == "123456789012"
    assert events[1]["requestParameters"] == {"ttlSeconds": 60, "unsealedWith": "env"}
    assert events[0]["userIdentity"]["type"] == "LocalUser"
    log = audit_path(path).read_text()
    assert TEST_PASSPHRASE not in log and "a brand new passphrase" not in log
    # the restored file is the backup (made before the passphrase change) but the log chain goes on intact
    fresh = Session(load_plugins=False)
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    assert fresh.execute(["audit", "verify"]).exit_code == 0
    fresh.close()


def test_seal_with_no_key_at_hand_records_nothing_and_says_so(unsealed_hsm, monkeypatch):
    monkeypatch.delenv("KMSTUI_PASSPHRASE")
    s = Session(load_plugins=False)
    assert s.execute(["hsm", "seal"]).data["Audited"] is False
    s.close()


def test_verify_reports_tampering_naming_it_and_accept_reseals(session, unsealed_hsm):
    import sqlite3

    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:role/App",
                              Operations=["Decrypt"])
    ok = session.execute(["hsm", "verify"])
    assert ok.exit_code == 0 and ok.data["Valid"] and ok.data["Audited"]
    conn = sqlite3.connect(str(unsealed_hsm.path))
    conn.execute("DELETE FROM grants")
    conn.commit()
    conn.close()
    bad = Session(load_plugins=False).execute(["hsm", "verify"])
    assert bad.exit_code == 1 and bad.data["Problems"] == [
        "grants: 1 grant row(s) missing (0 present, 1 sealed): deleted outside kmstui"]
    assert "FAILED verification" in bad.message and "grants: 1 grant row(s) missing" in bad.message
    accepted = Session(load_plugins=False).execute(["hsm", "verify", "--accept"])
    assert accepted.exit_code == 0 and accepted.data["AcceptedRows"]["grants"] == 0
    names = [e["eventName"] for e in _hsm_events(unsealed_hsm.audit.path)]
    assert names == ["VerifyHsm", "VerifyHsm", "AcceptHsmState", "VerifyHsm"]


def test_cli_verify_exit_codes(unsealed_hsm):
    import sqlite3

    unsealed_hsm.create_key()
    unsealed_hsm.close()
    assert run("hsm", "verify").returncode == 0
    conn = sqlite3.connect(str(unsealed_hsm.path))
    conn.execute("UPDATE keys SET deletion_due=1")
    conn.commit()
    conn.close()
    result = run("hsm", "verify")
    assert result.returncode == 1 and "due-time columns" in result.stdout + result.stderr


def test_init_exist_ok_accepts_an_existing_store_only_when_the_passphrase_unseals_it(cheap_kdf):
    env = {"KMSTUI_PASSPHRASE": TEST_PASSPHRASE}
    assert run("hsm", "init", env_extra=env).returncode == 0
    # A script can tell: plain init on an existing store refuses with the usage exit code.
    again = run("hsm", "init", env_extra=env)
    assert again.returncode == 252 and "already exists" in again.stderr and "--exist-ok" in again.stderr
    accepted = run("hsm", "init", "--exist-ok", "--output", "json", env_extra=env)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["Created"] is False and "nothing changed" in accepted.stderr
    wrong = run("hsm", "init", "--exist-ok", env_extra={"KMSTUI_PASSPHRASE": "not the passphrase"})
    assert wrong.returncode == 253 and "wrong passphrase" in wrong.stderr
    other = run("hsm", "init", "--exist-ok", "--region", "eu-north-1", env_extra=env)
    assert other.returncode == 252 and "region" in other.stderr


def test_init_exist_ok_creates_a_missing_store(cheap_kdf):
    created = run("hsm", "init", "--exist-ok", "--output", "json", env_extra={"KMSTUI_PASSPHRASE": TEST_PASSPHRASE})
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["Created"] is True


def test_each_wrong_passphrase_is_named_before_the_next_try(cheap_kdf, monkeypatch):
    """Every face (terminal getpass, the REPL's prompt, the TUI's passphrase dialog) shows the prompt text the
    core asks with, so the retry prompt itself says the previous try was wrong."""
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    assert run("hsm", "init").returncode == 0
    monkeypatch.delenv("KMSTUI_PASSPHRASE")
    prompts: list[str] = []
    answers = iter(["wrong one", "wrong two", TEST_PASSPHRASE])
    s = Session(load_plugins=False)
    s.prompt_secret = lambda prompt: prompts.append(prompt) or next(answers)
    s.execute(["key", "list"])
    assert len(prompts) == 3 and "wrong" not in prompts[0].lower()
    assert all(p.startswith("wrong passphrase") for p in prompts[1:]) and "2 of 3" in prompts[1]
    prompts.clear()
    answers = iter(["a", "b", "c"])
    s2 = Session(load_plugins=False)
    s2.prompt_secret = lambda prompt: prompts.append(prompt) or next(answers)
    with pytest.raises(SealedError, match="wrong passphrase"):
        s2.execute(["key", "list"])
    assert [p.startswith("wrong passphrase") for p in prompts] == [False, True, True]


def test_cli_reports_a_missing_file_in_every_mode(run_kmstui, kmstui_home):
    """A mistyped KMSTUI_HOME must not look like an empty HSM: `key list` exits 253 naming the file and
    `kmstui hsm init`, prints nothing on stdout, creates nothing, with a passphrase set and under --read-only."""
    env = {"KMSTUI_PASSPHRASE": TEST_PASSPHRASE, "KMSTUI_KDF_COST": "8"}
    for extra in ([], ["--read-only"], ["--output", "json"]):
        result = run_kmstui("key", "list", *extra, env=env)
        assert (result.code, result.out) == (253, ""), result.err
        assert "no HSM file at" in result.err and "kmstui hsm init" in result.err
    assert not (kmstui_home / "data" / "hsm.kmstui").exists()


def _delete_grants(path) -> None:
    import sqlite3

    conn = sqlite3.connect(str(path))
    conn.execute("DELETE FROM grants")
    conn.commit()
    conn.close()


def test_accept_is_refused_and_changes_nothing_when_its_audit_line_cannot_be_written(session, unsealed_hsm):
    """Issue 11 left-out: --accept resealed the rows in one transaction and wrote AcceptHsmState in another,
    so a log that cannot take a line (here its last line is not one kmstui wrote) left an unaudited change.
    Now the reseal and its line commit together or not at all."""
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:role/App",
                              Operations=["Decrypt"])
    unsealed_hsm.close()
    _delete_grants(unsealed_hsm.path)
    with unsealed_hsm.audit.path.open("ab") as log:
        log.write(b'{"eventName": "planted"}\n')
    refused = Session(load_plugins=False).execute(["hsm", "verify", "--accept"])
    assert refused.exit_code == 1 and "AcceptedRows" not in refused.data
    assert "--accept changed nothing: its audit line could not be written" in refused.data["AcceptRefused"]
    assert "--accept changed nothing" in refused.message
    again = Session(load_plugins=False).execute(["hsm", "verify"])
    assert "grants: 1 grant row(s) missing (0 present, 1 sealed): deleted outside kmstui" in again.data["Problems"]
    assert b"AcceptHsmState" not in unsealed_hsm.audit.path.read_bytes()


def test_accept_of_damaged_rows_and_a_cut_log_records_both_in_one_line(session, unsealed_hsm, run_kmstui):
    """Rows deleted and the log's last lines cut: `audit acknowledge-gap` cannot open the file (its rows fail
    their check) and, before, --accept resealed the rows but could not chain its line onto the gap, so the
    change went unaudited. Now the AcceptHsmState line records the gap too, and everything works after it."""
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:role/App",
                              Operations=["Decrypt"])
    unsealed_hsm.disable_key(KeyId=key)
    unsealed_hsm.close()
    _delete_grants(unsealed_hsm.path)
    log = unsealed_hsm.audit.path
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]))  # the sealed DisableKey line is gone
    assert run_kmstui("audit", "acknowledge-gap").code == 254  # the rows fail their check first
    accepted = Session(load_plugins=False).execute(["hsm", "verify", "--accept"])
    assert accepted.exit_code == 0, accepted.message
    assert accepted.data["AcceptedRows"]["grants"] == 0
    (event,) = [e for e in _hsm_events(log) if e["eventName"] == "AcceptHsmState"]
    assert event["additionalEventData"]["missingEvents"] == 1
    assert any("grant row(s) missing" in p for p in event["requestParameters"]["problems"])
    assert run_kmstui("key", "list").code == 0
    assert run_kmstui("audit", "verify").code == 0


def test_change_passphrase_is_refused_when_its_audit_line_cannot_be_written(session, unsealed_hsm, monkeypatch):
    """The new slot was committed first and ChangeHsmPassphrase written after, in another transaction, and not
    at all when the log could not take a line ("Audited: false"): a change without its line. Now both commit
    together or the passphrase stays as it was."""
    from kmstui.backends.local.unseal import with_passphrase

    unsealed_hsm.create_key()
    unsealed_hsm.close()
    with unsealed_hsm.audit.path.open("ab") as log:
        log.write(b'{"eventName": "planted"}\n')
    monkeypatch.setenv("KMSTUI_NEW_PASSPHRASE", "a brand new passphrase")
    with pytest.raises(ConfigError, match="the passphrase was not changed: its audit line could not be written"):
        Session(load_plugins=False).execute(["hsm", "change-passphrase"])
    from kmstui.backends.local.store import Store

    store = Store.open(unsealed_hsm.path)
    try:
        assert with_passphrase(store, TEST_PASSPHRASE) is not None  # the old one still opens the file
        assert with_passphrase(store, "a brand new passphrase") is None
    finally:
        store.close()
    assert b"ChangeHsmPassphrase" not in unsealed_hsm.audit.path.read_bytes()
