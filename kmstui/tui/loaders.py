"""Read-only fetches the TUI needs, run on the backend thread: the key list, the detail tabs, the backend's
status, and the first-run check. Changes never happen here; they go through session commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from rich.text import Text

from kmstui.backends.base import ALIASES, GRANTS, KEY_POLICIES, ROTATION, TAGS
from kmstui.tui.messages import BackendStatus, RotationLoaded

ROTATION_BATCH = 200


def local_hsm_path(session) -> Path | None:
    """Where the active profile's local HSM file lives (None for other backend kinds)."""
    profile = session.profile()
    if profile.backend != "local":
        return None
    try:
        from kmstui.backends.local.unseal import hsm_path
    except ImportError:
        return None
    return Path(hsm_path(profile.settings, session.config.paths.data_dir))


def local_location(session) -> str:
    return str(local_hsm_path(session) or session.profile().backend)


def needs_first_run(session) -> bool:
    path = local_hsm_path(session)
    return path is not None and not path.exists()


def keyring_available() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        return not isinstance(keyring.get_keyring(), fail.Keyring)
    except Exception:  # noqa: BLE001 - no keyring backend at all
        return False


def create_local_hsm(session, passphrase: str, use_keyring: bool) -> None:
    """First run: `hsm init` with the passphrase from the modal, handed over through prompt_secret so it
    never appears in command words. Without that command, opening the backend creates the file."""
    answers = iter([passphrase] * 4)  # new + repeat, then unsealing the file just made
    saved = session.prompt_secret
    session.prompt_secret = lambda _prompt: next(answers, None)
    try:
        command = session.registry.get(("hsm", "init"))
        if command is None:
            session.backend()
            return
        words = ["hsm", "init"]
        flags = {s for arg in command.args for s in arg.spellings}
        if use_keyring and "--keyring" in flags:
            words.append("--keyring")
        session.execute(words)
        session.backend()
    finally:
        session.prompt_secret = saved


def backend_status(session) -> BackendStatus:
    backend = session.backend()
    info = backend.info()
    return BackendStatus(info.kind, info.location, info.sealed)


def list_keys(session) -> list[dict[str, Any]]:
    return session.backend().list_key_metadata()


def rotation_status(session, keys: list[dict[str, Any]], post: Callable[[Any], Any]) -> None:
    """Fill the table's rotation column in batches (only keys that can rotate automatically)."""
    backend = session.backend()
    if not backend.supports(ROTATION):
        return
    batch: dict[str, bool | None] = {}
    for md in keys:
        if md.get("KeySpec") != "SYMMETRIC_DEFAULT" or md.get("KeyState") in ("PendingDeletion",) \
                or md.get("KeyRotationEnabled") is not None:
            continue
        try:
            batch[md["KeyId"]] = bool(backend.get_key_rotation_status(KeyId=md["KeyId"]).get("KeyRotationEnabled"))
        except Exception:  # noqa: BLE001 - a key we may not read stays blank
            batch[md["KeyId"]] = None
        if len(batch) >= ROTATION_BATCH:
            post(RotationLoaded(batch))
            batch = {}
    if batch:
        post(RotationLoaded(batch))


def fetch_policy(session, key_id: str) -> dict[str, Any]:
    backend = session.backend()
    backend.require(KEY_POLICIES)
    return backend.get_key_policy(KeyId=key_id, PolicyName="default")


def fetch_grants(session, key_id: str) -> dict[str, Any]:
    backend = session.backend()
    backend.require(GRANTS)
    grants: list[dict[str, Any]] = []
    marker = None
    while True:
        page = backend.list_grants(KeyId=key_id, **({"Marker": marker} if marker else {}))
        grants.extend(page.get("Grants", []))
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            return {"Grants": grants}


def fetch_rotation(session, key_id: str) -> dict[str, Any]:
    backend = session.backend()
    backend.require(ROTATION)
    status = backend.get_key_rotation_status(KeyId=key_id)
    status = {k: v for k, v in status.items() if k != "ResponseMetadata"}
    try:
        rotations = backend.list_key_rotations(KeyId=key_id).get("Rotations", [])
    except Exception:  # noqa: BLE001 - e.g. an asymmetric key: status is still worth showing
        rotations = []
    status["Rotations"] = {str(n): r for n, r in enumerate(rotations, 1)} or "none yet"
    return status


def fetch_aliases(session, key_id: str) -> dict[str, Any]:
    backend = session.backend()
    out: dict[str, Any] = {}
    if backend.supports(ALIASES):
        out["Aliases"] = [a["AliasName"] for a in backend.list_aliases(KeyId=key_id).get("Aliases", [])] or "none"
    if backend.supports(TAGS):
        tags = backend.list_resource_tags(KeyId=key_id).get("Tags", [])
        out["Tags"] = {t["TagKey"]: t["TagValue"] for t in tags} or "none"
    return out


def fetch_audit(session, key_id: str, limit: int = 200) -> Text:
    """The newest audit events that mention this key, one line each (plain text)."""
    backend = session.backend()
    info = backend.info()
    path = info.extra.get("audit_log") or info.extra.get("audit_path")
    if not path:
        local = local_hsm_path(session)
        path = Path(str(local) + ".audit.jsonl") if local else None
    if not path or not Path(path).exists():
        return Text(f"No local audit log for {info.kind} backends.", style="dim")
    from kmstui.audit import read_events

    lines: list[str] = []
    for event in read_events(Path(path)):
        blob = json.dumps(event)
        if key_id in blob:
            error = event.get("errorCode")
            who = (event.get("userIdentity") or {}).get("arn", "")
            lines.append(f"{event.get('eventTime', '')}  {event.get('eventName', '')}  "
                         f"{'FAILED ' + str(error) if error else 'ok'}  {who}")
    if not lines:
        return Text("No audit events for this key yet.", style="dim")
    return Text("\n".join(lines[-limit:][::-1]))
