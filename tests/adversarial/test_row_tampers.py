"""Hypothesis: row edits, deletions and rollbacks in an HSM file are caught, and never crash kmstui.

Each example takes a file with keys in several states, an alias, grants, an IAM policy and a rotated key,
and damages one authenticated row: a flipped byte in its sealed payload or MAC, the row deleted, or an
older copy of it put back. `hsm verify` must report a problem (exit 1), and using every key must end in a
KMS-named error or a correct answer, never an internal crash.
"""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import Store
from kmstui.backends.local.verify import verify_file
from kmstui.errors import KmstuiError

# table -> (row name SQL, the authenticated columns)
ROWS = {
    "keys": ("key_id", ("doc", "mac")),
    "material": ("key_id || '/' || version", ("sealed",)),
    "aliases": ("name", ("doc", "mac")),
    "policies": ("key_id || '/' || name", ("doc", "mac")),
    "grants": ("grant_id", ("doc", "mac")),
    "iam_policies": ("principal || '/' || name", ("doc", "mac")),
    "meta": ("name", ("value",)),
}
META_AUTHENTICATED = ("identity", "audit_head", "rowsets", "schema")
ACTIONS = ("flip", "delete", "rollback")
ROLE = "arn:aws:iam::111122223333:role/app"


def rows(conn, table: str) -> list[tuple]:
    name_sql, _cols = ROWS[table]
    where = f" WHERE name IN {META_AUTHENTICATED}" if table == "meta" else ""
    return conn.execute(f"SELECT rowid, {name_sql} FROM {table}{where} ORDER BY rowid").fetchall()


def test_row_tampers_are_reported_and_never_crash(unsealed_hsm, slow_mode):
    hsm = unsealed_hsm
    a = hsm.create_key(Description="a")["KeyMetadata"]["KeyId"]
    b = hsm.create_key(Description="b")["KeyMetadata"]["KeyId"]
    hsm.create_alias(AliasName="alias/a", TargetKeyId=a)
    grant = hsm.create_grant(KeyId=a, GranteePrincipal=ROLE, Operations=["Encrypt"])["GrantId"]
    hsm.create_grant(KeyId=b, GranteePrincipal=ROLE, Operations=["Decrypt"])  # stays
    hsm.put_identity_policy(PrincipalArn=ROLE, PolicyName="p", PolicyDocument='{"Version": "2012-10-17", '
                            '"Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}')
    old = sqlite3.connect(hsm.path)  # copies of rows as they were, for the rollbacks
    history = {t: {name: row for name, *row in old.execute(f"SELECT {ROWS[t][0]}, * FROM {t}")} for t in ROWS}
    old.close()
    hsm.disable_key(KeyId=b)
    hsm.rotate_key_on_demand(KeyId=a)
    hsm.update_alias(AliasName="alias/a", TargetKeyId=hsm.create_key()["KeyMetadata"]["KeyId"])
    hsm.revoke_grant(KeyId=a, GrantId=grant)
    hsm.put_key_policy(KeyId=a, Policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
                                       '{"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}')
    keys, path, log = hsm._keys, hsm.path, hsm.audit.path
    hsm.close()
    snapshot = path.with_name("pristine.kmstui")  # a consistent copy (the backup API), not the file's raw bytes
    src, dst = sqlite3.connect(path), sqlite3.connect(snapshot)
    src.backup(dst)
    dst.execute("PRAGMA journal_mode=DELETE")
    src.close()
    dst.close()
    pristine, pristine_log = snapshot.read_bytes(), log.read_bytes()
    key_ids = [a, b]
    tried: dict[str, int] = {}

    @settings(max_examples=300 if slow_mode else 40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(table=st.sampled_from(sorted(ROWS)), pick=st.integers(0, 1000), action=st.sampled_from(ACTIONS),
           offset=st.integers(0, 10 ** 6), bit=st.integers(0, 7))
    def run(table, pick, action, offset, bit):
        path.write_bytes(pristine)
        log.write_bytes(pristine_log)
        for suffix in ("-wal", "-shm"):
            (path.parent / (path.name + suffix)).unlink(missing_ok=True)
        conn = sqlite3.connect(path)
        candidates = rows(conn, table)
        rowid, name = candidates[pick % len(candidates)]
        column = ROWS[table][1][pick % len(ROWS[table][1])]
        if action == "rollback" and name == "audit_head":
            action = "flip"  # an older sealed head is the head lagging, as it may by design (docs/local-hsm.md)
        if action == "rollback":
            older = history[table].get(name)
            current = conn.execute(f"SELECT * FROM {table} WHERE rowid=?", (rowid,)).fetchone()
            if older is None or tuple(older) == tuple(current):
                action = "flip"  # no older copy of this row exists: damage it instead
            else:
                conn.execute(f"DELETE FROM {table} WHERE rowid=?", (rowid,))
                conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(older))})", older)
        if action == "delete":
            conn.execute(f"DELETE FROM {table} WHERE rowid=?", (rowid,))
        if action == "flip":
            value = bytearray(conn.execute(f"SELECT {column} FROM {table} WHERE rowid=?", (rowid,)).fetchone()[0])
            value[offset % len(value)] ^= 1 << bit
            conn.execute(f"UPDATE {table} SET {column}=? WHERE rowid=?", (bytes(value), rowid))
        conn.commit()
        conn.close()
        tried[action] = tried.get(action, 0) + 1
        try:
            store = Store.open(path, check_schema=False)
        except KmstuiError:
            return  # refused before anything else: fine
        try:
            report = verify_file(store, keys, log)
        finally:
            store.close()
        assert not report["Valid"], (table, name, action, column)
        store = Store.open(path)
        try:
            backend = LocalBackend(store, keys)
        except KmstuiError:
            store.close()
            return
        try:
            for key in key_ids:
                for call in (lambda: backend.describe_key(KeyId=key), lambda: backend.encrypt(KeyId=key, Plaintext=b"x"),
                             lambda: backend.get_key_policy(KeyId=key), lambda: backend.list_grants(KeyId=key)):
                    try:
                        call()
                    except KmstuiError:
                        pass
            try:
                backend.list_key_metadata()
                backend.list_aliases()
            except KmstuiError:
                pass
        finally:
            backend.close()

    run()
    assert sum(tried.values()) >= 20 and set(tried) >= {"flip", "delete"}
