"""`hsm verify`: check a whole HSM file against what kmstui sealed into it, and say what is wrong.

Checks, each naming the table, row or key at fault: that the schema is kmstui's own and the one sealed in
the file (schema.py: planted triggers and views, altered or dropped tables); every authenticated row's MAC and every sealed
material blob; the identity row; the sealed row-set record (rowsets.py: rows deleted, rows put back after
deletion, a row replaced by an older copy of itself, rows duplicated); that each key has its policy row
and the material of every version it claims; that aliases, policies, grants and material belong to keys
that exist; that the unauthenticated index columns (due times, alias targets, grantees) agree with the
authenticated documents; and the audit log's chain against the head sealed in the file. Works on a file
the backend refuses to open, so it can explain why.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui import audit as auditlog
from kmstui.backends.local import rowsets, schema
from kmstui.backends.local.seal import RootKeys
from kmstui.backends.local.store import SCHEMA, Store
from kmstui.errors import KMSError

MAX_LISTED = 20  # problems listed per kind; the rest are counted


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self._per_kind: dict[str, int] = {}

    def add(self, kind: str, text: str) -> None:
        n = self._per_kind[kind] = self._per_kind.get(kind, 0) + 1
        if n <= MAX_LISTED:
            self.items.append(text)
        elif n == MAX_LISTED + 1:
            self.items.append(f"... more {kind} problems not listed")


def verify_file(store: Store, keys: RootKeys, audit_path) -> dict[str, Any]:
    """A report {"Valid", "Problems": [...], "SchemaProblems": [...], "Rows": {table: count}, "AuditLog":
    {...}} for one file. Only reads: a file with planted triggers is safe to verify (no trigger fires on a
    read, and no function with side effects runs: trusted_schema is off)."""
    store.set_keys(keys.mac)
    problems = _Problems()
    conn = store.conn
    try:
        conn.execute("BEGIN")  # one consistent snapshot, even while other processes write
        try:
            schema_problems = _check_schema(store, problems)
            keydocs = _check_rows(store, keys, problems)
            _check_rowsets(store, problems)
            _check_references(conn, keydocs, problems)
            head = store.meta_doc("audit_head") if store.meta_raw("audit_head") is not None else None
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in rowsets.COVERED}
        finally:
            conn.execute("COMMIT")
    except KMSError as exc:
        problems.add("meta", str(exc))
        head, counts, schema_problems = None, {}, locals().get("schema_problems") or []
    except sqlite3.Error as exc:
        if "schema_problems" not in locals() or not schema_problems:
            raise store._failure(exc, writing=False) from None
        problems.add("meta", f"the rows could not be read through the file's schema ({exc})")
        head, counts = None, {}
    if head is None:
        problems.add("meta", "the sealed audit head (meta row 'audit_head') is missing or damaged")
        anchor = None
    else:
        anchor = auditlog.Anchor(int(head.get("seq", 0)), str(head.get("hash", auditlog.GENESIS)))
    audit = auditlog.verify(audit_path, keys.audit, anchor)
    if not audit["Valid"]:
        problems.add("audit", f"audit log {audit_path}: broken at line {audit['BrokenAtLine']}: {audit['Problem']}")
    return {"Valid": not problems.items, "Problems": problems.items, "SchemaProblems": schema_problems,
            "Rows": counts, "AuditLog": {"Path": str(audit_path), **audit}}


def _check_schema(store: Store, problems: _Problems) -> list[str]:
    """SQLite objects kmstui did not create, changed definitions, and differences from the sealed schema."""
    found = [f"schema: {p}" for p in schema.foreign_objects(store.conn, SCHEMA)]
    try:
        sealed = store.meta_doc(schema.META_NAME)
    except KMSError as exc:
        found.append(f"schema: {exc}")
    else:
        identity = _parsed(store.meta_raw("identity") or b"") or {}
        if sealed is None and isinstance(identity, dict) and identity.get("Schema"):
            found.append("schema: the sealed schema record (meta row 'schema') is missing")
        elif sealed is not None:
            found += [f"schema: {p}" for p in schema.sealed_differences(sealed, schema.fingerprint(store.conn))]
    for p in found:
        problems.add("schema", p)
    return found


def _check_rows(store: Store, keys: RootKeys, problems: _Problems) -> dict[str, dict]:
    """Check every row's MAC (or sealed blob); return the verified key documents by key id."""
    conn = store.conn
    identity = _open(store, "meta", "identity", conn.execute("SELECT value, mac FROM meta WHERE name='identity'"), problems)
    if identity is None or not isinstance(identity, dict) or not identity.get("AccountId"):
        problems.add("meta", "the sealed identity (meta row 'identity': account and region) is missing or damaged")
    keydocs: dict[str, dict] = {}
    for key_id, doc, mac in conn.execute("SELECT key_id, doc, mac FROM keys"):
        opened = _open(store, "keys", key_id, [(doc, mac)], problems)
        if opened is not None:
            keydocs[key_id] = opened
    for table, pk_sql in (("aliases", "name"), ("policies", "key_id || '/' || name"), ("grants", "grant_id"),
                          ("iam_policies", "principal || char(0) || name"), ("access_keys", "access_key_id"),
                          ("iam_roles", "role_arn"), ("iam_boundaries", "principal"),
                          ("org_state", "name"), ("org_policies", "policy_id")):
        for pk, doc, mac in conn.execute(f"SELECT {pk_sql}, doc, mac FROM {table}"):
            _open(store, table, pk, [(doc, mac)], problems)
    aead = AESGCM(keys.material)
    for key_id, version, sealed in conn.execute("SELECT key_id, version, sealed FROM material"):
        sealed = bytes(sealed)
        try:
            aead.decrypt(sealed[:12], sealed[12:], f"kmstui-material\0{key_id}\0{version}".encode())
        except (InvalidTag, ValueError):
            problems.add("rows", f"material: the sealed material of key {key_id} version {version} fails its "
                                 "check (edited, or moved from another key or version)")
    return keydocs


