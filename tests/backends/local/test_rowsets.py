"""Sealed row sets: a row deleted, put back after deletion or rolled back to an older copy is detected
(rows counted on open for grants, IAM policies and aliases; everything by `verify_file`)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from kmstui.backends.local import verify
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.core import audit_path
from kmstui.backends.local.store import Store
from kmstui.errors import KMSInternalException

ROLE = "arn:aws:iam::111122223333:role/App"
DENY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]})


def sql(path, statement, *args):
    conn = sqlite3.connect(str(path))
    rows = conn.execute(statement, args).fetchall()
    conn.commit()
    conn.close()
    return rows


def reopen(hsm) -> LocalBackend:
    return LocalBackend(Store.open(hsm.path), hsm._keys)


def report(hsm) -> dict:
    store = Store.open(hsm.path)
    try:
        return verify.verify_file(store, hsm._keys, audit_path(hsm.path))
    finally:
        store.close()


def busy(hsm) -> str:
    """A file that used every kind of write: inserts, INSERT OR REPLACE, updates, deletes, rollbacks."""
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.create_alias(AliasName="alias/a", TargetKeyId=key)
    hsm.update_alias(AliasName="alias/a", TargetKeyId=hsm.create_key()["KeyMetadata"]["KeyId"])
    hsm.put_key_policy(KeyId=key, Policy=hsm.get_key_policy(KeyId=key)["Policy"])
    grant = hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])
    hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Encrypt"])
    hsm.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    hsm.rotate_key_on_demand(KeyId=key)
    hsm.put_identity_policy(PrincipalArn=ROLE, PolicyName="deny", PolicyDocument=DENY)
    hsm.put_identity_policy(PrincipalArn=ROLE, PolicyName="deny", PolicyDocument=DENY)
    hsm.disable_key(KeyId=key)
    with pytest.raises(Exception):
        hsm.enable_key_rotation(KeyId=key)  # refused inside its transaction: nothing recorded
    doomed = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.create_alias(AliasName="alias/doomed", TargetKeyId=doomed)
    hsm.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    hsm.clock = lambda: 4_000_000_000.0
    hsm.apply_due_events()  # deletes the key, its material, policy and alias
    return key


def test_every_kind_of_write_keeps_the_record_in_step(unsealed_hsm):
    busy(unsealed_hsm)
    result = report(unsealed_hsm)
    assert result["Valid"], result["Problems"]
    assert result["Rows"]["grants"] == 1 and result["Rows"]["iam_policies"] == 1 and result["Rows"]["material"] == 3
    reopen(unsealed_hsm).close()


def test_two_processes_writing_keep_one_record(unsealed_hsm):
    other = reopen(unsealed_hsm)
    for i in range(10):
        (unsealed_hsm if i % 2 else other).create_key()
    other.close()
    assert report(unsealed_hsm)["Valid"]


@pytest.mark.parametrize("table", ["grants", "iam_policies", "aliases"])
def test_deleting_grant_iam_policy_or_alias_rows_is_refused_on_open(unsealed_hsm, table):
    busy(unsealed_hsm)
    sql(unsealed_hsm.path, f"DELETE FROM {table}")
    with pytest.raises(KMSInternalException,
                       match=f"deleted or added outside kmstui \\({table}: 0 row\\(s\\), sealed record says 1\\).*hsm verify"):
        reopen(unsealed_hsm)
    assert any(table in p and "missing" in p for p in report(unsealed_hsm)["Problems"])


def test_a_deny_policy_deleted_and_put_back_later_is_caught(unsealed_hsm):
    """Deleting the IAM Deny widens access: refused on open. Putting an old copy of a deleted grant back
    (a revoked grant re-instated) is caught too."""
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    grant = hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])
    saved = sql(hsm.path, "SELECT * FROM grants")[0]
    hsm.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    sql(hsm.path, f"INSERT INTO grants VALUES ({','.join('?' * len(saved))})", *saved)
    with pytest.raises(KMSInternalException, match="grants: 1 row"):
        reopen(hsm)
    problems = report(hsm)["Problems"]
    assert any("grants: 1 grant row(s) more than sealed" in p for p in problems)


def test_an_older_copy_of_a_key_row_is_caught_by_verify(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    enabled = sql(hsm.path, "SELECT doc, mac FROM keys WHERE key_id=?", key)[0]
    hsm.disable_key(KeyId=key)
    sql(hsm.path, "UPDATE keys SET doc=?, mac=? WHERE key_id=?", *enabled, key)  # valid MAC, old content
    problems = report(hsm)["Problems"]
    assert problems == ["keys: the key rows are not the ones kmstui last wrote (same count): an older copy of a "
                        "row was put back, or one row deleted and another put back"]


def test_an_older_copy_of_a_policy_row_is_caught_by_verify(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    wide = sql(hsm.path, "SELECT doc, mac FROM policies WHERE key_id=?", key)[0]
    narrow = json.loads(hsm.get_key_policy(KeyId=key)["Policy"])
    narrow["Statement"].append({"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "kms:*", "Resource": "*"})
    hsm.put_key_policy(KeyId=key, Policy=json.dumps(narrow))
    sql(hsm.path, "UPDATE policies SET doc=?, mac=? WHERE key_id=?", *wide, key)
    assert any(p.startswith("policies: the key policy rows are not") for p in report(hsm)["Problems"])


def test_the_record_itself_cannot_be_deleted_or_edited(unsealed_hsm):
    hsm = unsealed_hsm
    blob = sql(hsm.path, "SELECT value FROM meta WHERE name='rowsets'")[0][0]
    sql(hsm.path, "UPDATE meta SET value=? WHERE name='rowsets'", bytes(blob[:-1]) + bytes([blob[-1] ^ 1]))
    with pytest.raises(KMSInternalException, match="row-set record .* damaged"):
        reopen(hsm)
    sql(hsm.path, "DELETE FROM meta WHERE name='rowsets'")
    with pytest.raises(KMSInternalException, match="row-set record .* missing"):
        reopen(hsm)


def test_accept_seals_the_rows_as_they_are(unsealed_hsm):
    hsm = unsealed_hsm
    busy(hsm)
    sql(hsm.path, "DELETE FROM grants")
    store = Store.open(hsm.path)
    assert verify.accept(store, hsm._keys)["grants"] == 0
    store.close()
    assert report(hsm)["Valid"]
    reopen(hsm).close()


def test_a_file_made_before_the_record_is_adopted_once(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.close()
    # what an older kmstui wrote: no record, and an identity row that does not promise one
    store = Store.open(hsm.path)
    store.attach_keys(hsm._keys.mac)
    identity = {k: v for k, v in store.meta_doc("identity").items() if k != "RowSets"}
    with store.transaction():
        store.set_meta_doc("identity", identity)
        store.conn.execute("DELETE FROM meta WHERE name='rowsets'")
    store.close()
    adopted = reopen(hsm)
    assert adopted.describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key
    adopted.close()
    assert report(hsm)["Valid"]
    sql(hsm.path, "DELETE FROM meta WHERE name='rowsets'")  # now the identity row promises a record
    with pytest.raises(KMSInternalException, match="missing"):
        reopen(hsm)


# -- the row-set triggers are created by the first write transaction, not on open ---------------------------
def temp_triggers(backend) -> set[str]:
    return {r[0] for r in backend.store.conn.execute("SELECT name FROM sqlite_temp_master WHERE type='trigger'")}


def test_a_process_that_only_reads_never_creates_the_triggers_and_cannot_write_without_them(unsealed_hsm):
    """Opening skips the triggers (a one-shot Encrypt never writes a covered row); until the first write
    transaction creates them, SQLite refuses any write on the connection, so none can go unrecorded."""
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/a", TargetKeyId=key)
    reader = reopen(unsealed_hsm)
    reader.encrypt(KeyId="alias/a", Plaintext=b"x")
    reader.audit.flush()  # moves the sealed audit head: a write of the meta table alone
    assert temp_triggers(reader) == set()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.store.conn.execute("DELETE FROM aliases")
    with pytest.raises(KMSInternalException, match="not authorized"), reader.store.meta_transaction() as conn:
        conn.execute("DELETE FROM aliases")  # the head's transaction can write nothing but meta
    assert sql(unsealed_hsm.path, "SELECT count(*) FROM aliases") == [(1,)]
    reader.create_alias(AliasName="alias/b", TargetKeyId=key)  # the first change creates them
    assert len(temp_triggers(reader)) == 3 * 11
    reader.close()
    assert report(unsealed_hsm)["Valid"]
    reopen(unsealed_hsm).close()


def test_a_tampered_file_is_still_refused_by_a_command_that_only_reads(unsealed_hsm, run_kmstui):
    """The path that now skips the triggers (a one-shot read) still counts the rows on open."""
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/a", TargetKeyId=key)
    unsealed_hsm.close()
    assert run_kmstui("encrypt", "--key-id", "alias/a", "--plaintext", "hi").code == 0
    sql(unsealed_hsm.path, "DELETE FROM aliases")
    run = run_kmstui("encrypt", "--key-id", key, "--plaintext", "hi")
    assert run.code != 0 and "aliases: 0 row(s), sealed record says 1" in run.err, run
    assert run_kmstui("hsm", "verify").code == 1
