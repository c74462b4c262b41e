"""Audit lines for the `hsm` commands (init, unseal, seal, change-passphrase, restore, verify).

They work on the file, not through the backend, so they write their own line into the same hash-chained
log and anchor it in the same sealed head. A line needs the root keys (its MAC, the head's MAC): a command
that has none at hand (sealing a file nothing holds unsealed) records nothing and says so. Parameters are
passed in by the command from an allow-list; passphrases never are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from kmstui import callsource
from kmstui.backends.local import auditing
from kmstui.backends.local.seal import RootKeys
from kmstui.backends.local.store import Store
from kmstui.errors import KMSError

SOURCE = "hsm.kmstui.local"


def record(store: Store, keys: RootKeys, name: str, params: dict[str, Any] | None = None,
           error: Exception | None = None, *, acknowledging: bool = False,
           change: Callable[[], Any] | None = None) -> int:
    """Append one event for an `hsm` command on `store`'s file, in one transaction with its sealed head;
    returns its sequence number. With `acknowledging` (a restore: the backup's sealed head names lines of a
    log that did not come with it) the event also records and closes any gap (auditing.acknowledge).
    `change` (e.g. `hsm verify --accept` resealing the rows) runs in that same transaction, before the line:
    the change commits with its line or not at all."""
    store.set_keys(keys.mac)
    try:
        identity = store.meta_doc("identity") or {}
    except KMSError:  # an edited identity (`hsm verify` reports it): still record the command, without it
        identity = {}
    store.check_sealed_schema(identity)  # ConfigError if objects kmstui created were dropped: never written to
    store.attach_keys(keys.mac)
    log = auditing.open_log(store, keys.audit, context={"awsRegion": identity.get("Region"),
                                                        "recipientAccountId": identity.get("AccountId")})
    event: dict[str, Any] = {
        "eventVersion": "1.08", "userIdentity": {"type": "LocalUser", "userName": auditing.local_user()},
        "eventSource": SOURCE, "eventName": name, "awsRegion": identity.get("Region"),
        "sourceIPAddress": "local", "userAgent": "kmstui", "requestParameters": params or None,
        "resources": [], "readOnly": False, "eventType": "KmstuiHsmCommand",
        "recipientAccountId": identity.get("AccountId"),
        "additionalEventData": {"source": callsource.current()},
    }
    if error is not None:
        event["errorCode"] = getattr(error, "code", type(error).__name__)
        event["errorMessage"] = str(error)
    try:
        with store.transaction():
            if change is not None:
                change()
            if acknowledging and auditing.acknowledge(store, log, event) is not None:
                seq = log.head().seq
            else:
                seq = auditing.append(store, log, event)
        return seq
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
