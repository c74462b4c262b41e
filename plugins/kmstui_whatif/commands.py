"""`whatif` and `policy test`: one decision with its trace, and scenario files as policy unit tests."""

from __future__ import annotations

from typing import Any

from kmstui.authz import evaluate
from kmstui.authz.scenarios import ScenarioError, discover, load
from kmstui.authz.scenarios import run as run_scenario
from kmstui.commands.registry import Command, Result, TableHint
from kmstui.errors import UsageError
from kmstui_whatif import inputs
from kmstui_whatif.render import trace_text


def with_backend(session, args, name: str, handler) -> Result:
    """Run `handler` as a command that may open a backend. The registered command is needs_backend=False so
    file-only use can never create or unseal a store; --key-id work goes through this declared variant."""
    variant = Command(tuple(name.split()), handler, f"{name} (against a backend)", needs_backend=True,
                      plugin="whatif")
    return session.run_command(variant, args)


def key_inputs(session, args) -> inputs.KeyInputs:
    if args.key_id and args.key_policy:
        raise UsageError("give either --key-id or --key-policy, not both")
    if args.key_id:
        return inputs.from_backend(session, args.key_id)
    if not args.key_policy:
        raise UsageError("give --key-id KEY (live backend) or --key-policy FILE")
    policy = inputs.read_policy(args.key_policy, "--key-policy")
    key_arn = getattr(args, "key_arn", None) or inputs.placeholder_key_arn(policy)
    return inputs.KeyInputs(policy, key_arn, inputs.read_grants(getattr(args, "grants", None)), source=args.key_policy)


def _iam(args, ki: inputs.KeyInputs | None, principal: str | None) -> list:
    files = [inputs.read_policy(p, "--iam-policy", "iam") for p in args.iam_policy or []]
    stored = inputs.identity_policies(ki.backend, principal) if ki is not None and ki.backend and principal else []
    return files + stored


def _layers(args, ki: inputs.KeyInputs | None, principal: str | None):
    """--layers FILE, or else (a live key) the organization and boundary its backend keeps for the caller."""
    if getattr(args, "layers", None):
        return inputs.read_layers(args.layers)
    return inputs.stored_layers(ki.backend if ki is not None else None, principal)


def cmd_whatif(session, args) -> Result:
    if args.request_id:
        result = _recorded(session, args.request_id)
        denied = result.data["Decision"] == "DENY"
    elif args.scenario:
        result = _scenarios(args.scenario)
        denied = any(item["Decision"] == "DENY" for item in result.data)
    else:
        result = with_backend(session, args, "whatif", _whatif_live) if args.key_id else _whatif(session, args)
        denied = result.data["Decision"] == "DENY"
    if args.exit_code and denied:
        result.exit_code = 1
    return result


def _recorded(session, request_id: str) -> Result:
    """The decision recorded for a request (its audit line keeps the engine's trace of every denial)."""
    from kmstui import audit
    from kmstui.backends.local.core import audit_path
    from kmstui.commands.hsm import _target

    _profile, path = _target(session)
    event = next((e for e in audit.read_events(audit_path(path)) if e.get("requestID") == request_id), None)
    if event is None:
        raise UsageError(f"--request-id: no request {request_id!r} in the audit log of {path}")
    trace = (event.get("additionalEventData") or {}).get("authorizationTrace")
    summary = {"RequestId": request_id, "EventTime": event.get("eventTime"), "EventName": event.get("eventName"),
               "Caller": (event.get("userIdentity") or {}).get("arn"), "ErrorCode": event.get("errorCode"),
               "ErrorMessage": event.get("errorMessage")}
    if trace is None:
        outcome = "ALLOW" if not event.get("errorCode") else None
        reason = ("the request was allowed" if outcome else
                  f"the request failed with {event['errorCode']} before or after authorization; no denial was recorded")
        return Result(data={**summary, "Decision": outcome, "Reason": reason, "Trace": None},
                      text=f"{outcome or event['errorCode']}: {reason}")
    return Result(data={**summary, "Decision": trace.get("decision"), "Reason": trace.get("reason"), "Trace": trace},
                  text=trace_text(trace))


def _whatif_live(session, args) -> Result:
    return _whatif(session, args)


def _whatif(session, args) -> Result:
    if getattr(args, "cloudtrail", None):
        return _whatif_cloudtrail(session, args)
    ki = key_inputs(session, args)
    grants = ki.grants + (inputs.read_grants(args.grants) if args.key_id and args.grants else [])
    request = inputs.build_request(args, ki.key_arn, ki)
    decision = evaluate(ki.policy, _iam(args, ki, args.principal), grants, request,
                        layers=_layers(args, ki, args.principal))
    return Result(data=decision.to_dict(), text=trace_text(decision.trace))  # the trace reads best as text


