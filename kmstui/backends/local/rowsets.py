"""Sealed row-set digests: catch a row deleted, put back after deletion, or replaced by an older copy.

A row's own MAC proves it was written by kmstui, but not that it is the newest copy or that no row is
missing. So, for each covered table, the sealed meta row ``rowsets`` keeps the number of rows and the sum
(mod 2**256) of one keyed contribution per row, HMAC(table, primary key, the row's MAC or sealed blob).
SQLite TEMP triggers (living only in kmstui's own connection, created by its first write transaction:
Store.attach_keys) report every insert, update and delete to
the Store, which folds the changes into the record inside the same transaction, so the record and the rows
commit together. The record is encrypted (AES-GCM), so the contributions and sums are never visible and a
forger has nothing to compute with. Opening counts the rows of the tables in CHECKED_ON_OPEN (cheap);
`hsm verify` counts every table and recomputes the sums.
Reads (Encrypt, Decrypt) never touch the record.
"""

from __future__ import annotations

import hmac
import json
import os
from hashlib import sha256
from typing import Any, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

META_NAME = "rowsets"
MODULUS = 1 << 256
_AAD = b"kmstui-rowsets/1"

# table -> (SQL expression of a row's name, {p} standing for the row prefix; column with its MAC or sealed blob)
COVERED: dict[str, tuple[str, str]] = {
    "keys": ("{p}key_id", "mac"),
    "material": ("{p}key_id || '/' || {p}version", "sealed"),
    "aliases": ("{p}name", "mac"),
    "policies": ("{p}key_id || '/' || {p}name", "mac"),
    "grants": ("{p}grant_id", "mac"),
    "iam_policies": ("{p}principal || char(0) || {p}name", "mac"),
    "access_keys": ("{p}access_key_id", "mac"),
    "iam_roles": ("{p}role_arn", "mac"),
    "iam_boundaries": ("{p}principal", "mac"),
    "org_state": ("{p}name", "mac"),
    "org_policies": ("{p}policy_id", "mac"),
}
# Covered tables that files sealed before they existed have no entry for: they count as empty (and are
# counted on open, so a row slipped into such a table is still caught).
LATER = frozenset({"access_keys", "iam_roles", "iam_boundaries", "org_state", "org_policies"})
# Counted on every open (tables without a row per key, where a deletion would otherwise go unnoticed).
CHECKED_ON_OPEN = ("aliases", "grants", "iam_policies", "access_keys", "iam_roles", "iam_boundaries", "org_state",
                   "org_policies")
WHAT = {"keys": "key", "material": "key material version", "aliases": "alias", "policies": "key policy",
        "grants": "grant", "iam_policies": "IAM policy", "access_keys": "access key", "iam_roles": "IAM role",
        "iam_boundaries": "permissions boundary", "org_state": "organization", "org_policies": "SCP or RCP"}


def trigger_sql(tables: set[str] | None = None) -> list[str]:
    """TEMP triggers calling kmstui_row(table, name, old tag, new tag) for every row change (of the covered
    tables among `tables`, when given: a backup being read may predate a table)."""
    out = []
    for table, (pk, tag) in COVERED.items():
        if tables is not None and table not in tables:
            continue
        old_pk, new_pk = pk.format(p="OLD."), pk.format(p="NEW.")
        out += [
            f"CREATE TEMP TRIGGER IF NOT EXISTS kmstui_{table}_ins AFTER INSERT ON main.{table} BEGIN "
            f"SELECT kmstui_row('{table}', {new_pk}, NULL, NEW.{tag}); END",
            f"CREATE TEMP TRIGGER IF NOT EXISTS kmstui_{table}_del AFTER DELETE ON main.{table} BEGIN "
            f"SELECT kmstui_row('{table}', {old_pk}, OLD.{tag}, NULL); END",
            f"CREATE TEMP TRIGGER IF NOT EXISTS kmstui_{table}_upd AFTER UPDATE ON main.{table} BEGIN "
            f"SELECT kmstui_row('{table}', {old_pk}, OLD.{tag}, NULL); "
            f"SELECT kmstui_row('{table}', {new_pk}, NULL, NEW.{tag}); END",
        ]
    return out


def integrity_key(mac_key: bytes) -> bytes:
    return hmac.new(mac_key, b"kmstui/rowsets-key", sha256).digest()


def contribution(mac_key: bytes, table: str, name: str, tag: bytes) -> int:
    digest = hmac.new(mac_key, f"rowset\0{table}\0{name}\0".encode() + bytes(tag), sha256).digest()
    return int.from_bytes(digest, "big")


def empty() -> dict[str, list]:
    return {table: [0, 0] for table in COVERED}


def seal(key: bytes, record: dict[str, list]) -> bytes:
    body = json.dumps({t: [c, format(s, "x")] for t, (c, s) in record.items()}, sort_keys=True).encode()
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, body, _AAD)


def unseal(key: bytes, blob: bytes) -> dict[str, list] | None:
    """The record, or None when it does not decrypt (edited, or from another file)."""
    try:
        body = json.loads(AESGCM(key).decrypt(blob[:12], blob[12:], _AAD))
        return {t: [int(body[t][0]), int(body[t][1], 16)] if t in body or t not in LATER else [0, 0]
                for t in COVERED}
    except (InvalidTag, ValueError, KeyError, TypeError, IndexError):
        return None


def scan(conn, mac_key: bytes, on_row: Callable[[str, str, Any], None] | None = None) -> tuple[dict[str, list], dict[str, list[str]]]:
    """(record recomputed from the rows, {table: duplicated names}); call inside a read transaction."""
    record, dupes = empty(), {}
    have = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table, (pk, tag) in COVERED.items():
        if table not in have and table in LATER:
            continue
        seen: set[str] = set()
        count = total = 0
        for name, value in conn.execute(f"SELECT {pk.format(p='')}, {tag} FROM {table}"):
            name = str(name)
            if name in seen:
                dupes.setdefault(table, []).append(name)
            seen.add(name)
            count += 1
            total += contribution(mac_key, table, name, bytes(value or b""))
            if on_row is not None:
                on_row(table, name, value)
        record[table] = [count, total % MODULUS]
    return record, dupes
