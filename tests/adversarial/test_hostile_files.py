"""Hostile files around the HSM: odd page sizes and headers, symbolic links, a log that is a folder or on a
read-only mount, a full disk, rows every file has deleted (issue 11 items 1 and 14). Each gives one clear line
and the right exit code, and leaves nothing torn."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
import subprocess

import pytest

from kmstui.audit import read_events
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import CACHE_KIB, Store
from kmstui.errors import ConfigError


def one_line(run) -> bool:
    return run.err.count("\n") == 1 and "Traceback" not in run.err


def rebuild(path, *pragmas: str) -> None:
    """Rewrite the file with other storage settings (page size, ...), as a hostile copy could be."""
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA journal_mode=DELETE")
    for pragma in pragmas:
        conn.execute(pragma)
    conn.execute("VACUUM")
    conn.close()


@pytest.mark.parametrize("page_size", [512, 65536])
def test_odd_page_sizes_change_nothing(unsealed_hsm, run_kmstui, page_size):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.close()
    rebuild(hsm.path, f"PRAGMA page_size={page_size}")
    assert sqlite3.connect(hsm.path).execute("PRAGMA page_size").fetchone()[0] == page_size
    run = run_kmstui("encrypt", "--key-id", key, "--plaintext", "aGk=")
    assert run.code == 0, run
    assert run_kmstui("hsm", "verify").code == 0


def test_a_huge_suggested_cache_in_the_header_is_ignored(unsealed_hsm):
    hsm = unsealed_hsm
    hsm.close()
    data = bytearray(hsm.path.read_bytes())
    data[48:52] = struct.pack(">i", 0x7FFFFFFF)  # "default page cache size" in the database header
    hsm.path.write_bytes(bytes(data))
    store = Store.open(hsm.path)
    assert store.conn.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB
    store.close()


@pytest.mark.parametrize("offset,value", [(16, b"\x00\x03"), (0, b"SQLite format 2\x00"), (18, b"\x07\x07")],
                         ids=["page size 3", "magic", "file format 7"])
def test_a_damaged_header_gives_one_line(unsealed_hsm, run_kmstui, offset, value):
    hsm = unsealed_hsm
    hsm.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(str(hsm.path) + "-wal")
    data = bytearray(hsm.path.read_bytes())
    data[offset:offset + len(value)] = value
    hsm.path.write_bytes(bytes(data))
    run = run_kmstui("key", "list")
    assert run.code == 253 and one_line(run), run


def test_a_symbolic_link_in_place_of_the_file_is_refused(unsealed_hsm, tmp_path, run_kmstui):
    hsm = unsealed_hsm
    hsm.close()
    real = tmp_path / "elsewhere.kmstui"
    os.rename(hsm.path, real)
    os.symlink(real, hsm.path)
    with pytest.raises(ConfigError, match="symbolic link"):
        Store.open(hsm.path)
    run = run_kmstui("key", "list")
    assert run.code == 253 and "symbolic link" in run.err and one_line(run), run


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_symbolic_link_for_a_companion_file_is_refused(unsealed_hsm, tmp_path, suffix):
    hsm = unsealed_hsm
    hsm.close()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    companion = str(hsm.path) + suffix
    with contextlib.suppress(FileNotFoundError):
        os.unlink(companion)
    os.symlink(victim, companion)
    with pytest.raises(ConfigError, match="symbolic link"):
        Store.open(hsm.path)
    assert victim.read_bytes() == b"precious"


def test_an_audit_log_that_is_a_symbolic_link_is_refused(unsealed_hsm, tmp_path, run_kmstui):
    hsm = unsealed_hsm
    hsm.close()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    os.unlink(hsm.audit.path) if hsm.audit.path.exists() else None
    os.symlink(victim, hsm.audit.path)
    run = run_kmstui("random", "--number-of-bytes", "4")
    assert run.code == 253 and "symbolic link" in run.err and one_line(run), run
    assert victim.read_bytes() == b"precious"


def test_an_audit_log_that_is_a_folder_is_refused(unsealed_hsm, run_kmstui):
    hsm = unsealed_hsm
    hsm.close()
    if hsm.audit.path.exists():
        os.unlink(hsm.audit.path)
    hsm.audit.path.mkdir()
    run = run_kmstui("random", "--number-of-bytes", "4")
    assert run.code == 253 and "is a folder" in run.err and one_line(run), run
    run = run_kmstui("key", "create")
    assert run.code == 253 and one_line(run), run
    assert run_kmstui("--output", "json", "hsm", "status").code == 0  # the file itself is fine


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def root_mounts():
    """Mounts made by a test (tmpfs, read-only binds), undone afterwards; skips where mounting is impossible."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small or read-only file system")
    made: list[str] = []
    yield made
    for target in reversed(made):
        subprocess.run(["umount", "-l", target], capture_output=True)


