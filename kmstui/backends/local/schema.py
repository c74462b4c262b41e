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
    """The objects kmstui's DDL creates: (type, name) -> (table, normalised SQL); once per process. Read from
    the DDL's text (`declared`) when it uses only what that reading covers, else built by SQLite."""
    found = declared(ddl)
    return found if found is not None else built(ddl)


def built(ddl: str) -> dict[Object, tuple[str, str | None]]:
    """The objects `ddl` creates, as SQLite records them in a scratch in-memory database (~0.4 ms)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(ddl)
        return {key: (tbl, sql) for key, (tbl, _root, sql) in objects(conn).items()}
    finally:
        conn.close()


# Words and characters after which `declared` does not read a statement (SQLite then builds the schema):
# anything that changes which objects SQLite makes or how it records them, quoting, comments.
_UNREAD_WORDS = frozenset({"UNIQUE", "WITHOUT", "STRICT", "AS", "CONSTRAINT", "TEMP", "TEMPORARY", "VIRTUAL"})
_UNREAD_MARKS = ('"', "'", "`", "[", "]", "--", "/*")


def declared(ddl: str) -> dict[Object, tuple[str, str | None]] | None:
    """What `built(ddl)` returns, read from the text without a database (a tenth of the cost, and every
    command opening the HSM file pays it): SQLite records a `CREATE TABLE|INDEX IF NOT EXISTS name ...`
    statement as `CREATE TABLE|INDEX name ...` (the statement's own text from the name on, `IF NOT EXISTS`
    left out), and gives a table whose primary key is not a rowid alias one automatic index,
    `sqlite_autoindex_<table>_1`, recorded without SQL. Only plain statements of these two kinds are read:
    None for anything else (unique constraints, a one-column or INTEGER primary key, quoted names, comments,
    other object kinds), and the caller builds the schema instead. tests/backends/local/test_schema.py checks
    that both give the same answer for kmstui's DDL."""
    found: dict[Object, tuple[str, str | None]] = {}
    for statement in ddl.split(";"):
        words = statement.split()
        if not words:
            continue
        if words[:2] not in (["CREATE", "TABLE"], ["CREATE", "INDEX"]) or words[2:5] != ["IF", "NOT", "EXISTS"]:
            return None
        text = " ".join(words[5:])
        name, paren, rest = text.partition("(")
        name = name.strip()
        if (not paren or any(mark in text for mark in _UNREAD_MARKS)
                or not _UNREAD_WORDS.isdisjoint(text.upper().replace("(", " ").replace(")", " ").replace(",", " ").split())):
            return None
        if words[1] == "INDEX":  # name ON table(columns) [WHERE ...]
            index, on, table = name.split(" ") if name.count(" ") == 2 else ("", "", "")
            if on.upper() != "ON" or not (_plain(index) and _plain(table)):
                return None
            found[("index", index)] = (table, f"CREATE INDEX {text}")
            continue
        if not _plain(name):
            return None
        found[("table", name)] = (name, f"CREATE TABLE {text}")
        keyed = _primary_key_index(paren + rest)
        if keyed is None:
            return None
        if keyed:
            found[("index", f"sqlite_autoindex_{name}_1")] = (name, None)
    return found


def _plain(name: str) -> bool:
    """A name SQLite records as it is written (no quoting, no schema prefix)."""
    return name.isidentifier() and name.isascii()


def _primary_key_index(body: str) -> bool | None:
    """Whether a table body `(col type ..., ...)` gets an automatic index for its primary key: True for a
    column-level key on a column not typed INT..., or a table-level key on two or more columns; False
    without a key; None (not read) for anything else."""
    body = body.strip()
    if not (body.startswith("(") and body.endswith(")")):
        return None
    parts: list[str] = []
    for piece in body[1:-1].split(","):  # column and constraint definitions (a comma inside (...) rejoined)
        if parts and parts[-1].count("(") != parts[-1].count(")"):
            parts[-1] += "," + piece
        else:
            parts.append(piece)
    if parts and parts[-1].count("(") != parts[-1].count(")"):
        return None
    parts = [p.strip() for p in parts]
    keyed = [p for p in parts if "PRIMARY KEY" in p.upper()]
    if not keyed:
        return False
    if len(keyed) > 1:
        return None
    words = keyed[0].split()
    if words[0].upper() == "PRIMARY":  # table level: PRIMARY KEY (a, b)
        columns = keyed[0][keyed[0].find("(") + 1:keyed[0].rfind(")")]
        return True if "(" in keyed[0] and columns.count(",") >= 1 else None
    if len(words) < 2 or "INT" in words[1].upper():  # no type, or INTEGER: possibly the rowid itself
        return None
    return True


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


def missing_objects(conn: sqlite3.Connection, ddl: str, have: dict[Object, Any] | None = None) -> list[Object]:
    """Objects kmstui's DDL defines that the file does not have (a file made by an older kmstui); `have`:
    `objects(conn)` when the caller just read it."""
    have = objects(conn) if have is None else have
    return [key for key in expected(ddl) if key not in have]


def fingerprint(conn: sqlite3.Connection, have: dict[Object, Any] | None = None) -> dict[str, Any]:
    """What is sealed: the object list and a digest over every object's definition (root pages left out:
    VACUUM and the backup API may renumber them); `have`: `objects(conn)` when the caller just read it."""
    have = objects(conn) if have is None else have
    canonical = json.dumps(sorted([k[0], k[1], tbl, sql] for k, (tbl, _root, sql) in have.items()))
    return {"Objects": sorted(f"{kind} {name}" for kind, name in have), "Digest": sha256(canonical.encode()).hexdigest()}


def sealed_differences(sealed: Any, current: dict[str, Any]) -> list[str]:
    """What the sealed record says is gone from the file (empty when nothing is). Objects present but not
    sealed need no check here: the check before unsealing already proved every present object is one kmstui
    defines, exactly as it defines it, so they can only be ones a newer kmstui added (they are then sealed)."""
    if not isinstance(sealed, dict) or not isinstance(sealed.get("Objects"), list):
        return ["the sealed schema record is damaged"]
    return [f"{o} was dropped" for o in sorted(set(sealed["Objects"]) - set(current["Objects"]))]
