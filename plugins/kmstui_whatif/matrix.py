"""`policy matrix`: which principals can perform which KMS actions on a key.

Each cell comes from the real engine, run on three variants of the inputs: as written with conditions
made as unfavourable as possible (Allow statements with conditions dropped, Deny conditions ignored,
constrained grants dropped): ALLOW means allowed whatever the request carries; with conditions as
favourable as possible: CONDITIONAL; and additionally with an IAM policy allowing everything: IAM (allowed
if the principal's own IAM policies allow it, as account delegation and cross-account use require).
"""

from __future__ import annotations

import copy
from typing import Any

from kmstui.authz import Request, compile_policy, evaluate
from kmstui.authz.actions import KEY_ACTIONS
from kmstui.authz.grants import GrantSet
from kmstui.authz.principals import ACCOUNT_RE, parse_caller, principal_values
from kmstui.commands.registry import Result, TableHint
from kmstui.errors import UsageError
from kmstui_whatif import inputs
from kmstui_whatif.commands import key_inputs, with_backend

ALLOW_ALL_IAM = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
STATES = ("ALLOW", "CONDITIONAL", "IAM", "DENY")


def _statements(doc: dict) -> list[dict]:
    st = doc.get("Statement")
    return [st] if isinstance(st, dict) else list(st or [])


def variant(doc: dict, favourable: bool) -> dict:
    """The policy with every condition assumed to hold where that helps the caller (favourable) or hurts it:
    a conditional Allow is kept without its condition or dropped, a conditional Deny the other way round."""
    out = []
    for st in _statements(doc):
        if "Condition" not in st:
            out.append(st)
        elif (st.get("Effect") == "Allow") == favourable:
            out.append({k: v for k, v in st.items() if k != "Condition"})
    inert = {"Effect": "Deny", "Principal": "*", "NotAction": "kms:*", "Resource": "*"}
    return {**doc, "Statement": out or [inert]}


def grant_variant(grants: list[dict], favourable: bool) -> list[dict]:
    if favourable:
        return [{k: v for k, v in g.items() if k != "Constraints"} for g in grants]
    return [g for g in grants if not g.get("Constraints")]


def principals(policy, grants: list[dict], key_account: str | None, extra: list[str]) -> list[tuple[str, str]]:
    """(principal ARN to evaluate, label) for everyone named in the policy and grants."""
    seen: dict[str, str] = {}

    def add(arn: str, label: str | None = None) -> None:
        seen.setdefault(arn, label or arn)

    for s in policy.statements:
        if s.principal is None:
            continue
        for ptype, v in principal_values(s.raw.get("NotPrincipal" if s.not_principal else "Principal")):
            if v == "*":
                if key_account:
                    add(f"arn:aws:iam::{key_account}:user/any-identity", f"any identity in {key_account}")
                other = "999999999999" if key_account != "999999999999" else "888888888888"
                add(f"arn:aws:iam::{other}:user/any-identity", "any identity in another account")
            elif ptype == "Service":
                add(v.lower())
            elif ACCOUNT_RE.match(v) or v.endswith(":root"):
                acct = v if ACCOUNT_RE.match(v) else v.split(":")[4]
                add(f"arn:aws:iam::{acct}:root", f"arn:aws:iam::{acct}:root (account root)")
                add(f"arn:aws:iam::{acct}:user/any-identity", f"any IAM identity in {acct}")
            else:
                add(v)
    for g in grants:
        for field in ("GranteePrincipal", "RetiringPrincipal", "GranteeServicePrincipal"):
            if g.get(field):
                add(g[field])
    for p in extra:
        add(p)
    return list(seen.items())


