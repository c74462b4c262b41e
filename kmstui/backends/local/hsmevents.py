"""Audit lines for the `hsm` commands (init, unseal, seal, change-passphrase, restore, verify).

They work on the file, not through the backend, so they write their own line into the same hash-chained
log and anchor it in the same sealed head. A line needs the root keys (its MAC, the head's MAC): a command
that has none at hand (sealing a file nothing holds unsealed) records nothing and says so. Parameters are
passed in by the command from an allow-list; passphrases never are.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from kmstui import audit as auditlog
from kmstui.backends.local.seal import RootKeys
from kmstui.backends.local.store import Store

SOURCE = "hsm.kmstui.local"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): still record the event
        return "unknown"


def record(store: Store, keys: RootKeys, name: str, params: dict[str, Any] | None = None,
           error: Exception | None = None) -> int:
    """Append one event for an `hsm` command on `store`'s file; returns its sequence number."""
    from kmstui.backends.local.core import audit_path

    store.attach_keys(keys.mac)
    identity = store.meta_doc("identity") or {}

    def anchor(seq: int, digest: str) -> None:
        with store.transaction():
            head = store.meta_doc("audit_head") or {"seq": 0}
            if int(head.get("seq", 0)) < seq:
                store.set_meta_doc("audit_head", {"seq": seq, "hash": digest})

    log = auditlog.AuditLog(Path(audit_path(store.path)), keys.audit, anchor=anchor)
    event: dict[str, Any] = {
        "eventVersion": "1.08", "userIdentity": {"type": "LocalUser", "userName": _user()},
        "eventSource": SOURCE, "eventName": name, "awsRegion": identity.get("Region"),
        "sourceIPAddress": "local", "userAgent": "kmstui", "requestParameters": params or None,
        "resources": [], "readOnly": False, "eventType": "KmstuiHsmCommand",
        "recipientAccountId": identity.get("AccountId"),
    }
    if error is not None:
        event["errorCode"] = getattr(error, "code", type(error).__name__)
        event["errorMessage"] = str(error)
    try:
        return log.append(event)
    finally:
        log.close()


def keys_at_hand(store: Store, runtime_dir: Path, held: RootKeys | None = None) -> RootKeys | None:
    """Root keys for `store` without prompting: `held` (an open backend's), the agent's, or KMSTUI_PASSPHRASE's."""
    from kmstui.backends.local import agent
    from kmstui.backends.local.unseal import file_id

    import os

    from kmstui.backends.local.unseal import PASSPHRASE_ENV, with_passphrase

    if held is not None and held.check == store.meta_raw("check"):
        return held
    try:
        root = agent.get_key(runtime_dir, file_id(store))
    except Exception:  # noqa: BLE001 - no agent, or an unusable runtime dir: try the environment
        root = None
    if root is not None:
        keys = RootKeys.derive(root)
        if keys.check == store.meta_raw("check"):
            return keys
    env = os.environ.get(PASSPHRASE_ENV)
    return with_passphrase(store, env) if env else None
