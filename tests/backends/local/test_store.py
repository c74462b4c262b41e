"""The HSM file itself: other files are never touched, user mistakes get one-line errors, deleted keys leave
no sealed material behind, creation is all-or-nothing, and SQLite failures surface as KMS errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from kmstui.backends.local import store as store_mod
from kmstui.backends.local.store import Store
from kmstui.backends.local.unseal import create_hsm
from kmstui.errors import ConfigError, DependencyTimeoutException, KMSInternalException

TEST_PASSPHRASE = "correct horse battery staple"  # the unsealed_hsm fixture's (tests/conftest.py); not imported:
# `from conftest import` picks up whichever conftest.py was loaded last (tests/plugins/envelope has one)


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    other = tmp_path / "places.sqlite"
    conn = sqlite3.connect(str(other))
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(ConfigError, match="not a kmstui HSM file"):
        Store.open(other)
    assert other.read_bytes() == before  # no switch to WAL mode
    empty = tmp_path / "empty.kmstui"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="not a kmstui HSM file"):
        Store.open(empty)
    assert empty.read_bytes() == b""


def test_a_folder_as_the_path_says_so(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        Store.open(tmp_path)


def test_loosened_permissions_are_put_back(unsealed_hsm):
    os.chmod(unsealed_hsm.path, 0o644)
    Store.open(unsealed_hsm.path).close()
    assert oct(os.stat(unsealed_hsm.path).st_mode & 0o777) == "0o600"


@pytest.fixture
def readonly_mount(tmp_path):
    """A real read-only file system (a tmpfs remounted ro); skipped where mounting is not allowed."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_read_only_file_system_gives_one_line_errors(readonly_mount, monkeypatch):
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")
    store, _keys = create_hsm(readonly_mount / "hsm.kmstui", TEST_PASSPHRASE)
    store.close()
    subprocess.run(["mount", "-o", "remount,ro", str(readonly_mount)], check=True)
    with pytest.raises(ConfigError, match="read-only file system or no permission"):
        Store.open(readonly_mount / "hsm.kmstui")
    with pytest.raises(ConfigError, match="cannot create the HSM file"):
        create_hsm(readonly_mount / "sub" / "new.kmstui", TEST_PASSPHRASE)


def test_deleted_key_leaves_no_sealed_material_in_the_file(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    sealed = bytes(hsm.store.conn.execute("SELECT sealed FROM material WHERE key_id=?", (key,)).fetchone()[0])
    hsm.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert sealed in hsm.path.read_bytes()
    hsm.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    hsm.clock = lambda: time.time() + 8 * 86400
    assert hsm.apply_due_events() == 1
    hsm.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert sealed not in hsm.path.read_bytes()


def test_creation_is_all_or_nothing(tmp_path, monkeypatch):
    """A failure while writing the identity leaves no half-made file that would open with a wrong account."""
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")

    def broken(self, name, doc):
        raise OSError("disk died")

    monkeypatch.setattr(Store, "set_meta_doc", broken)
    with pytest.raises(OSError):
        create_hsm(tmp_path / "h.kmstui", TEST_PASSPHRASE)
    assert not (tmp_path / "h.kmstui").exists()


LOCKER = r"""
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(30)
"""


def test_a_locked_file_gives_dependency_timeout(unsealed_hsm, monkeypatch):
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(unsealed_hsm.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        unsealed_hsm.store.conn.execute("PRAGMA busy_timeout=100")
        with pytest.raises(DependencyTimeoutException, match="locked by another process"):
            unsealed_hsm.create_key()
    finally:
        locker.kill()
        locker.wait()
        locker.stdout.close()
    assert unsealed_hsm.create_key()["KeyMetadata"]["KeyState"] == "Enabled"


def test_other_sqlite_failures_are_kms_internal_errors(unsealed_hsm):
    with pytest.raises(KMSInternalException, match="could not write the HSM file"):
        with unsealed_hsm.store.transaction() as conn:
            conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert not unsealed_hsm.store.in_transaction
    assert store_mod.BUSY_TIMEOUT_MS >= 1000


# -- contention at open: "locking protocol" and "database is locked" are not a damaged file ---------------
class _LostRace:
    """A connection whose first statement loses WAL's read race for good: SQLite's SQLITE_PROTOCOL."""

    def execute(self, *args):
        exc = sqlite3.OperationalError("locking protocol")
        exc.sqlite_errorcode = sqlite3.SQLITE_PROTOCOL
        raise exc

    def close(self):
        pass


def test_open_tries_again_after_losing_the_wal_locking_race(unsealed_hsm, monkeypatch):
    """https://www.sqlite.org/rescode.html#protocol: SQLITE_PROTOCOL means a connection lost the race to start a
    transaction in WAL mode dozens of times; "the loser of the race backs off and tries again". It was seen
    with writers killed and restarted in a loop (tests/adversarial/test_sigkill_writers.py), and was reported
    as "not a kmstui HSM file", which tells the user to restore a backup of a file that is fine."""
    path = unsealed_hsm.store.path
    unsealed_hsm.close()
    real, calls = Store._connect, []

    def connect(p):
        calls.append(p)
        return _LostRace() if len(calls) == 1 else real(p)

    monkeypatch.setattr(Store, "_connect", staticmethod(connect))
    store = Store.open(path)
    store.close()
    assert len(calls) == 2


def test_open_that_keeps_losing_the_race_says_try_again_not_damaged(unsealed_hsm, monkeypatch):
    path = unsealed_hsm.store.path
    unsealed_hsm.close()
    monkeypatch.setattr(Store, "_connect", staticmethod(lambda p: _LostRace()))
    with pytest.raises(DependencyTimeoutException, match="another process kept it locked.*try again") as info:
        Store.open(path)
    assert "not a kmstui HSM file" not in str(info.value) and "\n" not in str(info.value)


def test_open_of_a_file_another_process_holds_exclusively_says_try_again(unsealed_hsm, monkeypatch):
    path = unsealed_hsm.store.path
    unsealed_hsm.close()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE meta SET value=value WHERE name='format'")
    holder.execute("COMMIT")  # the exclusive lock stays with `holder` until it closes
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_MS", 200)
    try:
        with pytest.raises(DependencyTimeoutException, match="another process kept it locked.*try again"):
            Store.open(path)
    finally:
        holder.close()
    Store.open(path).close()


def test_a_write_that_loses_the_race_is_refused_whole_with_try_again(unsealed_hsm):
    """The same race at COMMIT (seen in the same campaign before this fix, as "could not write"): the
    transaction is rolled back and the caller told to try again; the file is unchanged."""
    store = unsealed_hsm.store
    before = store.meta_raw("format")
    exc = sqlite3.OperationalError("locking protocol")
    exc.sqlite_errorcode = sqlite3.SQLITE_PROTOCOL
    failure = store._failure(exc)
    assert isinstance(failure, DependencyTimeoutException)
    assert "try again" in str(failure) and "15 s" not in str(failure)
    assert store.meta_raw("format") == before