def test_a_read_only_audit_log_is_refused(unsealed_hsm, run_kmstui, root_mounts):
    hsm = unsealed_hsm
    hsm.create_key()
    hsm.close()
    log = str(hsm.audit.path)
    if not (_mount("--bind", log, log) and _mount("-o", "remount,ro,bind", log)):
        pytest.skip("bind mounts are not available here")
    root_mounts.append(log)
    before = hsm.audit.path.read_bytes()
    run = run_kmstui("key", "create")
    assert run.code == 253 and "audit log" in run.err and one_line(run), run
    assert hsm.audit.path.read_bytes() == before
    assert sqlite3.connect(hsm.path).execute("SELECT count(*) FROM keys").fetchone()[0] == 1  # nothing created


def _fill(folder) -> None:
    """Take every free byte of the file system holding `folder`."""
    fd = os.open(os.path.join(folder, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 64, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def test_a_full_disk_gives_kms_internal_exception_and_leaves_nothing_torn(kmstui_home, run_kmstui, root_mounts,
                                                                         monkeypatch):
    """Issue 11 item 14: a full disk used to exit 255 with a torn audit line that later read as tampering."""
    data = kmstui_home / "data"
    data.mkdir(parents=True)
    if not _mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(data)):
        pytest.skip("cannot mount a tmpfs here")
    root_mounts.append(str(data))
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")
    monkeypatch.setenv("KMSTUI_PASSPHRASE", "correct horse battery staple")
    assert run_kmstui("hsm", "init").code == 0
    created = run_kmstui("key", "create", "--output", "json")
    key = json.loads(created.out)["KeyMetadata"]["KeyId"]
    _fill(data)
    outcomes = []
    for words in (["key", "create", "--description", "x" * 4000], ["key", "disable", "--key-id", key, "--yes"],
                  ["encrypt", "--key-id", key, "--plaintext", "aGk="], ["random", "--number-of-bytes", "1024"]):
        run = run_kmstui(*words)
        outcomes.append(run.code)
        assert run.code in (0, 254), run
        if run.code:
            assert one_line(run) and "KMSInternalException" in run.err, run
    assert 254 in outcomes
    log = data / "hsm.kmstui.audit.jsonl"
    assert log.read_bytes().endswith(b"\n")  # never a torn line of kmstui's own
    os.unlink(data / "filler")
    after = run_kmstui("key", "describe", "--key-id", key, "--output", "json")
    assert after.code == 0, after
    state = json.loads(after.out)["KeyMetadata"]["KeyState"]
    disables = [e for e in read_events(log) if e["eventName"] == "DisableKey"]
    assert (state == "Disabled") == any("errorCode" not in e for e in disables)  # the log tells the truth
    assert run_kmstui("hsm", "verify").code == 0


def test_hsm_verify_reports_an_edited_identity_row(unsealed_hsm, run_kmstui):
    """Issue 11 item 14: `hsm verify` aborted with 254 instead of reporting."""
    hsm = unsealed_hsm
    hsm.close()
    conn = sqlite3.connect(hsm.path)
    identity = json.loads(conn.execute("SELECT value FROM meta WHERE name='identity'").fetchone()[0])
    identity["AccountId"] = "999999999999"
    conn.execute("UPDATE meta SET value=? WHERE name='identity'", (json.dumps(identity).encode(),))
    conn.commit()
    conn.close()
    run = run_kmstui("hsm", "verify", "--output", "json")
    assert run.code == 1, run
    assert any("identity" in p for p in json.loads(run.out)["Problems"])


@pytest.mark.parametrize("row", ["slots", "check", "file_id"])
def test_deleted_unseal_rows_are_not_called_a_wrong_passphrase(unsealed_hsm, run_kmstui, row):
    """Issue 11 item 14: a deleted slot or check row was reported as "wrong passphrase"."""
    hsm = unsealed_hsm
    hsm.close()
    conn = sqlite3.connect(hsm.path)
    conn.execute("DELETE FROM meta WHERE name=?", (row,))
    conn.commit()
    conn.close()
    run = run_kmstui("key", "list")
    assert run.code == 253 and one_line(run), run
    assert "wrong passphrase" not in run.err.replace("not a wrong passphrase", "") and f"'{row}'" in run.err


def test_a_passphrase_slot_removed_from_the_slot_list_is_named(unsealed_hsm, run_kmstui):
    hsm = unsealed_hsm
    hsm.close()
    conn = sqlite3.connect(hsm.path)
    conn.execute("UPDATE meta SET value=? WHERE name='slots'", (json.dumps([{"type": "keyring"}]).encode(),))
    conn.commit()
    conn.close()
    run = run_kmstui("key", "list")
    assert run.code == 253 and "passphrase slot" in run.err and one_line(run), run


def test_a_second_process_sees_the_file_as_kmstui_left_it(unsealed_hsm):
    """Sanity for the tamper tests: an untouched file opens and verifies in a fresh backend."""
    hsm = unsealed_hsm
    hsm.create_key()
    other = LocalBackend(Store.open(hsm.path), hsm._keys)
    assert other.verify_audit()["Valid"]
    other.close()


def test_a_disk_filling_up_under_an_open_backend(kmstui_home, root_mounts, monkeypatch):
    """The disk fills while a process (a REPL, a TUI) holds the file open: every call that cannot write its
    rows or its audit line fails with KMSInternalException, nothing is half-written, and once space is back
    the file and the chain verify."""
    from kmstui.backends.local.unseal import create_hsm
    from kmstui.backends.local.verify import verify_file
    from kmstui.errors import KMSInternalException

    data = kmstui_home / "data"
    data.mkdir(parents=True)
    if not _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(data)):
        pytest.skip("cannot mount a tmpfs here")
    root_mounts.append(str(data))
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")
    store, keys = create_hsm(data / "hsm.kmstui", "correct horse battery staple")
    hsm = LocalBackend(store, keys)
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    _fill(data)
    failures = 0
    for call in (lambda: hsm.create_key(Description="x" * 8000), lambda: hsm.disable_key(KeyId=key),
                 lambda: hsm.encrypt(KeyId=key, Plaintext=b"x" * 4096), lambda: hsm.generate_random(NumberOfBytes=1024),
                 lambda: hsm.tag_resource(KeyId=key, Tags=[{"TagKey": "k", "TagValue": "v" * 256}])):
        for _ in range(20):  # keep going until the last free bytes are gone too
            try:
                call()
            except KMSInternalException as exc:
                failures += 1
                assert "No space left" in str(exc) or "disk is full" in str(exc), exc
                break
    assert failures >= 3
    assert hsm.audit.path.read_bytes().endswith(b"\n")
    os.unlink(data / "filler")
    state = hsm.describe_key(KeyId=key)["KeyMetadata"]["KeyState"]
    disables = [e for e in read_events(hsm.audit.path) if e["eventName"] == "DisableKey" and "errorCode" not in e]
    assert (state == "Disabled") == bool(disables)
    report = verify_file(Store.open(hsm.path), keys, hsm.audit.path)
    assert report["Valid"], report["Problems"]
    hsm.close()


@pytest.mark.parametrize("wal,shm", [(os.urandom(40000), os.urandom(32768)), (b"garbagewal" * 1000, b"\0" * 32768),
                                     (b"", os.urandom(100))], ids=["random", "zeros", "short shm"])
def test_garbage_wal_and_shm_files_beside_the_file_change_nothing(unsealed_hsm, run_kmstui, wal, shm):
    """Side files a hostile copy can bring: SQLite ignores a -wal that does not belong to the file and rebuilds
    a -shm it does not trust; the keys read as kmstui wrote them and the file verifies."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.disable_key(KeyId=key)
    hsm.close()
    with open(str(hsm.path) + "-wal", "wb") as fh:
        fh.write(wal)
    with open(str(hsm.path) + "-shm", "wb") as fh:
        fh.write(shm)
    run = run_kmstui("key", "describe", "--key-id", key, "--output", "json")
    assert run.code == 0 and json.loads(run.out)["KeyMetadata"]["KeyState"] == "Disabled", run
    assert run_kmstui("hsm", "verify").code == 0
