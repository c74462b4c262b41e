"""The HSM file: SQLite in WAL mode, permissions 0600, every logical row authenticated.

Key material is sealed per version (AES-256-GCM under a root-derived key, AAD = key id + version); every
other row (key metadata, aliases, policies, grants, IAM policies, identity, the audit head) carries an
HMAC-SHA256 over its table, primary key and payload under a root-derived MAC key. A row edited, or moved to
another key, fails its MAC and is refused with KMSInternalException.

Crash safety and concurrency come from SQLite: writes run in `BEGIN IMMEDIATE` transactions with
synchronous=FULL (an acknowledged write survives a SIGKILL or power loss) and a busy timeout, so several
kmstui processes (a REPL and a TUI) can share one file. secure_delete overwrites freed pages, so the sealed
material of a deleted key does not linger in the file. SQLite failures (busy, read-only, disk full) become
KMS-named errors with one line saying what happened, never a traceback.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import mmap
import os
import sqlite3
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable, Iterator

from kmstui.backends.local import rowsets, schema
from kmstui.errors import ConfigError, DependencyTimeoutException, KMSError, KMSInternalException

FORMAT = "kmstui-hsm/1"
BUSY_TIMEOUT_MS = 15000
CACHE_KIB = 8192  # SQLite page cache per connection
_WAL_INDEX_HEADER = 48  # bytes of one copy of the wal-index header at the start of the -shm file

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL, mac BLOB);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY, created REAL NOT NULL, deletion_due REAL, rotation_due REAL, expiry_due REAL,
    doc BLOB NOT NULL, mac BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS keys_deletion ON keys(deletion_due) WHERE deletion_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS keys_rotation ON keys(rotation_due) WHERE rotation_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS keys_expiry ON keys(expiry_due) WHERE expiry_due IS NOT NULL;
CREATE TABLE IF NOT EXISTS material (
    key_id TEXT NOT NULL, version INTEGER NOT NULL, created REAL NOT NULL, sealed BLOB NOT NULL,
    PRIMARY KEY (key_id, version));
CREATE TABLE IF NOT EXISTS aliases (name TEXT PRIMARY KEY, key_id TEXT NOT NULL, doc BLOB NOT NULL, mac BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS aliases_key ON aliases(key_id);
CREATE TABLE IF NOT EXISTS policies (
    key_id TEXT NOT NULL, name TEXT NOT NULL, doc BLOB NOT NULL, mac BLOB NOT NULL, PRIMARY KEY (key_id, name));
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, grantee TEXT, retiree TEXT, name TEXT,
    doc BLOB NOT NULL, mac BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS grants_key ON grants(key_id);
CREATE INDEX IF NOT EXISTS grants_retiree ON grants(retiree);
CREATE TABLE IF NOT EXISTS iam_policies (
    principal TEXT NOT NULL, name TEXT NOT NULL, doc BLOB NOT NULL, mac BLOB NOT NULL, PRIMARY KEY (principal, name));
CREATE TABLE IF NOT EXISTS import_params (
    token_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires REAL NOT NULL, doc BLOB NOT NULL, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY, principal TEXT NOT NULL, doc BLOB NOT NULL, mac BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS access_keys_principal ON access_keys(principal);
CREATE TABLE IF NOT EXISTS iam_roles (role_arn TEXT PRIMARY KEY, doc BLOB NOT NULL, mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS iam_boundaries (principal TEXT PRIMARY KEY, doc BLOB NOT NULL, mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS org_state (name TEXT PRIMARY KEY, doc BLOB NOT NULL, mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS org_policies (policy_id TEXT PRIMARY KEY, doc BLOB NOT NULL, mac BLOB NOT NULL);
"""
# Tables added after kmstui-hsm/1 files were first written; opening an older file creates them (empty).
ADDED_TABLES = ("access_keys", "iam_roles", "iam_boundaries", "org_state", "org_policies")


