"""`audit show`, `audit verify` and `audit acknowledge-gap`: read, check and repair the chain of the local HSM's
hash-chained audit log."""

from __future__ import annotations

from collections import deque

from kmstui.commands.registry import Arg, Result, TableHint

DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
SHOW_TABLE = TableHint(rows="Events", columns=[
    ("Seq", "seq"), ("Time", "eventTime"), ("Event", "eventName"), ("Key", "resources[0].ARN"),
    ("Caller", "userIdentity.arn"), ("Error", "errorCode"),
])

MAX_SHOW = 1_000_000  # events kept in memory for `audit show --limit N` (a bound, as for every input)


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
    if args.limit is not None and not 1 <= args.limit <= MAX_SHOW:
        from kmstui.errors import UsageError

        raise UsageError(f"--limit must be between 1 and {MAX_SHOW}")
    arn = None
    if args.key_id:
        backend, ref = session.key_ref(args.key_id)
        arn = backend.key_arn(backend.resolve(ref))
    events = deque(maxlen=args.limit or 20)
    for event in audit.read_events(audit_path(path)):
        if args.denied and event.get("errorCode") not in DENIED:
            continue
        if args.request_id and event.get("requestID") != args.request_id:
            continue
        if arn is None or any(r.get("ARN") == arn for r in event.get("resources") or []):
            event.pop("hash", None)
            event.pop("mac", None)
            event.pop("prevHash", None)
            events.append(event)
    return Result(data={"Events": list(events)}, table=SHOW_TABLE)


def _losses(report: dict) -> str:
    """What the chain itself records as lost (acknowledged gaps, torn lines cut off), for the summary line."""
    notes = []
    for gap in report.get("AcknowledgedGaps") or []:
        missing = gap.get("missingEvents")
        notes.append(f"an acknowledged gap at event {gap['Seq']}" + (f" ({missing} event(s) lost)" if missing else ""))
    torn = len(report.get("RecoveredTornLines") or [])
    if torn:
        notes.append(f"{torn} torn line(s) cut off after a crash or a full disk")
    return f"; the chain records {', '.join(notes)}" if notes else ""


def audit_verify(session, args) -> Result:
    backend = _local_backend(session)
    report = backend.verify_audit()
    report["AuditLog"] = str(backend.audit.path)
    if report["Valid"]:
        return Result(data=report, message=f"audit log intact: {report['Lines']} events, chain and sealed head "
                                           f"verified{_losses(report)}")
    hint = "; 'kmstui audit acknowledge-gap' records lost lines so work can go on" if "missing" in report["Problem"] \
        or "truncated" in report["Problem"] else ""
    return Result(data=report, exit_code=1,
                  message=f"audit log BROKEN at line {report['BrokenAtLine']}: {report['Problem']}{hint}")


MAX_REASON = 1024


def audit_acknowledge_gap(session, args) -> Result:
    """Record in the chain that complete lines are missing, so backend calls can run again (evidence loss
    is never accepted silently: this line stays in the log and `audit verify` lists it)."""
    from kmstui.errors import UsageError

    if args.reason is not None and len(args.reason) > MAX_REASON:
        raise UsageError(f"--reason is at most {MAX_REASON} characters")
    backend = _local_backend(session)
    details = backend.acknowledge_audit_gap(args.reason)
    log = str(backend.audit.path)
    if details is None:
        return Result(data={"AuditLog": log, "Acknowledged": False},
                      message="the audit log reaches its sealed head: there is no gap to acknowledge; nothing was "
                              "recorded")
    missing = details.get("missingEvents")
    lost = f"{missing} event(s) after event {details['logEndsAtSeq']} are lost" if missing else details["problem"]
    return Result(data={"AuditLog": log, "Acknowledged": True, **details},
                  message=f"recorded the gap in {log}: {lost}; backend calls can run again")


def register(registry) -> None:
    registry.describe_group("audit", "the local HSM's hash-chained audit log")
    registry.command("audit show", "show recent audit events (CloudTrail-shaped)", [
        Arg("--key-id", "only events about this key (id, ARN or alias)", complete="key", metavar="KEY"),
        Arg("--limit", "how many of the newest events (default 20)", type=int, metavar="N"),
        Arg("--denied", "only requests that authorization denied (each keeps its decision trace; explain one "
            "with 'whatif --request-id ID')", flag=True),
        Arg("--request-id", "only the event of this request (the x-amzn-RequestId a client got)", metavar="ID"),
    ])(audit_show)
    registry.command("audit verify", "check the audit log's hash chain, MACs and sealed head (exit 1 if broken)",
                     [])(audit_verify)
    registry.command("audit acknowledge-gap", "record in the chain that audit lines are missing (after a "
                     "truncated log), so backend calls can run again", [
                         Arg("--reason", "why (kept in the audit record)", metavar="TEXT"),
                     ], mutates=True, examples=["audit acknowledge-gap --reason 'log lost with the old disk'"])(
        audit_acknowledge_gap)
