"""`audit show` and `audit verify`: read and check the local HSM's hash-chained audit log."""

from __future__ import annotations

from collections import deque

from kmstui.commands.registry import Arg, Result, TableHint

SHOW_TABLE = TableHint(rows="Events", columns=[
    ("Seq", "seq"), ("Time", "eventTime"), ("Event", "eventName"), ("Key", "resources[0].ARN"),
    ("Caller", "userIdentity.arn"), ("Error", "errorCode"),
])


def _local_backend(session):
    from kmstui.backends.base import AUDIT

    backend = session.backend()
    backend.require(AUDIT)
    return backend


def audit_show(session, args) -> Result:
    from kmstui import audit
    from kmstui.backends.local.core import audit_path
    from kmstui.commands.hsm import _target

    _profile, path = _target(session)
    if args.limit is not None and args.limit < 1:
        from kmstui.errors import UsageError

        raise UsageError("--limit must be at least 1")
    arn = None
    if args.key_id:
        backend, ref = session.key_ref(args.key_id)
        arn = backend.key_arn(backend.resolve(ref))
    events = deque(maxlen=args.limit or 20)
    for event in audit.read_events(audit_path(path)):
        if arn is None or any(r.get("ARN") == arn for r in event.get("resources") or []):
            event.pop("hash", None)
            event.pop("mac", None)
            event.pop("prevHash", None)
            events.append(event)
    return Result(data={"Events": list(events)}, table=SHOW_TABLE)


def audit_verify(session, args) -> Result:
    backend = _local_backend(session)
    report = backend.verify_audit()
    report["AuditLog"] = str(backend.audit.path)
    if report["Valid"]:
        return Result(data=report, message=f"audit log intact: {report['Lines']} events, chain and sealed head verified")
    return Result(data=report, exit_code=1,
                  message=f"audit log BROKEN at line {report['BrokenAtLine']}: {report['Problem']}")


def register(registry) -> None:
    registry.describe_group("audit", "the local HSM's hash-chained audit log")
    registry.command("audit show", "show recent audit events (CloudTrail-shaped)", [
        Arg("--key-id", "only events about this key (id, ARN or alias)", complete="key", metavar="KEY"),
        Arg("--limit", "how many of the newest events (default 20)", type=int, metavar="N"),
    ])(audit_show)
    registry.command("audit verify", "check the audit log's hash chain, MACs and sealed head (exit 1 if broken)",
                     [])(audit_verify)
