"""Read-only fetches the TUI needs, run on the backend thread: the key list, the detail tabs, the backend's
status, and the first-run check. Changes never happen here; they go through session commands."""

from __future__ import annotations

import datetime as _dt
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from kmstui import callsource
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


USAGE_DAYS = 30
USAGE_OPERATIONS = 4  # the chart shows this many operations, busiest first


@dataclass
class KeyAudit:
    """One key's audit events for the Audit tab: lines (newest first) marked when they are the TUI's own
    screen reads, and usage counts per operation per day (user commands only) for the chart."""

    lines: list[tuple[str, bool]] = field(default_factory=list)
    usage: dict[str, list[int]] = field(default_factory=dict)
    days: int = USAGE_DAYS
    note: str = ""


def today() -> _dt.date:
    """The UTC date the usage chart ends on."""
    return _dt.datetime.now(_dt.timezone.utc).date()


def key_audit(events: Iterable[dict[str, Any]], key_id: str, *, until: _dt.date | None = None,
              days: int = USAGE_DAYS, limit: int = 200) -> KeyAudit:
    """Summarise the events about `key_id` (by resource ARN or requested key id); the chart covers the
    `days` days up to `until` (today)."""
    until = until or today()
    lines: deque[tuple[str, bool]] = deque(maxlen=limit)
    usage: dict[str, list[int]] = {}
    for event in events:
        resources = event.get("resources") or []
        params = event.get("requestParameters") or {}
        if not (any(key_id in str(r.get("ARN", "")) for r in resources) or key_id in str(params.get("keyId", ""))):
            continue
        name = str(event.get("eventName", ""))
        when = str(event.get("eventTime", ""))
        screen = (event.get("additionalEventData") or {}).get("source") == callsource.SCREEN
        error = event.get("errorCode")
        who = (event.get("userIdentity") or {}).get("arn", "")
        lines.append((f"{when}  {name}  {'FAILED ' + str(error) if error else 'ok'}  {who}"
                      f"{'  (screen read)' if screen else ''}", screen))
        if screen:
            continue
        try:
            age = (until - _dt.date.fromisoformat(when[:10])).days
        except ValueError:
            continue
        if 0 <= age < days:
            usage.setdefault(name, [0] * days)[days - 1 - age] += 1
    busiest = sorted(usage, key=lambda op: (-sum(usage[op]), op))[:USAGE_OPERATIONS]
    return KeyAudit(list(lines)[::-1], {op: usage[op] for op in busiest}, days)


def fetch_audit(session, key_id: str, limit: int = 200) -> KeyAudit:
    """The newest audit events that mention this key, and its usage per day (plain data for the tab)."""
    backend = session.backend()
    info = backend.info()
    path = info.extra.get("audit_log") or info.extra.get("audit_path")
    if not path:
        local = local_hsm_path(session)
        path = Path(str(local) + ".audit.jsonl") if local else None
    if not path or not Path(path).exists():
        return KeyAudit(note=f"No local audit log for {info.kind} backends.")
    from kmstui.audit import read_events

    return key_audit(read_events(Path(path)), key_id, limit=limit)