def _whatif_cloudtrail(session, args) -> Result:
    """`whatif --cloudtrail EVENT.json`: the request a CloudTrail record describes (caller, action, key, context,
    parameters), decided against the given or live policies, next to what AWS recorded."""
    from kmstui.authz.replay import cloudtrail_event, request_from_event

    for flag in ("principal", "action"):
        if getattr(args, flag, None):
            raise UsageError(f"--cloudtrail takes the caller and action from the record; drop --{flag}")
    event = cloudtrail_event(args.cloudtrail, getattr(args, "event_id", None))
    request = request_from_event(event)
    if request is None:
        raise UsageError(f"--cloudtrail {args.cloudtrail}: the record is not a KMS call made by a principal "
                         f"(eventSource {event.get('eventSource')!r}, eventName {event.get('eventName')!r})")
    if not args.key_id and not args.key_policy:
        raise UsageError("--cloudtrail needs the key's policy: --key-policy FILE (e.g. from `policy pull`) or "
                         "--key-id KEY")
    if request.key_arn and not getattr(args, "key_arn", None):
        args.key_arn = request.key_arn
    ki = key_inputs(session, args)
    request.key_arn = request.key_arn or ki.key_arn
    request.key, request.key_aliases, request.key_tags = ki.key, ki.aliases, ki.tags
    grants = ki.grants + (inputs.read_grants(args.grants) if args.key_id and args.grants else [])
    decision = evaluate(ki.policy, _iam(args, ki, request.principal), grants, request,
                        layers=_layers(args, ki, request.principal))
    data = decision.to_dict()
    code = event.get("errorCode")
    recorded = "DENY" if code and "AccessDenied" in str(code) else ("ALLOW" if not code or code not in
                                                                     _AUTH_ERRORS else "DENY")
    data["Recorded"] = {"EventId": event.get("eventID"), "EventTime": event.get("eventTime"),
                        "ErrorCode": code, "Decision": recorded,
                        "ErrorMessage": event.get("errorMessage")}
    data["Agrees"] = recorded == decision.decision
    verdict = "agrees with" if data["Agrees"] else "DIFFERS from"
    head = (f"CloudTrail {event.get('eventName')} by {request.principal} at {event.get('eventTime')}: AWS recorded "
            f"{code or 'success'}; kmstui's answer {verdict} it")
    return Result(data=data, text=head + "\n" + trace_text(decision.trace))


_AUTH_ERRORS = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def _scenarios(paths: list[str]) -> Result:
    out: list[dict[str, Any]] = []
    texts = []
    for path in paths:
        try:
            scenarios = load(path)
        except ScenarioError as exc:
            raise UsageError(f"--scenario {exc}") from None
        for sc in scenarios:
            try:
                d = run_scenario(sc)
            except ValueError as exc:  # PolicyError: a policy AWS would reject
                raise UsageError(f"--scenario {sc.name}: {exc}") from None
            item = {"Scenario": sc.name, "Decision": d.decision, "DecidedBy": d.decided_by, "Reason": d.reason,
                    "Trace": d.trace}
            if sc.expected:
                item["Expected"] = sc.expected
            out.append(item)
            texts.append(f"{sc.name}\n" + trace_text(d.trace, indent="  "))
    return Result(data=out, text="\n\n".join(texts),
                  table=TableHint(None, [("Scenario", "Scenario"), ("Decision", "Decision"), ("Expected", "Expected"),
                                         ("Reason", "Reason")]))


def cmd_test(session, args) -> Result:
    try:
        files = discover(args.paths)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    if not files:
        raise UsageError(f"no *.scenario.json files under {' '.join(args.paths)}")
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    lines: list[str] = []
    skipped = 0
    for f in files:
        try:
            scenarios = load(f)
        except ScenarioError as exc:
            entry = {"Result": "ERROR", "Scenario": str(f), "File": str(f), "Expected": None, "Decision": None,
                     "Reason": str(exc)}
            results.append(entry)
            failures.append(entry)
            lines.append(f"ERROR {f}: {exc}")
            continue
        for sc in scenarios:
            if sc.expected is None:
                skipped += 1
                continue
            try:
                d = run_scenario(sc)
            except ValueError as exc:  # PolicyError: a scenario with a policy AWS would reject
                entry = {"Result": "ERROR", "Scenario": sc.name, "File": str(f), "Expected": sc.expected,
                         "Decision": None, "Reason": str(exc)}
                results.append(entry)
                failures.append(entry)
                lines.append(f"ERROR {sc.name}: {exc}")
                continue
            ok = d.decision == sc.expected
            entry = {"Result": "pass" if ok else "FAIL", "Scenario": sc.name, "File": str(f),
                     "Expected": sc.expected, "Decision": d.decision, "Reason": d.reason}
            results.append(entry)
            if ok:
                if args.verbose:
                    lines.append(f"ok    {sc.name}")
            else:
                failures.append({**entry, "Trace": d.trace})
                lines.append(f"FAIL  {sc.name}: expected {sc.expected}, got {d.decision}\n" +
                             trace_text(d.trace, indent="      "))
    passed = sum(1 for r in results if r["Result"] == "pass")
    summary = f"{passed} passed, {len(failures)} failed" + (f", {skipped} without expected" if skipped else "") + \
        f" ({len(files)} file(s))"
    lines.append(summary)
    data = {"Passed": passed, "Failed": len(failures), "Skipped": skipped, "Results": results, "Failures": failures}
    return Result(data=data, text="\n".join(lines), message=None if not failures else summary, summary=summary,
                  table=TableHint("Results", [("Result", "Result"), ("Scenario", "Scenario"),
                                              ("Expected", "Expected"), ("Decision", "Decision")]),
                  exit_code=1 if failures else 0)
