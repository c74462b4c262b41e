"""Human renderings of decisions and traces for --output text (the data stays the JSON trace)."""

from __future__ import annotations

import json
from typing import Any


def _val(v: Any) -> str:
    return "absent" if v is None else json.dumps(v)


def trace_text(trace: dict[str, Any], *, indent: str = "") -> str:
    """A trace as readable lines: the decision, the steps, each statement and grant examined."""
    lines = [f"{indent}{trace['decision']}: {trace['reason']}"]
    req = trace.get("request", {})
    if req:
        ctx = req.get("encryption_context") or {}
        lines.append(f"{indent}  request: {req.get('principal')} ({req.get('principal_kind')}, account "
                     f"{req.get('caller_account') or '-'}) {req.get('action')} on {req.get('key_arn') or '*'}"
                     + (f" context {json.dumps(ctx)}" if ctx else "")
                     + (" [cross-account]" if req.get("cross_account") else ""))
    for st in trace.get("steps", []):
        lines.append(f"{indent}  step {st['step']}: {st['outcome']} - {st['detail']}")
    for s in trace.get("statements", []):
        mark = "applies" if s["applies"] else "no"
        if s["applies"] and (s.get("principal") or {}).get("match") == "account":
            mark += " (names the caller's account: delegates to its IAM policies)"
        head = f"{indent}  {s['policy']} {s['label']} {s['effect']}: {mark}"
        if not s["applies"] and s.get("why"):
            head += f" ({s['why']})"
        lines.append(head)
        if s["action_matched"]:
            for c in s.get("conditions", []):
                lines.append(f"{indent}      {'ok ' if c['result'] else 'NO '} {c['operator']} {c['key']} "
                             f"{json.dumps(c['values'])} vs {_val(c['request_value'])}: {c['why']}")
    for g in trace.get("grants", []):
        lines.append(f"{indent}  grant {g.get('grant_id')}: {'allows' if g['result'] else 'no'} ({g['why']})")
    for n in trace.get("notes", []):
        lines.append(f"{indent}  note: {n}")
    return "\n".join(lines)
