"""Hostile SQLite schema objects in an HSM file or a backup (issue 11 item 1).

A file carries code as well as rows: a planted trigger runs inside kmstui's own transactions and writes
genuine (correctly MAC'd) old rows back, so row MACs cannot see it. Every object kmstui did not create, or
defined differently, makes the file unusable (exit 253, one line); `hsm verify` lists it (exit 1) and no
option accepts it; `hsm restore` refuses a backup carrying one. The expected schema comes from kmstui's own
DDL, so it follows the code as tables are added.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from kmstui.backends.local import schema
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import SCHEMA, Store
from kmstui.errors import ConfigError, KMSInternalException
from kmstui.session import Session

# The two triggers of the issue, verbatim (the grant one re-inserts the revoked row).
DISABLE_UNDONE = ("CREATE TRIGGER zz AFTER UPDATE ON keys WHEN json_extract(NEW.doc,'$.KeyState')='Disabled' BEGIN "
                  "UPDATE keys SET doc=OLD.doc, mac=OLD.mac WHERE key_id=NEW.key_id; END")
REVOKE_UNDONE = ("CREATE TRIGGER gg AFTER DELETE ON grants BEGIN INSERT INTO grants(grant_id, key_id, grantee, "
                 "retiree, name, doc, mac) VALUES (OLD.grant_id, OLD.key_id, OLD.grantee, OLD.retiree, OLD.name, "
                 "OLD.doc, OLD.mac); END")

# Objects a hostile file can carry, each refused before anything is unsealed.
FOREIGN = {
    "trigger after update": DISABLE_UNDONE,
    "trigger after delete": REVOKE_UNDONE,
    "trigger before insert": "CREATE TRIGGER t1 BEFORE INSERT ON aliases BEGIN SELECT 1; END",
    "trigger on meta": "CREATE TRIGGER t2 AFTER UPDATE ON meta BEGIN UPDATE meta SET value=OLD.value "
                       "WHERE name='audit_head'; END",
    "trigger named like kmstui's temp ones": "CREATE TRIGGER kmstui_keys_ins AFTER INSERT ON keys BEGIN SELECT 1; END",
    "trigger on policies": "CREATE TRIGGER t3 AFTER UPDATE ON policies BEGIN UPDATE policies SET doc=OLD.doc, "
                           "mac=OLD.mac WHERE key_id=NEW.key_id; END",
    "extra view": "CREATE VIEW v AS SELECT * FROM keys",
    "extra table": "CREATE TABLE evil (x)",
    "extra index": "CREATE INDEX evil_idx ON keys(created)",
    "analyze statistics": "ANALYZE",
    "altered table (new column with a default)": "ALTER TABLE keys ADD COLUMN extra TEXT DEFAULT 'x'",
    "view shadowing a table": "ALTER TABLE grants RENAME TO grants_real; CREATE VIEW grants AS SELECT * FROM grants_real",
    "view shadowing meta": "ALTER TABLE meta RENAME TO meta_real; CREATE VIEW meta AS SELECT * FROM meta_real",
}
# Changes found once the file is unsealed, against the schema sealed in it.
DROPPED = {
    "dropped index": "DROP INDEX grants_key",
    "dropped table": "DROP TABLE iam_policies",
    "sealed schema record deleted": "DELETE FROM meta WHERE name='schema'",
}


def plant(path, sql: str) -> None:
    conn = sqlite3.connect(str(path))
    try:
        conn.executescript(sql)
        conn.commit()
    finally:
        conn.close()


def writable_schema(path, name: str, sql: str) -> None:
    """Rewrite an object's stored definition directly (an edit of sqlite_master, not through DDL)."""
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA writable_schema=ON")
        conn.execute("UPDATE sqlite_master SET sql=? WHERE name=?", (sql, name))
        conn.commit()
    finally:
        conn.close()


def key_with_grant(hsm) -> tuple[str, str]:
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    grant = hsm.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:role/app",
                             Operations=["Encrypt"])["GrantId"]
    return key, grant


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_foreign_objects_make_the_file_unusable_and_verify_lists_them(unsealed_hsm, run_kmstui, name):
    hsm = unsealed_hsm
    key, _grant = key_with_grant(hsm)
    hsm.close()
    plant(hsm.path, FOREIGN[name])
    with pytest.raises(ConfigError, match="SQLite objects kmstui did not create"):
        Store.open(hsm.path)
    run = run_kmstui("key", "disable", "--key-id", key, "--yes")
    assert run.code == 253 and run.err.count("\n") == 1 and "hsm verify" in run.err, run
    verify = run_kmstui("hsm", "verify", "--accept", "--output", "json")
    assert verify.code == 1, verify
    report = json.loads(verify.out)
    assert report["SchemaProblems"] and "AcceptedRows" not in report and "AcceptRefused" in report
    assert run_kmstui("key", "list").code == 253  # --accept changed nothing