def _open(store: Store, table: str, pk: str, rows, problems: _Problems) -> Any:
    for payload, mac in rows:
        try:
            return store.open_doc(table, pk, bytes(payload), mac)
        except KMSError:
            shown = pk.replace("\0", " / ")
            problems.add("rows", f"{table}: row '{shown}' fails its MAC (edited, or moved from another row)")
            return None
    return None


def _check_rowsets(store: Store, problems: _Problems) -> None:
    try:
        sealed = store.rowsets_record()
    except KMSError as exc:
        problems.add("rowsets", str(exc))
        return
    actual, dupes = rowsets.scan(store.conn, store._mac_key)
    for table in rowsets.COVERED:
        what = rowsets.WHAT[table]
        (have, have_sum), (want, want_sum) = actual[table], sealed[table]
        if dupes.get(table):
            problems.add("rowsets", f"{table}: {what} rows appear more than once: {', '.join(dupes[table][:5])}")
        if have < want:
            problems.add("rowsets", f"{table}: {want - have} {what} row(s) missing ({have} present, {want} sealed): "
                                    "deleted outside kmstui")
        elif have > want:
            problems.add("rowsets", f"{table}: {have - want} {what} row(s) more than sealed ({have} present, {want} "
                                    "sealed): a deleted row was put back, or rows were added outside kmstui")
        elif have_sum != want_sum:
            problems.add("rowsets", f"{table}: the {what} rows are not the ones kmstui last wrote (same count): an "
                                    "older copy of a row was put back, or one row deleted and another put back")


def _check_references(conn, keydocs: dict[str, dict], problems: _Problems) -> None:
    """Every key has its policy and the material it claims; nothing belongs to a missing key; index
    columns agree with the documents they index."""
    policies = {k for (k,) in conn.execute("SELECT key_id FROM policies WHERE name='default'")}
    material: dict[str, set[int]] = {}
    for key_id, version in conn.execute("SELECT key_id, version FROM material"):
        material.setdefault(key_id, set()).add(int(version))
    known = {k for (k,) in conn.execute("SELECT key_id FROM keys")}
    for key_id, doc in keydocs.items():
        if key_id not in policies:
            problems.add("refs", f"policies: key {key_id} has no key policy row")
        missing = sorted(set(range(1, int(doc.get("Version") or 0) + 1)) - material.get(key_id, set()))
        if missing:
            problems.add("refs", f"material: key {key_id} is at version {doc.get('Version')} but the sealed material "
                                 f"of version(s) {', '.join(map(str, missing))} is missing")
    for table in ("policies", "grants", "aliases", "material"):
        for (key_id,) in conn.execute(f"SELECT DISTINCT key_id FROM {table}"):
            if key_id not in known:
                problems.add("refs", f"{table}: rows for key {key_id}, which does not exist (its key row was deleted?)")
    for key_id, deletion, rotation, expiry in conn.execute(
            "SELECT key_id, deletion_due, rotation_due, expiry_due FROM keys"):
        doc = keydocs.get(key_id)
        if doc is None:
            continue
        rot = doc.get("Rotation") or {}
        want = (doc.get("DeletionDate"), rot.get("Next") if rot.get("Enabled") and doc.get("KeyState") == "Enabled"
                else None, doc.get("ValidTo"))
        if (deletion, rotation, expiry) != want:
            problems.add("refs", f"keys: the due-time columns of key {key_id} disagree with its sealed metadata "
                                 "(edited to delay or skip a deletion, rotation or expiry)")
    for name, key_id, doc in conn.execute("SELECT name, key_id, doc FROM aliases"):
        if _field(doc, "TargetKeyId") != key_id:
            problems.add("refs", f"aliases: the key_id column of alias {name} disagrees with its sealed target")
    for grant_id, key_id, grantee, retiree, doc in conn.execute(
            "SELECT grant_id, key_id, grantee, retiree, doc FROM grants"):
        g = _parsed(doc)
        if g is not None and ((g.get("KeyId") or "").rsplit("key/", 1)[-1], g.get("GranteePrincipal"),
                              g.get("RetiringPrincipal")) != (key_id, grantee, retiree):
            problems.add("refs", f"grants: the index columns of grant {grant_id} disagree with its sealed document")


def _parsed(payload) -> Any:
    try:
        return json.loads(payload)
    except (TypeError, ValueError):
        return None


def _field(payload, name: str) -> Any:
    doc = _parsed(payload)
    return doc.get(name) if isinstance(doc, dict) else None


def accept(store: Store, keys: RootKeys) -> dict[str, list]:
    """Seal the rows as they are now (after the user chose not to restore a backup)."""
    store.attach_keys(keys.mac)
    with store.transaction():
        record = store.reseal_rowsets()
    return {t: c for t, (c, _s) in record.items()}
