"""The HSM file's SQL schema must be exactly the one kmstui creates: nothing planted, nothing altered.

A SQLite file carries code as well as data: a trigger planted in it runs inside kmstui's own transactions
(an AFTER UPDATE trigger that puts a disabled key's old row back, an AFTER DELETE trigger that re-inserts a
revoked grant), a view can stand in for a table, an altered table can carry a CHECK or DEFAULT. Row MACs
cannot see any of that: the rows a planted trigger writes are genuine old rows. So before a file is used its
`sqlite_master` (tables, indexes, triggers, views) is compared with the schema built from kmstui's own DDL
(`store.SCHEMA`), in a scratch in-memory database, so the expectation follows the code as it evolves:

* before unsealing (`foreign_objects`): every object in the file must be one kmstui defines, with the same
  definition (SQL compared with whitespace normalised), and no two objects may share a b-tree page;
* after unsealing (`Store.check_sealed_schema`): every object sealed under the root key (meta row `schema`,
  MAC'd) must still be there, which catches tables and indexes dropped since. Objects the code defines that
  an older file lacks are created then (`missing_objects`) and the sealed record updated.

Connections also run with `trusted_schema=OFF`, so even a definition that slipped through could not call
functions with side effects.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from hashlib import sha256
from typing import Any

META_NAME = "schema"

Object = tuple[str, str]  # (type, name)


def _normal(sql: str | None) -> str | None:
    return " ".join(sql.split()) if sql is not None else None


def objects(conn: sqlite3.Connection) -> dict[Object, tuple[str, int, str | None]]:
    """Every object in a connection's main schema: (type, name) -> (table, root page, normalised SQL)."""
    rows = conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM main.sqlite_master").fetchall()
    return {(str(t), str(n)): (str(tbl), int(root or 0), _normal(sql)) for t, n, tbl, root, sql in rows}


@functools.lru_cache(maxsize=4)
def expected(ddl: str) -> dict[Object, tuple[str, str | None]]:
    """The objects kmstui's DDL creates: (type, name) -> (table, normalised SQL); built once per process."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(ddl)
        return {key: (tbl, sql) for key, (tbl, _root, sql) in objects(conn).items()}
    finally:
        conn.close()


def describe(key: Object, table: str | None = None) -> str:
    kind, name = key
    on = f" on {table}" if table and table != name and kind in ("trigger", "index") else ""
    return f"{kind} {name!r}{on}"


def foreign_objects(conn: sqlite3.Connection, ddl: str) -> list[str]:
    """What in the file kmstui did not create (one phrase each; empty when the schema is kmstui's own or an
    older subset of it). Needs no key, so it runs before anything is unsealed."""
    want = expected(ddl)
    have = objects(conn)
    problems = []
    for key, (table, _root, sql) in sorted(have.items()):
        if key not in want:
            problems.append(f"a {describe(key, table)} kmstui never creates")
        elif want[key] != (table, sql):
            problems.append(f"{describe(key, table)} defined differently from kmstui's ({(sql or '')[:80]!r})")
    pages: dict[int, list[str]] = {}
    for (kind, name), (_table, root, _sql) in have.items():
        if root:
            pages.setdefault(root, []).append(f"{kind} {name!r}")
    problems += [f"{' and '.join(names)} share b-tree page {root}" for root, names in sorted(pages.items())
                 if len(names) > 1]
    return problems


def missing_objects(conn: sqlite3.Connection, ddl: str) -> list[Object]:
    """Objects kmstui's DDL defines that the file does not have (a file made by an older kmstui)."""
    have = objects(conn)
    return [key for key in expected(ddl) if key not in have]


def fingerprint(conn: sqlite3.Connection) -> dict[str, Any]:
    """What is sealed: the object list and a digest over every object's definition (root pages left out:
    VACUUM and the backup API may renumber them)."""
    have = objects(conn)
    canonical = json.dumps(sorted([k[0], k[1], tbl, sql] for k, (tbl, _root, sql) in have.items()))
    return {"Objects": sorted(f"{kind} {name}" for kind, name in have), "Digest": sha256(canonical.encode()).hexdigest()}


def sealed_differences(sealed: Any, current: dict[str, Any]) -> list[str]:
    """What the sealed record says is gone from the file (empty when nothing is). Objects present but not
    sealed need no check here: the check before unsealing already proved every present object is one kmstui
    defines, exactly as it defines it, so they can only be ones a newer kmstui added (they are then sealed)."""
    if not isinstance(sealed, dict) or not isinstance(sealed.get("Objects"), list):
        return ["the sealed schema record is damaged"]
    return [f"{o} was dropped" for o in sorted(set(sealed["Objects"]) - set(current["Objects"]))]