def harden(conn: sqlite3.Connection) -> None:
    """Settings for any connection to an HSM file or a backup, before anything else is read from it: no
    function with side effects from the file's own schema, corrupt cells detected, and a page cache of fixed
    size whatever the file's header suggests."""
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute("PRAGMA cell_size_check=ON")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


def _run_all(hooks: list[Callable[[bool], None]], committed: bool) -> None:
    """Run every hook even if one fails (they release locks); then raise the first failure."""
    if not hooks:
        return
    try:
        hooks[0](committed)
    finally:
        _run_all(hooks[1:], committed)


_WRITES = (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE)  # (action, table, ...)
_READS = (sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_FUNCTION)


def _meta_writes_only(action: int, arg1: Any, _arg2: Any, _db: Any, _trigger: Any) -> int:
    """SQLite authorizer of `Store.meta_transaction`: reads, writes to the meta table, and the query_only
    and data_version pragmas; nothing else (no other table written, no object created, dropped or
    altered, nothing attached)."""
    if action in _WRITES:
        return sqlite3.SQLITE_OK if arg1 == "meta" else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        return sqlite3.SQLITE_OK if arg1 in ("query_only", "data_version") else sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in _READS else sqlite3.SQLITE_DENY


OPEN_ATTEMPTS = 3


def _primary_code(exc: Exception) -> int:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF


def _lost_race(exc: Exception) -> bool:
    """SQLITE_PROTOCOL: in WAL mode a connection that loses the race to begin a read many times over several
    seconds gives up with "locking protocol" (https://www.sqlite.org/rescode.html#protocol: rare, under
    intense contention; the operation should be retried). Seen when writers are killed and restarted in a
    tight loop (tests/adversarial/test_sigkill_writers.py): the file is fine and the next attempt opens it."""
    return _primary_code(exc) == sqlite3.SQLITE_PROTOCOL


def _contended(exc: Exception) -> bool:
    """Busy, locked or a lost locking race: other processes held the file; nothing is wrong with it."""
    text = str(exc)
    return (_primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL)
            or "locked" in text or "busy" in text)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class _HeldCommit:
    """The context manager `Store.hold_commit` returns (one per store; nested uses join the outermost)."""

    __slots__ = ("_store", "_outer")

    def __init__(self, store: "Store") -> None:
        self._store = store
        self._outer: list[bool] = []  # per entered block: whether it is the one that holds

    def __enter__(self) -> None:
        store = self._store
        outer = not (store._hold or store._depth or store._held_open)
        if outer:
            store._hold = True
        self._outer.append(outer)

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if not self._outer.pop():
            return
        store = self._store
        store._hold = False
        if store._held_open:
            if kind is None:
                store._commit()
            else:
                store._rollback()


