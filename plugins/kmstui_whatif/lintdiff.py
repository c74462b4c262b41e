"""`policy lint` (risky patterns, each with an explanation and a fix) and `policy diff` (replay recorded
requests against a proposed policy and list every decision that would change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kmstui.authz import PolicyError, evaluate, lint_policy
from kmstui.authz.engine import as_compiled
from kmstui.authz.lint import lint_layers
from kmstui.authz.grants import GrantSet
from kmstui.authz.principals import ACCOUNT_RE
from kmstui.authz.engine import _action, allowed_under
from kmstui.authz.replay import diff, iter_requests, projection, request_key, statements_differ
from kmstui.commands.registry import Result, TableHint
from kmstui.errors import UsageError
from kmstui_whatif import inputs
from kmstui_whatif.commands import key_inputs, with_backend


def cmd_lint(session, args) -> Result:
    if args.key_id:
        return with_backend(session, args, "policy lint", _lint)
    return _lint(session, args)


def _lint(session, args) -> Result:
    if bool(args.file) == bool(args.key_id):
        raise UsageError("give a policy FILE or --key-id KEY (one of them)")
    grants = inputs.read_grants(args.grants)
    key_account = args.key_account
    if key_account is not None and not ACCOUNT_RE.match(key_account):
        raise UsageError(f"--key-account '{key_account}' is not a 12-digit AWS account id")
    if args.key_id:
        ki = inputs.from_backend(session, args.key_id)
        doc: Any = ki.policy.doc
        grants = ki.grants + grants
        key_account = key_account or ki.key_arn.split(":")[4]
        where = ki.key_arn
    else:
        doc = inputs.read_json(args.file, "policy lint")
        if isinstance(doc, dict) and isinstance(doc.get("Policy"), str):
            doc = doc["Policy"]
        where = args.file
    findings = lint_policy(doc, key_account=key_account, principal=args.principal, grants=grants)
    layers = inputs.read_layers(getattr(args, "layers", None))
    if layers is not None and not any(f.severity == "error" for f in findings):
        key_arn = ki.key_arn if args.key_id else inputs.placeholder_key_arn(as_compiled(doc, "key"), key_account)
        findings += lint_layers(doc, layers=layers, key_arn=key_arn)
    rows = [f.to_dict() for f in findings]
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    lines = [f"{where}: {errors} error(s), {warnings} warning(s)"]
    for f in findings:
        where_in = " ".join(p for p in (f.statement, f.element) if p)
        lines.append(f"{f.severity:<7} {f.code}: {where_in + ': ' if where_in else ''}{f.message}")
        if f.fix:
            lines.append(f"        fix: {f.fix}")
    failing = errors or (args.fail_on == "warning" and warnings)
    summary = f"{where}: " + (f"{errors} error(s), {warnings} warning(s), {len(rows) - errors - warnings} note(s)"
                              if rows else "no findings")
    return Result(data={"Findings": rows, "Errors": errors, "Warnings": warnings}, text="\n".join(lines),
                  summary=summary,
                  table=TableHint("Findings", [("Severity", "Severity"), ("Code", "Code"), ("Statement", "Statement"),
                                               ("Element", "Element"), ("Message", "Message"), ("Fix", "Fix")]),
                  exit_code=1 if failing else 0)


def cmd_diff(session, args) -> Result:
    if args.key_id or "audit" in (args.requests or []):
        return with_backend(session, args, "policy diff", _diff)
    return _diff(session, args)


def _diff(session, args) -> Result:
    if not args.requests:
        raise UsageError("give --requests audit (the local audit log) or --requests FILE... (CloudTrail events, "
                         "log files, scenario files)")
    proposed = inputs.read_policy(args.proposed, "--proposed")
    ki = key_inputs(session, args)
    if args.key_id and args.grants:
        ki.grants = ki.grants + inputs.read_grants(args.grants)
    only_key = ki.key_arn if (args.key_id or args.key_arn) else None
    files_iam = [inputs.read_policy(p, "--iam-policy", "iam") for p in args.iam_policy or []]
    gs = GrantSet(ki.grants)
    stored_iam: dict[str, list] = {}

    def iam_for(principal: str) -> list:
        if ki.backend is None:
            return files_iam
        if principal not in stored_iam:
            stored_iam[principal] = files_iam + inputs.identity_policies(ki.backend, principal)
        return stored_iam[principal]

    problems: list[str] = []
    skipped = 0

    def requests():
        nonlocal skipped
        for src in args.requests:
            path = _audit_path(session) if src == "audit" else src
            if not Path(path).exists():
                raise UsageError(f"--requests {src}: no such file")
            if Path(path).is_dir():
                raise UsageError(f"--requests {src}: is a directory; give the files (e.g. {src}/*.json)")
            try:
                recorded = iter_requests(path, on_error=problems.append)
                if src == "audit":  # read it whole first: looking up identity policies appends to this log
                    recorded = list(recorded)
                for r in recorded:
                    if r.key_arn is None or (only_key and r.key_arn != only_key):
                        skipped += 1
                        continue
                    yield r
            except ValueError as exc:
                raise UsageError(f"--requests {src}: {exc}") from None

    differ = statements_differ(ki.policy, proposed)
    pair = [ki.policy, proposed]
    # identity policies read from the backend differ per principal and are not known up front
    key = projection(pair + files_iam, gs) if ki.backend is None else request_key
    try:
        changes, total, distinct = diff(requests(),
                                        lambda r: evaluate(ki.policy, iam_for(r.principal), gs, r),
                                        lambda r: evaluate(proposed, iam_for(r.principal), gs, r),
                                        relevant=lambda r: differ(_action(r.action)[0]),
                                        both=lambda r: tuple(allowed_under(pair, iam_for(r.principal), gs, r)),
                                        key=key)
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    rows = [{"Principal": c.request.principal, "Action": c.request.action, "KeyArn": c.request.key_arn,
             "EncryptionContext": c.request.encryption_context, "Context": c.request.context, "Count": c.count,
             "Before": c.before.decision, "After": c.after.decision, "BeforeReason": c.before.reason,
             "AfterReason": c.after.reason} for c in changes]
    lines = [f"{total} request(s) replayed ({distinct} distinct), {len(rows)} would change"
             + (f"; {skipped} skipped (no key or another key)" if skipped else "")]
    for r in rows:
        lines.append(f"{r['Before']} -> {r['After']}  {r['Principal']} {r['Action']} (x{r['Count']})"
                     + (f" context {r['EncryptionContext']}" if r["EncryptionContext"] else ""))
        lines.append(f"    now: {r['AfterReason']}")
    data = {"Requests": total, "Distinct": distinct, "Skipped": skipped, "Changed": rows,
            "Problems": problems[:100]}
    return Result(data=data, text="\n".join(lines),
                  message=f"{len(problems)} line(s) were not KMS requests and were skipped" if problems else None,
                  table=TableHint("Changed", [("Before", "Before"), ("After", "After"), ("Principal", "Principal"),
                                              ("Action", "Action"), ("Count", "Count"), ("Now", "AfterReason")]),
                  exit_code=1 if rows and args.fail_on_change else 0)


def _audit_path(session) -> str:
    backend = session.backend()
    path = (backend.info().extra or {}).get("audit_log")
    if not path:
        raise UsageError(f"--requests audit: the {backend.kind} backend keeps no local audit log; give CloudTrail "
                         "files instead")
    return path
