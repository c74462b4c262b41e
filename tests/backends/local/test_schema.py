"""The schema kmstui expects in an HSM file is read from its DDL's text (schema.declared) when the DDL is plain,
and built by SQLite otherwise: both must give exactly the same objects, or the check before unsealing would
refuse kmstui's own files or accept an object it never creates (tests/adversarial/test_sqlite_schema.py)."""

from __future__ import annotations

import pytest

from kmstui.backends.local import schema
from kmstui.backends.local.store import SCHEMA


def test_kmstuis_ddl_is_read_exactly_as_sqlite_records_it():
    found = schema.declared(SCHEMA)
    assert found is not None and found == schema.built(SCHEMA)
    assert ("index", "sqlite_autoindex_material_1") in found and found[("table", "meta")][1].startswith(
        "CREATE TABLE meta (")


@pytest.mark.parametrize("ddl", [
    "CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY, b BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS t(a TEXT, b REAL, PRIMARY KEY (a, b));\nCREATE INDEX IF NOT EXISTS t_b ON t(b) WHERE b IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS t (\n    a TEXT,\n    b BLOB CHECK (length(b) > 0))",
    "CREATE TABLE IF NOT EXISTS t (a, b PRIMARY KEY)",
])
def test_plain_statements_are_read_as_sqlite_records_them(ddl):
    assert schema.declared(ddl) == schema.built(ddl)


@pytest.mark.parametrize("ddl", [
    "CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY, b BLOB)",  # the rowid itself: no automatic index
    "CREATE TABLE IF NOT EXISTS t (a INTEGER NOT NULL PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS t (a TEXT, PRIMARY KEY (a))",
    "CREATE TABLE IF NOT EXISTS t (a TEXT, b TEXT UNIQUE)",  # a second automatic index
    "CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS \"t\" (a TEXT)",
    "CREATE TABLE IF NOT EXISTS t (a TEXT) -- a comment",
    "CREATE UNIQUE INDEX IF NOT EXISTS i ON t(a)",
    "CREATE VIEW IF NOT EXISTS v AS SELECT 1",
    "create table if not exists t (a text)",
])
def test_anything_else_is_built_by_sqlite(ddl):
    """Forms the text reading does not cover are left to SQLite, so the expectation is still exact."""
    full = "CREATE TABLE IF NOT EXISTS t (a TEXT, b TEXT);\n" + ddl if "ON t(" in ddl else ddl
    assert schema.declared(full) is None
    schema.expected.cache_clear()
    assert schema.expected(full) == schema.built(full)