class Store:
    """One connection to an HSM file. Unauthenticated until `attach_keys` gives it the MAC key."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self._mac_key: bytes | None = None
        self._depth = 0
        self._verified: dict[tuple[str, str], tuple[bytes, bytes, Any]] = {}
        self._rows: dict[tuple[str, str], tuple[bytes, Any]] = {}  # read_doc: (change token, verified doc)
        self._shm: mmap.mmap | None = None  # the -shm file's header, read for its change counter (change_token)
        self._pending: dict[str, list[int]] = {}  # row-set changes of the open transaction (rowsets.py)
        self._hold = False  # inside hold_commit(): the first transaction stays open until the call ends
        self._held_open = False
        self._held_commit = _HeldCommit(self)
        self._before_commit: list[Callable[[], None]] = []
        self._after_end: list[Callable[[bool], None]] = []
        self._untracked = False  # keys attached, row-set triggers not created yet: query-only (attach_keys)
        self._tracking = False  # the row-set triggers exist on this connection
        self._meta_only = False  # inside meta_transaction

    # -- opening and creating ---------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        harden(conn)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")
        return conn

    @staticmethod
    def _unusable(path: Path, exc: Exception) -> KMSError | ConfigError:
        """The one-line reason an existing path cannot be opened as an HSM file."""
        if _contended(exc):  # other processes held the file: it is fine, the open can simply be tried again
            return DependencyTimeoutException(
                f"the HSM file {path} could not be opened: another process kept it locked ({exc}); nothing was "
                "changed, try again")
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            return ConfigError(f"cannot open the HSM file {path} for writing (read-only file system or no "
                               "permission on the file or its folder; kmstui writes the file and its -wal/-shm "
                               "beside it)")
        text = str(exc)
        if "disk is full" in text or "disk I/O error" in text:
            try:
                full = os.statvfs(path.parent).f_bavail == 0
            except OSError:
                full = False
            return KMSInternalException(f"could not open the HSM file {path} ({text}"
                                        f"{': its file system is full' if full else ''}); nothing was changed")
        return ConfigError(f"{path} is not a kmstui HSM file ({exc})")

    @classmethod
    def open(cls, path: Path, *, live: bool = True, check_schema: bool = True) -> "Store":
        """Open an existing HSM file; ConfigError if it is missing, not a kmstui HSM, reached through a
        symbolic link, or holds SQLite objects kmstui did not create (schema.py; only `hsm verify` opens such
        a file, with check_schema=False, to list them). A file that is not ours is never written to (its
        journal mode is switched only after its format row and schema are checked); with live=False (a
        backup being read) the file is not changed at all."""
        if path.is_dir():
            raise ConfigError(f"{path} is a folder, not an HSM file; point the profile's 'path' at a file")
        for companion in (str(path), *(str(path) + suffix for suffix in ("-wal", "-shm", "-journal"))):
            if os.path.islink(companion):
                raise ConfigError(f"{companion} is a symbolic link; kmstui uses an HSM file and its companions "
                                  "only as regular files (point the profile's 'path' at the real file)")
        if not path.exists():
            raise ConfigError(f"no HSM file at {path}; create one with 'kmstui hsm init'")
        for attempt in range(OPEN_ATTEMPTS):
            conn = None
            try:
                conn = cls._connect(path)
                row = conn.execute("SELECT value FROM meta WHERE name='format'").fetchone()
                ours = row is not None and bytes(row[0]) == FORMAT.encode()
                foreign = schema.foreign_objects(conn, SCHEMA) if ours and check_schema else []
                if live and ours and not foreign:
                    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                if _lost_race(exc) and attempt + 1 < OPEN_ATTEMPTS:
                    continue
                raise cls._unusable(path, exc) from None
        if not ours:
            conn.close()
            raise ConfigError(f"{path} is not a kmstui HSM file (format {row and bytes(row[0])!r})")
        if foreign:
            conn.close()
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise ConfigError(
                f"{path} holds SQLite objects kmstui did not create ({'; '.join(foreign[:3])}{more}): a planted "
                "trigger or view could change what kmstui reads and writes, so the file is not used; run "
                "'kmstui hsm verify' to list them, then restore a backup")
        if live:
            cls._tighten(path)
            cls._add_missing_tables(path, conn)
        return cls(path, conn)

    @classmethod
    def _add_missing_tables(cls, path: Path, conn: sqlite3.Connection) -> None:
        """Create the tables of ADDED_TABLES that an older file lacks (empty: the sealed row-set record
        counts them as 0 rows, so nothing can be slipped in this way)."""
        have = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if all(t in have for t in ADDED_TABLES):
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip() and any(f" {t} " in statement or f" {t}(" in statement for t in ADDED_TABLES):
                    conn.execute(statement)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            conn.close()
            raise cls._unusable(path, exc) from None

    @staticmethod
    def _tighten(path: Path) -> None:
        """Put a file we own back to 0600 if something loosened it (the sealed rows allow offline guessing)."""
        with contextlib.suppress(OSError):
            st = os.stat(path)
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.chmod(path, 0o600)

    @classmethod
    def create(cls, path: Path, meta: dict[str, bytes], *, mac_key: bytes | None = None,
               docs: dict[str, Any] | None = None) -> "Store":
        """Create a new file with mode 0600, the given unauthenticated meta rows (format, file id, slots) and,
        under `mac_key`, the authenticated meta `docs` (identity, audit head), all in one transaction: a
        crash leaves either no usable file or a complete one, never one without its identity."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise ConfigError(f"an HSM file already exists at {path}; remove it first or choose another path") from None
        except OSError as exc:
            raise ConfigError(f"cannot create the HSM file {path} ({exc.strerror})") from None
        os.close(fd)
        try:
            conn = cls._connect(path)
            conn.execute("PRAGMA journal_mode=WAL")
            store = cls(path, conn)
            with store.transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if mac_key is not None:
                    store.attach_keys(mac_key)
                conn.execute("INSERT INTO meta(name, value) VALUES ('format', ?)", (FORMAT.encode(),))
                for name, value in meta.items():
                    conn.execute("INSERT INTO meta(name, value) VALUES (?, ?)", (name, value))
                for name, doc in (docs or {}).items():
                    store.set_meta_doc(name, doc)
                if mac_key is not None:
                    store.set_meta_doc(schema.META_NAME, schema.fingerprint(conn))
                if mac_key is not None:
                    store.set_meta_raw(rowsets.META_NAME, rowsets.seal(store._rowsets_key, rowsets.empty()))
        except BaseException:
            with contextlib.suppress(OSError):
                for suffix in ("", "-wal", "-shm"):
                    os.unlink(str(path) + suffix)
            raise
        return store

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        if self._shm is not None:
            with contextlib.suppress(Exception):
                self._shm.close()
            self._shm = None
        self._rows.clear()

    # -- the schema -----------------------------------------------------------------------------------
    def check_sealed_schema(self, identity: dict[str, Any]) -> dict[str, Any]:
        """After unsealing: every object sealed in the file must still be there (schema.py). A file made before
        the record existed gets one now (its identity then says so, so deleting it later is caught); objects
        the code defines that the file lacks (made by an older kmstui) are created, and the record updated to
        what the file now holds. Returns the identity (updated when adopted)."""
        sealed = self.meta_doc(schema.META_NAME)
        if sealed is None and identity.get("Schema"):
            raise ConfigError(f"integrity check failed for {self.path}: its sealed schema record is missing (the "
                              "HSM file was modified outside kmstui); run 'kmstui hsm verify', then restore a backup")
        have = schema.objects(self.conn)
        current = schema.fingerprint(self.conn, have)
        if sealed is not None:
            wrong = schema.sealed_differences(sealed, current)
            if wrong:
                raise ConfigError(f"{self.path}: its schema is not the one kmstui sealed in it ({'; '.join(wrong[:3])}); "
                                  "the file was modified outside kmstui: run 'kmstui hsm verify', then restore a backup")
        missing = schema.missing_objects(self.conn, SCHEMA, have)
        if sealed is None or missing or sealed.get("Digest") != current["Digest"]:
            with self.transaction():
                if missing:
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            self.conn.execute(statement)
                self.set_meta_doc(schema.META_NAME, schema.fingerprint(self.conn))
                if sealed is None:
                    identity = {**identity, "Schema": 1}
                    self.set_meta_doc("identity", identity)
        return identity

    # -- transactions -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (reentrant: nested uses join the outer one). Inside `hold_commit` it stays
        open after its block and commits when the held call ends."""
        if self._depth or self._held_open:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        try:
            if self._untracked and not self._meta_only:
                self._track_rows()
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._failure(exc) from None
        self._depth = 1
        self._pending.clear()
        try:
            yield self.conn
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise self._failure(exc) from None
            raise
        if self._hold:
            self._depth, self._held_open = 0, True
            return
        self._commit()

    @contextlib.contextmanager
    def meta_transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that may write the meta table and nothing else (moving the sealed audit head
        after read-only calls, at most once a second and at exit). On a connection whose row-set triggers
        are not created yet (`attach_keys`) it runs without them, and SQLite itself refuses any statement in
        it that would write another table (an authorizer), so no covered row can change untracked: a
        one-shot Encrypt never pays for the triggers. Otherwise (or nested) an ordinary `transaction()`."""
        if not self._untracked or self.in_transaction or self._hold:
            with self.transaction() as conn:
                yield conn
            return
        conn = self.conn
        conn.set_authorizer(_meta_writes_only)
        self._meta_only = True
        try:
            conn.execute("PRAGMA query_only=OFF")
            with self.transaction():
                yield conn
        finally:
            self._meta_only = False
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA query_only=ON")
            conn.set_authorizer(None)

    def hold_commit(self) -> "_HeldCommit":
        """Everything written from the first transaction inside this block to its end commits once, at the end
        (after hooks registered with `on_commit` ran, e.g. the call's audit line and sealed head); an
        exception rolls it all back. Work done before the first transaction (generating a key) holds no lock.
        Nested uses join the outer one. (A class, not a generator: every backend call enters it.)"""
        return self._held_commit

    def on_commit(self, before: Callable[[], None], after: Callable[[bool], None]) -> None:
        """In the open transaction: run `before()` inside it just before COMMIT, and `after(committed)` once it
        has ended either way."""
        self._before_commit.append(before)
        self._after_end.append(after)

    def _commit(self) -> None:
        try:
            if self._pending:
                self._fold_pending()
            for hook in self._before_commit:
                hook()
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise self._failure(exc) from None
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._failure(exc) from None
        self._ended(True)

    def _rollback(self) -> None:
        self._pending.clear()
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")
        self._ended(False)

    def _ended(self, committed: bool) -> None:
        self._depth, self._held_open = 0, False
        hooks, self._before_commit, self._after_end = self._after_end, [], []
        _run_all(hooks, committed)

    def _failure(self, exc: sqlite3.Error, *, writing: bool = True) -> KMSError:
        """A KMS-named, one-line error for a statement that SQLite refused; nothing was changed."""
        text = str(exc)
        if _contended(exc):
            waited = "" if _lost_race(exc) else f" for {BUSY_TIMEOUT_MS // 1000} s"
            return DependencyTimeoutException(
                f"the HSM file {self.path} stayed locked by another process{waited} ({text}); nothing was "
                "changed, try again")
        if not writing:
            return KMSInternalException(f"could not read the HSM file {self.path} ({text}); nothing was changed")
        return KMSInternalException(f"could not write the HSM file {self.path} ({text}); nothing was changed")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0 or self._held_open

    # -- raw meta ---------------------------------------------------------------------------------
    def meta_raw(self, name: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    def set_meta_raw(self, name: str, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(name, value, mac) VALUES (?, ?, NULL)", (name, value))

    # -- authenticated rows -----------------------------------------------------------------------
    def set_keys(self, mac_key: bytes) -> None:
        """Authenticate rows with `mac_key` from now on (reading only: `hsm verify` of a suspect file)."""
        self._mac_key = mac_key
        self._rowsets_key = rowsets.integrity_key(mac_key)
        self._verified.clear()
        self._rows.clear()

    def attach_keys(self, mac_key: bytes) -> None:
        """Authenticate rows with `mac_key` from now on, and track row-set changes of this connection.

        The TEMP triggers that report changes (rowsets.py; ~0.5 ms to create) are created when the first
        write transaction begins (`transaction`), since a process that only reads (a one-shot Encrypt or
        Decrypt) never needs them. Until then the connection is query-only (`PRAGMA query_only`: SQLite
        refuses every write), except inside `meta_transaction`, which can write the meta table alone: no
        covered row can change without its triggers."""
        self.set_keys(mac_key)
        self.conn.create_function("kmstui_row", 4, self._row_changed, deterministic=False)
        self.conn.execute("PRAGMA recursive_triggers=ON")  # so INSERT OR REPLACE reports the row it replaces
        if self.in_transaction or self.conn.in_transaction:  # Store.create: its rows follow in this transaction
            self._track_rows()
        elif not self._tracking:
            self.conn.execute("PRAGMA query_only=ON")
            self._untracked = True

    def _track_rows(self) -> None:
        """Create the row-set triggers and allow writes. Called before BEGIN (so a rollback cannot take the
        triggers away again), except by Store.create, whose transaction makes the whole file."""
        have = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        try:
            if self._untracked:
                self.conn.execute("PRAGMA query_only=OFF")  # TEMP triggers are writes too
            for statement in rowsets.trigger_sql(have):
                self.conn.execute(statement)
        except BaseException:
            if self._untracked:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("PRAGMA query_only=ON")
            raise
        self._untracked, self._tracking = False, True

    # -- sealed row sets (rowsets.py) ---------------------------------------------------------------
    def _row_changed(self, table: str, name: Any, old: bytes | None, new: bytes | None) -> None:
        if not self.in_transaction:
            raise RuntimeError("a covered row changed outside a transaction")
        delta = self._pending.setdefault(table, [0, 0])
        if old is not None:
            delta[0] -= 1
            delta[1] -= rowsets.contribution(self._mac_key, table, str(name), old)
        if new is not None:
            delta[0] += 1
            delta[1] += rowsets.contribution(self._mac_key, table, str(name), new)

    def _fold_pending(self) -> None:
        record = self.rowsets_record()
        for table, (count, total) in self._pending.items():
            record[table] = [record[table][0] + count, (record[table][1] + total) % rowsets.MODULUS]
        self._pending.clear()
        self.set_meta_raw(rowsets.META_NAME, rowsets.seal(self._rowsets_key, record))

    def rowsets_record(self) -> dict[str, list]:
        """The sealed row-set record; KMSInternalException if it is missing or was edited."""
        raw = self.meta_raw(rowsets.META_NAME)
        record = rowsets.unseal(self._rowsets_key, raw) if raw is not None else None
        if record is None:
            raise KMSInternalException(
                f"integrity check failed for the sealed row-set record of {self.path}: it is "
                f"{'missing' if raw is None else 'damaged'} (the HSM file was modified outside kmstui); run "
                "'kmstui hsm verify', then restore from a backup or accept the file as it is")
        return record

    def check_row_counts(self, tables: tuple[str, ...] = rowsets.CHECKED_ON_OPEN) -> None:
        """The cheap check made on opening: these tables have as many rows as the sealed record says (a
        deleted grant, IAM policy or alias row, or a deleted one put back, is refused at once). Tables with
        a row per key are not counted here (that would cost milliseconds on a 100,000-key file): a key whose
        policy or material row is missing is refused when used, and `hsm verify` counts everything."""
        try:
            self.conn.execute("BEGIN")
            try:
                record = self.rowsets_record()
                counts = {t: self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
            finally:
                self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failure(exc, writing=False) from None
        wrong = [f"{t}: {counts[t]} row(s), sealed record says {record[t][0]}"
                 for t in tables if counts[t] != record[t][0]]
        if wrong:
            raise KMSInternalException(
                f"integrity check failed for {self.path}: rows were deleted or added outside kmstui "
                f"({'; '.join(wrong)}); run 'kmstui hsm verify' for details, then restore from a backup or "
                "accept the file as it is with 'kmstui hsm verify --accept'")

    def reseal_rowsets(self) -> dict[str, list]:
        """Record the rows as they are now (`hsm verify --accept`, and adopting files made before the record
        existed). Call inside a transaction."""
        record, _dupes = rowsets.scan(self.conn, self._mac_key)
        self.set_meta_raw(rowsets.META_NAME, rowsets.seal(self._rowsets_key, record))
        return record

    def mac(self, table: str, pk: str, payload: bytes) -> bytes:
        if self._mac_key is None:
            raise RuntimeError("store is sealed")
        return hmac.new(self._mac_key, f"{table}\0{pk}\0".encode() + payload, sha256).digest()

    def seal_doc(self, table: str, pk: str, doc: Any) -> tuple[bytes, bytes]:
        payload = _dumps(doc)
        return payload, self.mac(table, pk, payload)

    def open_doc(self, table: str, pk: str, payload: bytes, mac: bytes | None) -> Any:
        """Check a row's MAC and parse it. Verified rows are remembered by (payload, mac) so a hot key
        costs one lookup, while a row changed by another process is checked again."""
        cached = self._verified.get((table, pk))
        if cached is not None and cached[1] == mac and cached[0] == payload:
            return cached[2]
        if mac is None or not hmac.compare_digest(self.mac(table, pk, bytes(payload)), bytes(mac)):
            raise KMSInternalException(
                f"integrity check failed for {table} row '{pk}' in {self.path}: the HSM file was modified "
                "outside kmstui; refusing to use it (restore from a backup)")
        doc = json.loads(payload)
        if len(self._verified) > 4096:
            self._verified.clear()
        self._verified[(table, pk)] = (bytes(payload), bytes(mac), doc)
        return doc

    def forget(self, table: str, pk: str) -> None:
        self._verified.pop((table, pk), None)
        self._rows.pop((table, pk), None)

    # -- reads that cost no query while nothing changed -------------------------------------------------
    def change_token(self) -> bytes | None:
        """Bytes that differ as soon as anything was committed to the file since they were read, by this
        connection or any other one, or None when there is no such token now (so read from SQLite).

        In WAL mode every connection to the file shares the wal-index (the -shm file, which SQLite maps into
        memory), and every commit rewrites its header: a counter incremented with each transaction, the
        WAL's last frame, its checksums and salts (SQLite's "WAL-mode File Format", walformat.html, 2.1:
        "iChange: Unsigned integer counter, incremented with each transaction"). The header is kept twice
        and a writer updates the second copy first; copies that differ mean a commit is under way, so no
        token. This is how SQLite itself decides that a connection's cached pages are still current; read
        here from the same shared mapping, without the read transaction a query opens (two fcntl locks and
        a statement: ~4 us). Never inside a transaction of this connection: its uncommitted rows are visible
        only to it and change no header."""
        if self._depth or self._held_open or self.conn.in_transaction:
            return None
        header = self._shm
        if header is None:
            header = self._map_shm()
            if header is None:
                return None
        first, second = header[:_WAL_INDEX_HEADER], header[_WAL_INDEX_HEADER:2 * _WAL_INDEX_HEADER]
        return first if first == second else None

    def _map_shm(self) -> mmap.mmap | None:
        """The start of the -shm file SQLite shares between connections, mapped read-only (it exists once this
        WAL connection has read the file; opened never through a symbolic link); None when there is none
        (a file not in WAL mode). A -shm file truncated under a running process breaks SQLite's own
        mapping of it the same way."""
        try:
            fd = os.open(str(self.path) + "-shm", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size < 2 * _WAL_INDEX_HEADER:
                return None
            self._shm = mmap.mmap(fd, 2 * _WAL_INDEX_HEADER, mmap.MAP_SHARED, mmap.PROT_READ)
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        return self._shm

    def read_doc(self, table: str, pk: str, query: str) -> Any:
        """The verified doc of the row `query` selects (doc, mac) by `pk`, or None when there is none. A row
        read before is answered from memory while the file's change token (`change_token`) is unchanged,
        i.e. nothing was committed since, by any process: a change made anywhere counts at the next call,
        exactly as if the row were read again; without a token the row is read and verified every time."""
        token = self.change_token()
        if token is not None:
            hit = self._rows.get((table, pk))
            if hit is not None and hit[0] == token:
                return hit[1]
        row = self.conn.execute(query, (pk,)).fetchone()  # the token was read first: a later commit shows
        if row is None:
            return None
        doc = self.open_doc(table, pk, row[0], row[1])
        if token is not None:
            if len(self._rows) > 4096:
                self._rows.clear()
            self._rows[(table, pk)] = (token, doc)
        return doc

    def meta_doc(self, name: str) -> Any:
        row = self.conn.execute("SELECT value, mac FROM meta WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        return self.open_doc("meta", name, bytes(row[0]), row[1])

    def set_meta_doc(self, name: str, doc: Any) -> None:
        payload, mac = self.seal_doc("meta", name, doc)
        self.conn.execute("INSERT OR REPLACE INTO meta(name, value, mac) VALUES (?, ?, ?)", (name, payload, mac))