def _state(policy_doc: dict, grants: list[dict], req: Request, cache: dict, layers=None) -> str:
    def allowed(fav: bool, iam: bool) -> bool:
        kp = cache.setdefault(("kp", fav), compile_policy(variant(policy_doc, fav)))
        gs = cache.setdefault(("g", fav), GrantSet(grant_variant(grants, fav)))
        if req.action == "kms:RetireGrant":
            return any(evaluate(kp, [ALLOW_ALL_IAM] if iam else [], gs,
                                Request(req.principal, req.action, req.key_arn, target_grant_id=g.get("GrantId")),
                                layers=layers).allowed
                       for g in gs.grants)
        return evaluate(kp, [ALLOW_ALL_IAM] if iam else [], gs, req, layers=layers).allowed

    if allowed(False, False):
        return "ALLOW"
    if allowed(True, False):
        return "CONDITIONAL"
    if allowed(True, True):
        return "IAM"
    return "DENY"


def access_matrix(policy, grants: list[dict], key_arn: str, actions: list[str], extra: list[str],
                  layers=None) -> dict[str, Any]:
    """The matrix; with `layers` (organization, boundary, session policy) every cell also passes through them,
    so an SCP deny turns a cell to DENY and an allow-list SCP keeps only what it allows."""
    key_account = key_arn.split(":")[4] if key_arn.count(":") >= 5 else None
    doc = copy.deepcopy(policy.doc)
    cache: dict = {}
    rows = []
    for arn, label in principals(policy, grants, key_account, extra):
        cells = {a: _state(doc, grants, Request(arn, "kms:" + a, key_arn), cache, layers) for a in actions}
        rows.append({"Principal": label, "PrincipalArn": arn, "Kind": parse_caller(arn).kind,
                     "Allow": [a for a, s in cells.items() if s == "ALLOW"],
                     "Conditional": [a for a, s in cells.items() if s == "CONDITIONAL"],
                     "IfIam": [a for a, s in cells.items() if s == "IAM"], "Cells": cells})
    return {"KeyArn": key_arn, "Actions": actions, "Principals": rows}


def _short(names: list[str], actions: list[str]) -> str:
    """A readable summary: "all", "all but X, Y", or the list."""
    if not names:
        return "-"
    if len(names) == len(actions):
        return "all"
    missing = [a for a in actions if a not in names]
    if len(names) > 2 * len(missing) and len(actions) > 8:
        return "all but " + ", ".join(missing)
    return ", ".join(names)


def cmd_matrix(session, args) -> Result:
    if args.key_id:
        return with_backend(session, args, "policy matrix", _matrix)
    return _matrix(session, args)


def _matrix(session, args) -> Result:
    ki = key_inputs(session, args)
    if args.key_id and args.grants:
        ki.grants = ki.grants + inputs.read_grants(args.grants)
    # RetireGrant is decided by each grant's own rules: shown only when there are grants
    actions = [a for a in KEY_ACTIONS if a != "RetireGrant" or ki.grants]
    if args.actions:
        wanted = [a.strip().split(":")[-1] for a in args.actions.split(",") if a.strip()]
        by_lower = {a.lower(): a for a in KEY_ACTIONS}
        unknown = [a for a in wanted if a.lower() not in by_lower]
        if unknown:
            raise UsageError(f"--actions: unknown KMS key action(s) {', '.join(unknown)}")
        actions = [by_lower[a.lower()] for a in wanted]
    data = access_matrix(ki.policy, ki.grants, ki.key_arn, actions, args.principal or [],
                         inputs.read_layers(getattr(args, "layers", None)))
    lines = [f"access to {data['KeyArn']} (ALLOW: always; CONDITIONAL: when conditions hold; "
             "IAM: if the principal's IAM policies also allow)"]
    for row in data["Principals"]:
        lines.append(f"{row['Principal']}")
        for title, key in (("allow", "Allow"), ("conditional", "Conditional"), ("if IAM allows", "IfIam")):
            if row[key]:
                lines.append(f"    {title:<14} {_short(row[key], actions)}")
    table_rows = [{"Principal": r["Principal"], "Allow": _short(r["Allow"], actions),
                   "Conditional": _short(r["Conditional"], actions), "IfIam": _short(r["IfIam"], actions)}
                  for r in data["Principals"]]
    data["Rows"] = table_rows
    return Result(data=data, text="\n".join(lines),
                  table=TableHint("Rows", [("Principal", "Principal"), ("Allow", "Allow"),
                                           ("Conditional", "Conditional"), ("If IAM allows", "IfIam")]))