def test_the_issues_disable_trigger_never_fires(unsealed_hsm):
    """The key stays as kmstui left it: the planted trigger is refused before any write could fire it."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.close()
    plant(hsm.path, DISABLE_UNDONE)
    before = sqlite3.connect(hsm.path).execute("SELECT doc, mac FROM keys").fetchall()
    with pytest.raises(ConfigError):
        Session(load_plugins=False).execute(["key", "disable", "--key-id", key, "--yes"])
    assert sqlite3.connect(hsm.path).execute("SELECT doc, mac FROM keys").fetchall() == before


@pytest.mark.parametrize("name", sorted(DROPPED))
def test_objects_dropped_since_sealing_are_refused_after_unsealing(unsealed_hsm, run_kmstui, name):
    hsm = unsealed_hsm
    key_with_grant(hsm)
    hsm.close()
    plant(hsm.path, DROPPED[name])
    Store.open(hsm.path).close()  # nothing foreign: only the sealed schema can tell
    with pytest.raises(ConfigError, match="schema"):
        LocalBackend(Store.open(hsm.path), hsm._keys)
    run = run_kmstui("key", "list")
    assert run.code == 253 and run.err.count("\n") == 1, run
    verify = run_kmstui("hsm", "verify", "--output", "json")
    assert verify.code == 1 and json.loads(verify.out)["SchemaProblems"], verify


def test_an_edited_definition_in_sqlite_master_is_refused(unsealed_hsm):
    hsm = unsealed_hsm
    hsm.close()
    conn = sqlite3.connect(hsm.path)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name='aliases'").fetchone()
    conn.close()
    writable_schema(hsm.path, "aliases", sql.replace("key_id TEXT NOT NULL", "key_id TEXT NOT NULL DEFAULT 'x'"))
    with pytest.raises(ConfigError, match="defined differently"):
        Store.open(hsm.path)


def test_an_edited_sealed_schema_record_fails_its_mac(unsealed_hsm):
    hsm = unsealed_hsm
    hsm.close()
    conn = sqlite3.connect(hsm.path)
    doc = json.loads(conn.execute("SELECT value FROM meta WHERE name='schema'").fetchone()[0])
    doc["Objects"].append("trigger zz")
    conn.execute("UPDATE meta SET value=? WHERE name='schema'", (json.dumps(doc).encode(),))
    conn.commit()
    conn.close()
    with pytest.raises(KMSInternalException, match="integrity check failed"):
        LocalBackend(Store.open(hsm.path), hsm._keys)


def test_a_grant_revoked_through_a_planted_trigger_is_refused(unsealed_hsm):
    hsm = unsealed_hsm
    key, grant = key_with_grant(hsm)
    hsm.close()
    plant(hsm.path, REVOKE_UNDONE)
    with pytest.raises(ConfigError):
        Session().execute(["grant", "revoke", "--key-id", key, "--grant-id", grant, "--yes"])
    assert sqlite3.connect(hsm.path).execute("SELECT count(*) FROM grants").fetchone()[0] == 1


@pytest.mark.parametrize("trigger", [DISABLE_UNDONE, REVOKE_UNDONE], ids=["disable", "revoke"])
def test_a_trigger_planted_in_a_backup_at_rest_is_refused_by_restore(session, unsealed_hsm, tmp_path, run_kmstui,
                                                                      trigger):
    """No passphrase is needed to plant a trigger in a backup: `hsm restore` must refuse it and leave the live
    file as it was."""
    hsm = unsealed_hsm
    key, grant = key_with_grant(hsm)
    backup = tmp_path / "backup.kmstui"
    session.execute(["hsm", "backup", str(backup)])
    hsm.disable_key(KeyId=key)
    hsm.revoke_grant(KeyId=key, GrantId=grant)
    hsm.close()
    session.close()
    plant(backup, trigger)
    live_before = hsm.path.read_bytes()
    run = run_kmstui("hsm", "restore", str(backup), "--yes")
    assert run.code == 253 and "refusing to restore" in run.err and run.err.count("\n") == 1, run
    assert hsm.path.read_bytes() == live_before
    assert not [p for p in os.listdir(hsm.path.parent) if "restoring" in p]  # no staged copy left behind
    after = run_kmstui("key", "describe", "--key-id", key, "--output", "json")
    assert after.code == 0 and json.loads(after.out)["KeyMetadata"]["KeyState"] == "Disabled"


def test_a_trigger_in_a_wal_file_beside_a_backup_is_seen_and_refused(session, unsealed_hsm, tmp_path, run_kmstui):
    """A -wal beside a backup is folded in by SQLite when the backup is read; the check sees what is restored."""
    hsm = unsealed_hsm
    hsm.create_key()
    clean = tmp_path / "clean.kmstui"
    session.execute(["hsm", "backup", str(clean)])
    session.close()
    hsm.close()
    work = tmp_path / "work.kmstui"
    shutil.copy(clean, work)
    conn = sqlite3.connect(work)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.commit()
    backup = tmp_path / "backup.kmstui"
    shutil.copy(work, backup)  # the main file: WAL mode, no trigger
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(DISABLE_UNDONE)
    conn.commit()
    shutil.copy(str(work) + "-wal", str(backup) + "-wal")  # the trigger lives only in the -wal
    conn.close()
    assert b"CREATE TRIGGER zz" not in backup.read_bytes()
    run = run_kmstui("hsm", "restore", str(backup), "--yes")
    assert run.code == 253 and "trigger 'zz'" in run.err, run


def test_a_planted_wal_file_beside_the_live_file_is_seen(unsealed_hsm, tmp_path):
    """A -wal planted beside the live file is replayed by SQLite on open: the schema check sees the trigger."""
    hsm = unsealed_hsm
    hsm.create_key()
    hsm.close()
    copy = tmp_path / "copy.kmstui"
    shutil.copy(hsm.path, copy)
    conn = sqlite3.connect(copy)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(DISABLE_UNDONE)
    conn.commit()
    shutil.copy(str(copy) + "-wal", str(hsm.path) + "-wal")
    conn.close()
    with pytest.raises(ConfigError, match="trigger 'zz'"):
        Store.open(hsm.path)


def test_restore_over_a_live_file_with_planted_objects_removes_them(session, unsealed_hsm, tmp_path):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    backup = tmp_path / "backup.kmstui"
    session.execute(["hsm", "backup", str(backup)])
    session.close()
    hsm.close()
    plant(hsm.path, DISABLE_UNDONE)
    fresh = Session(load_plugins=False)
    fresh.execute(["hsm", "restore", str(backup), "--yes"])
    assert fresh.backend().describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert schema.foreign_objects(fresh.backend().store.conn, SCHEMA) == []
    fresh.close()


def test_a_schema_the_code_grows_is_accepted_and_sealed(unsealed_hsm, monkeypatch):
    """A newer kmstui adds a table: an older file lacks it, is accepted, gets it, and the new schema is sealed.
    (The expectation comes from the DDL, not from a list of digests.)"""
    from kmstui.backends.local import store as store_mod

    hsm = unsealed_hsm
    hsm.close()
    grown = SCHEMA + "\nCREATE TABLE IF NOT EXISTS future_table (name TEXT PRIMARY KEY, doc BLOB NOT NULL);\n"
    monkeypatch.setattr(store_mod, "SCHEMA", grown)
    backend = LocalBackend(Store.open(hsm.path), hsm._keys)
    assert ("table", "future_table") in schema.objects(backend.store.conn)
    assert "table future_table" in backend.store.meta_doc("schema")["Objects"]
    backend.close()
    again = LocalBackend(Store.open(hsm.path), hsm._keys)  # and the grown file opens cleanly next time
    again.close()


def test_a_file_from_before_the_schema_record_is_adopted_once(unsealed_hsm):
    hsm = unsealed_hsm
    hsm.close()
    conn = sqlite3.connect(hsm.path)
    conn.execute("DELETE FROM meta WHERE name='schema'")
    conn.commit()
    conn.close()
    # the identity of such a file does not claim a schema record: rebuild it as an older kmstui wrote it
    store = Store.open(hsm.path)
    store.attach_keys(hsm._keys.mac)
    identity = store.meta_doc("identity")
    with store.transaction():
        store.set_meta_doc("identity", {k: v for k, v in identity.items() if k != "Schema"})
    store.close()
    backend = LocalBackend(Store.open(hsm.path), hsm._keys)
    assert backend.store.meta_doc("schema") is not None and backend.store.meta_doc("identity")["Schema"] == 1
    backend.close()


def test_connections_do_not_trust_the_files_schema(unsealed_hsm):
    store = Store.open(unsealed_hsm.path)
    assert store.conn.execute("PRAGMA trusted_schema").fetchone()[0] == 0
    store.close()


def test_a_backup_with_a_dropped_table_is_refused_when_its_key_is_at_hand(session, unsealed_hsm, tmp_path, run_kmstui):
    """Dropping a table needs no key either; with the key at hand (here KMSTUI_PASSPHRASE) restore sees it."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    backup = tmp_path / "backup.kmstui"
    session.execute(["hsm", "backup", str(backup)])
    session.close()
    hsm.close()
    plant(backup, "DROP TABLE iam_policies")
    run = run_kmstui("hsm", "restore", str(backup), "--yes")
    assert run.code == 253 and "iam_policies was dropped" in run.err and run.err.count("\n") == 1, run
    assert run_kmstui("key", "describe", "--key-id", key).code == 0


def test_a_file_sealed_before_tables_were_added_opens_and_gets_them(unsealed_hsm):
    """A file whose sealed schema predates tables kmstui added later (access keys, roles for `serve`)."""
    hsm = unsealed_hsm
    hsm.close()
    plant(hsm.path, "DROP TABLE access_keys; DROP TABLE iam_roles")
    store = Store.open(hsm.path, live=False)
    store.set_keys(hsm._keys.mac)
    with store.transaction():
        store.set_meta_doc("schema", schema.fingerprint(store.conn))  # as the older kmstui sealed it
    store.close()
    backend = LocalBackend(Store.open(hsm.path), hsm._keys)
    assert {("table", "access_keys"), ("table", "iam_roles")} <= set(schema.objects(backend.store.conn))
    assert "table iam_roles" in backend.store.meta_doc("schema")["Objects"]
    backend.create_key()
    backend.close()
