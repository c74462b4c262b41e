"""Tampering with the HSM file or its audit log is detected and refused; wrong passphrases are refused."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from kmstui.backends.local import unseal as unseal_mod
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import Store
from kmstui.errors import ConfigError, KMSInternalException, SealedError

TEST_PASSPHRASE = "correct horse battery staple"  # the unsealed_hsm fixture's (tests/conftest.py); not imported:
# `from conftest import` picks up whichever conftest.py was loaded last (tests/plugins/envelope has one)


def poke(path, sql, *args):
    conn = sqlite3.connect(str(path))
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def fresh(hsm) -> LocalBackend:
    return LocalBackend(Store.open(hsm.path), hsm._keys)


def test_file_is_private(unsealed_hsm):
    unsealed_hsm.create_key()
    assert stat.S_IMODE(os.stat(unsealed_hsm.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(unsealed_hsm.audit.path).st_mode) == 0o600


def test_tampered_metadata_is_refused(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.disable_key(KeyId=key)
    # flip the state back to Enabled behind kmstui's back
    row = sqlite3.connect(str(unsealed_hsm.path)).execute("SELECT doc FROM keys WHERE key_id=?", (key,)).fetchone()
    doc = json.loads(row[0])
    doc["KeyState"] = "Enabled"
    poke(unsealed_hsm.path, "UPDATE keys SET doc=? WHERE key_id=?", json.dumps(doc).encode(), key)
    other = fresh(unsealed_hsm)
    with pytest.raises(KMSInternalException, match="integrity check failed"):
        other.encrypt(KeyId=key, Plaintext=b"x")
    # the in-process cache notices the change too
    with pytest.raises(KMSInternalException):
        unsealed_hsm.describe_key(KeyId=key)
    other.close()


def test_swapped_rows_and_sealed_material_are_refused(unsealed_hsm):
    a = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    b = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/a", TargetKeyId=a)
    conn = sqlite3.connect(str(unsealed_hsm.path))
    sealed_b = conn.execute("SELECT sealed FROM material WHERE key_id=?", (b,)).fetchone()[0]
    alias_doc = json.loads(conn.execute("SELECT doc FROM aliases WHERE name='alias/a'").fetchone()[0])
    conn.close()
    poke(unsealed_hsm.path, "UPDATE material SET sealed=? WHERE key_id=?", sealed_b, a)
    alias_doc["TargetKeyId"] = b
    poke(unsealed_hsm.path, "UPDATE aliases SET doc=? WHERE name='alias/a'", json.dumps(alias_doc).encode())
    other = fresh(unsealed_hsm)
    with pytest.raises(KMSInternalException, match="sealed material"):
        other.encrypt(KeyId=a, Plaintext=b"x")
    with pytest.raises(KMSInternalException, match="aliases"):
        other.describe_key(KeyId="alias/a")
    other.close()


def test_wrong_passphrase_is_refused(unsealed_hsm, monkeypatch, tmp_path):
    store = Store.open(unsealed_hsm.path)
    monkeypatch.setenv("KMSTUI_PASSPHRASE", "not the passphrase")
    with pytest.raises(SealedError, match="wrong passphrase"):
        unseal_mod.unseal(store, tmp_path, lambda _p: None)
    monkeypatch.delenv("KMSTUI_PASSPHRASE")
    answers = iter(["nope1234", "nope5678", "nope9999"])
    with pytest.raises(SealedError, match="3 attempts"):
        unseal_mod.unseal(store, tmp_path, lambda _p: next(answers))
    with pytest.raises(SealedError, match="hsm unseal"):
        unseal_mod.unseal(store, tmp_path, lambda _p: None)
    keys, how = unseal_mod.unseal(store, tmp_path, lambda _p: TEST_PASSPHRASE)
    assert how == "prompt" and keys.check == unsealed_hsm._keys.check
    store.close()


def test_keyring_slot_and_missing_keyring(tmp_path, monkeypatch, memory_keyring):
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")
    store, keys = unseal_mod.create_hsm(tmp_path / "k.kmstui", TEST_PASSPHRASE, use_keyring=True)
    got, how = unseal_mod.unseal(store, tmp_path, lambda _p: None)
    assert how == "keyring" and got.check == keys.check
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    with pytest.raises(SealedError, match="no OS keyring is available"):
        unseal_mod.unseal(store, tmp_path, lambda _p: None)
    from kmstui.errors import ConfigError

    with pytest.raises(ConfigError, match="no OS keyring"):
        unseal_mod.create_hsm(tmp_path / "k2.kmstui", TEST_PASSPHRASE, use_keyring=True)
    assert not (tmp_path / "k2.kmstui").exists()
    store.close()


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_audit_log_edits_deletions_and_truncation_are_detected(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(5):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"n": "1"})
    assert hsm.verify_audit()["Valid"]
    log = hsm.audit.path
    original = log.read_bytes()
    lines = _lines(log)

    log.write_bytes(b"".join(lines[:3] + [lines[3].replace(b'"n":"1"', b'"n":"2"')] + lines[4:]))
    report = hsm.verify_audit()
    assert not report["Valid"] and report["BrokenAtLine"] == 4 and "edited" in report["Problem"]

    log.write_bytes(b"".join(lines[:2] + lines[3:]))
    report = hsm.verify_audit()
    assert not report["Valid"] and report["BrokenAtLine"] == 3

    log.write_bytes(b"".join(lines[:-2]))  # truncation: the chain itself is intact, the sealed head is not
    report = hsm.verify_audit()
    assert not report["Valid"] and "truncated" in report["Problem"]

    log.write_bytes(b"")
    assert not hsm.verify_audit()["Valid"]
    log.write_bytes(original)
    assert hsm.verify_audit()["Valid"]


def test_audit_chain_continues_across_processes_sharing_a_log(unsealed_hsm):
    a = unsealed_hsm
    b = fresh(a)
    key = a.create_key()["KeyMetadata"]["KeyId"]
    for i in range(20):
        (a if i % 2 else b).encrypt(KeyId=key, Plaintext=b"x")
    b.close()
    report = a.verify_audit()
    assert report["Valid"] and report["Lines"] == 21


def _set_slots(path, slots):
    poke(path, "UPDATE meta SET value=? WHERE name='slots'", json.dumps(slots).encode())


def test_hostile_scrypt_parameters_are_refused_before_deriving(unsealed_hsm):
    """The slot's KDF parameters are read before anything can be checked: huge ones must not be obeyed."""
    store = Store.open(unsealed_hsm.path)
    slots = unseal_mod.slots(store)
    store.close()
    for change in ({"log2n": 40}, {"r": 100000}, {"p": 1 << 20}, {"salt": "AA=="}, {"salt": "%%%"}, {"log2n": "x"}):
        _set_slots(unsealed_hsm.path, [{**slots[0], **change}])
        store = Store.open(unsealed_hsm.path)
        with pytest.raises(ConfigError, match="passphrase slot"):
            unseal_mod.with_passphrase(store, TEST_PASSPHRASE)
        store.close()
    poke(unsealed_hsm.path, "UPDATE meta SET value=? WHERE name='slots'", b"{not json")
    store = Store.open(unsealed_hsm.path)
    with pytest.raises(ConfigError, match="unseal slots .* missing or damaged"):
        unseal_mod.unseal(store, unsealed_hsm.path.parent, lambda _p: None)
    store.close()

