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
