"""The audit log of an HSM file, tied to the head sealed in that file.

One rule: a line that records a change to the store is written inside the change's transaction, and the
head sealed in the file (meta row `audit_head`, MAC'd) is moved to it in that same transaction, after the
line is on disk. So a committed change always has its line, a rolled-back one never keeps it
(`AuditLog.release` cuts it off), and the sealed head never names a line that is not on disk. Lines written
outside a transaction (reads, failures) are anchored at most a second later by `AuditLog.flush`.

The head is never re-created when its row is missing: that is evidence loss (AuditGapError), resolved only
by `audit acknowledge-gap` (`acknowledge`), which records the gap in the chain and seals a new head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from kmstui import audit as auditlog
from kmstui.backends.local.store import Store

HEAD = "audit_head"


def audit_path(hsm_path) -> Path:
    return Path(str(hsm_path) + ".audit.jsonl")


def sealed_head(store: Store) -> auditlog.Anchor | None:
    """The head sealed in the file (its MAC checked), or None when the row is missing."""
    head = store.meta_doc(HEAD)
    if not isinstance(head, dict):
        return None
    return auditlog.Anchor(int(head.get("seq", 0)), str(head.get("hash", auditlog.GENESIS)))


def open_log(store: Store, audit_key: bytes, *, clock: Callable[[], float] | None = None,
             context: dict[str, Any] | None = None) -> auditlog.AuditLog:
    """The file's audit log, checked against and anchored in the file's sealed head."""

    def anchor(seq: int, digest: str) -> None:
        with store.meta_transaction():  # writes the head alone: no row-set triggers needed (Store.attach_keys)
            head = sealed_head(store)
            if head is not None and head.seq < seq:  # a missing head is never re-created here
                store.set_meta_doc(HEAD, {"seq": seq, "hash": digest})

    kw = {"clock": clock} if clock is not None else {}
    def version() -> Any:
        """Changes whenever another connection may have committed (e.g. moved the sealed head): the file's
        change token (Store.change_token: any commit, by any connection, changes it; no query), else SQLite's
        data_version (a query: changes when another connection commits)."""
        token = store.change_token()
        return token if token is not None else store.conn.execute("PRAGMA data_version").fetchone()[0]

    return auditlog.AuditLog(audit_path(store.path), audit_key, anchor=anchor, head=lambda: sealed_head(store),
                             version=version, context=context, **kw)


def append(store: Store, log: auditlog.AuditLog, event: dict[str, Any]) -> int:
    """Write one event: inside the store's open transaction when there is one (see the module docstring)."""
    if not store.in_transaction:
        return log.append(event)
    if not log.holding:
        _hook(store, log)
    return log.append_held(event)


def _hook(store: Store, log: auditlog.AuditLog) -> None:
    def seal() -> None:
        if log.holding:
            log.sync_data()
            head = log.head()
            store.set_meta_doc(HEAD, {"seq": head.seq, "hash": head.hash})

    store.on_commit(seal, log.release)


def local_user() -> str:
    import getpass  # HSM-level events only (it loads termios): an ordinary call's start-up skips it

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): still record the event
        return "unknown"


def acknowledge(store: Store, log: auditlog.AuditLog, event: dict[str, Any]) -> dict[str, Any] | None:
    """Record the log's gap in the chain and seal a head at that record (in one transaction). None, and
    nothing written, when there is no gap."""
    with store.transaction():
        _hook(store, log)
        return log.acknowledge_gap(event)
