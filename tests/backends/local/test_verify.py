"""`verify_file` (behind `hsm verify`) names each kind of tampering it finds."""

from __future__ import annotations

import json
import sqlite3

from kmstui.backends.local import verify
from kmstui.backends.local.core import audit_path
from kmstui.backends.local.store import Store

ROLE = "arn:aws:iam::111122223333:role/App"


def sql(path, statement, *args):
    conn = sqlite3.connect(str(path))
    conn.execute(statement, args)
    conn.commit()
    conn.close()


def problems(hsm) -> list[str]:
    hsm.audit.flush()
    store = Store.open(hsm.path)
    try:
        return verify.verify_file(store, hsm._keys, audit_path(hsm.path))["Problems"]
    finally:
        store.close()


def test_an_intact_file_verifies(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")
    assert problems(unsealed_hsm) == []


def test_missing_policy_and_material_rows_are_named_by_key(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.rotate_key_on_demand(KeyId=key)
    sql(hsm.path, "DELETE FROM policies WHERE key_id=?", key)
    sql(hsm.path, "DELETE FROM material WHERE key_id=? AND version=1", key)
    found = problems(hsm)
    assert f"policies: key {key} has no key policy row" in found
    assert (f"material: key {key} is at version 2 but the sealed material of version(s) 1 is missing") in found
    assert any(p.startswith("policies: 1 key policy row(s) missing") for p in found)


def test_a_deleted_key_row_leaves_orphans_that_are_named(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])
    sql(hsm.path, "DELETE FROM keys WHERE key_id=?", key)
    found = problems(hsm)
    assert f"grants: rows for key {key}, which does not exist (its key row was deleted?)" in found
    assert any(p.startswith("keys: 1 key row(s) missing") for p in found)


def test_edited_rows_and_index_columns_are_named(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    grant = hsm.create_grant(KeyId=hsm.create_key()["KeyMetadata"]["KeyId"], GranteePrincipal=ROLE,
                             Operations=["Decrypt"])
    sql(hsm.path, "UPDATE keys SET deletion_due=NULL WHERE key_id=?", key)  # skip the deletion
    sql(hsm.path, "UPDATE grants SET grantee='arn:aws:iam::111122223333:role/Other'")
    found = problems(hsm)
    assert (f"keys: the due-time columns of key {key} disagree with its sealed metadata (edited to delay or skip "
            "a deletion, rotation or expiry)") in found
    assert f"grants: the index columns of grant {grant['GrantId']} disagree with its sealed document" in found
    doc = json.dumps({"Version": "2012-10-17", "Statement": []}).encode()
    sql(hsm.path, "UPDATE grants SET doc=?", doc)
    assert f"grants: row '{grant['GrantId']}' fails its MAC (edited, or moved from another row)" in problems(hsm)


def test_a_truncated_audit_log_is_reported_too(unsealed_hsm):
    hsm = unsealed_hsm
    hsm.create_key()
    hsm.create_key()
    hsm.audit.flush()
    lines = hsm.audit.path.read_bytes().splitlines(keepends=True)
    hsm.audit.path.write_bytes(b"".join(lines[:-1]))
    found = problems(hsm)
    assert len(found) == 1 and found[0].startswith("audit log") and "truncated" in found[0]
