"""The decision procedure (kms-authz.md §1): explicit deny; RetireGrant by the grant's own rules; the
cross-account operation filter; key-policy allow, direct or delegated to the account's IAM policies (and the
caller-side IAM allow that cross-account use needs); grants; otherwise implicit deny.

`evaluate` runs without recording anything; a Decision's trace is built on demand by running the same
procedure again with a recorder, so both paths share every predicate and cannot disagree.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

from kmstui.authz import actions as A
from kmstui.authz.context import RequestContext
from kmstui.authz.grants import GrantSet, can_retire_grant, grant_decision
from kmstui.authz.statements import _applies, _iam_allow, _principal_how, _ref  # noqa: F401 - lint imports some
from kmstui.authz.model import Decision, Request
from kmstui.authz.policy import CompiledPolicy, Statement, compile_policy
from kmstui.authz.principals import ACCOUNT, DIRECT, Caller, parse_caller

if TYPE_CHECKING:
    from kmstui.authz.org import Layers

# kmstui.authz.layers and kmstui.authz.org are imported where a request has layers (an organization, a
# permissions boundary, session policies): most requests have none, and a command's start-up skips them.

_ACTION_CACHE: dict[str, tuple[str, str]] = {}
_COMPILED: "OrderedDict[tuple, tuple[Any, Any, CompiledPolicy]]" = OrderedDict()
_MAX_COMPILED = 256

NOTE_GRANT_TOKENS = "grant tokens only make a new grant usable before it is consistent; they do not change the decision"
NOTE_XACCOUNT_GRANT = ("medium confidence: a cross-account grantee using a grant needs no IAM policy in its own "
                       "account (kms-authz.md §5.2)")
NOTE_NOTPRINCIPAL = "medium confidence: NotPrincipal in key policies is undocumented; IAM semantics used"
NOTE_GRANT_CAPS = ("medium confidence: AWS documents no interaction between KMS grants and permissions boundaries "
                   "or session policies; kmstui lets them cap a grant to a role (as they cap a key policy naming "
                   "the role ARN) and fails closed (kms-authz-organizations.md B11)")
NOTE_GRANT_DIRECT = ("medium confidence: the grant names the caller's own ARN, so, like a key policy naming it, a "
                     "permissions boundary or session policy does not cap it (kms-authz-organizations.md B3, B5, "
                     "B11)")
NOTE_NO_KEY_ARN = ("no key ARN given for an operation on a key: the key policy still decides, the key is taken to "
                   "be in the caller's account, and IAM statements naming key ARNs cannot match; give key_arn")
_KEY_ACTION_SET = frozenset(A.KEY_ACTIONS)


def _is_keyless(op: str, key_arn: str | None) -> bool:
    """Operations that involve no key (IAM alone decides). An operation on a key with no key ARN given is
    still decided by the key policy: AWS never lets IAM alone authorize kms:Decrypt."""
    return op in A.KEYLESS_ACTIONS or (not key_arn and op not in _KEY_ACTION_SET)


def _action(action: str) -> tuple[str, str]:
    """("kms:Decrypt", "Decrypt") for any spelling of the action."""
    hit = _ACTION_CACHE.get(action)
    if hit is None:
        full = A.full(action)
        hit = (full, full.partition(":")[2] if full.startswith("kms:") else "")
        if len(_ACTION_CACHE) < 4096:
            _ACTION_CACHE[action] = hit
    return hit


def as_compiled(doc: Any, kind: str, name: str | None = None) -> CompiledPolicy:
    """Compile `doc`, reusing an earlier compilation of the same object when it has not changed since
    (checked by equality with a snapshot, so a mutated document is recompiled)."""
    if isinstance(doc, CompiledPolicy):
        return doc
    if isinstance(doc, dict) and "PolicyDocument" in doc and "Statement" not in doc:
        name = doc.get("PolicyName") or name
        doc = doc["PolicyDocument"]
    key = (id(doc), kind, name)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is doc and hit[1] == doc:
        return hit[2]
    compiled = compile_policy(doc, kind, name)
    if isinstance(doc, (dict, str)):
        _COMPILED[key] = (doc, copy.deepcopy(doc), compiled)
        if len(_COMPILED) > _MAX_COMPILED:
            _COMPILED.popitem(last=False)
    return compiled


_KEY_PARTS: dict[str | None, tuple[str | None, str | None]] = {}
_NO_GRANTS = GrantSet(())


def _key_parts(key_arn: str | None) -> tuple[str | None, str | None]:
    hit = _KEY_PARTS.get(key_arn)
    if hit is None:
        hit = _split_key(key_arn)
        if len(_KEY_PARTS) < 4096:
            _KEY_PARTS[key_arn] = hit
    return hit


def _split_key(key_arn: str | None) -> tuple[str | None, str | None]:
    if not key_arn or not key_arn.startswith("arn:"):
        return None, None
    parts = key_arn.split(":", 5)
    if len(parts) < 6:
        return None, None
    return parts[4] or None, parts[3] or None


@lru_cache(maxsize=4096)
def _key_partition(key_arn: str | None) -> str | None:
    if not key_arn or not key_arn.startswith("arn:"):
        return None
    return key_arn.split(":", 2)[1] or None


class _Recorder:
    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.grants: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.layer: str | None = None  # the layer that decided, when not evident from decided_by
        self.medium: list[str] = []  # medium-confidence answers (AWS pages contradict or are silent)

    def step(self, name: str, outcome: str, detail: str, statements: Sequence[str] = ()) -> None:
        entry: dict[str, Any] = {"step": name, "outcome": outcome, "detail": detail}
        if statements:
            entry["statements"] = list(statements)
        self.steps.append(entry)


def _context(req: Request) -> RequestContext:
    full, op = _action(req.action)
    caller = parse_caller(req.principal, req.caller_account)
    if caller.account is None and req.caller_account and caller.kind != "service":
        caller = Caller(caller.arn, caller.kind, req.caller_account, caller.partition, caller.name, caller.role_name)
    key_account, key_region = _key_parts(req.key_arn)
    return RequestContext(req, caller, op, key_account, key_region)


def _decide(kp: CompiledPolicy | None, iams: list[CompiledPolicy], gs: GrantSet, req: Request,
            rec: _Recorder | None, ctx: RequestContext | None = None, lay: Layers | None = None
            ) -> tuple[bool, Any, str]:
    """(allowed, reason, decided_by); the reason may be a function producing it (lazy, fast path only).
    `ctx` may be shared between evaluations of the same request under different policies. `lay` adds the
    organization (SCPs, RCPs), the permissions boundary and session policies (None: none of them)."""
    full, op = _action(req.action)
    if ctx is None:
        ctx = _context(req)
    caller = ctx.caller
    key_account = ctx.key_account
    keyless = _is_keyless(op, req.key_arn)
    resource = req.key_arn if req.key_arn else "*"
    use_kp = kp is not None and not keyless

    # 0. who is calling, and from which partition: fail closed on a missing caller; "You cannot use IAM
    # credentials from one partition to interact with resources in a different partition" (AWS Fault
    # Isolation Boundaries, "Partitions").
    if not caller.arn:
        why = "the request names no principal (an empty caller is never the account root)"
        if rec:
            rec.step("caller", "deny", why)
        return False, why, "caller"
    partition = _key_partition(req.key_arn) or req.partition
    if partition and caller.kind != "service" and caller.partition != partition:
        why = (f"the caller is in partition {caller.partition} and the " +
               ("key" if req.key_arn else "account") + f" in partition {partition}: credentials of one "
               "partition can never act on resources of another")
        if rec:
            rec.step("partition", "deny", why)
        return False, why, "partition"

    view = None
    if lay is not None:
        from kmstui.authz.layers import layer_view

        view = layer_view(lay, ctx, req, op)
        ctx.organization = lay.organization

    # 1. explicit deny anywhere
    if use_kp:
        for s in kp.for_action(full)[0]:
            if _applies(s, resource, ctx, caller) is not None:
                why = f"explicit deny: {_ref(kp, s)} denies {full}"
                if rec:
                    rec.step("explicit_deny", "deny", why, [_ref(kp, s)])
                return False, why, "explicit_deny"
    for p in iams:
        for s in p.for_action(full)[0]:
            if _applies(s, resource, ctx, None) is not None:
                why = f"explicit deny: {_ref(p, s)} denies {full}"
                if rec:
                    rec.step("explicit_deny", "deny", why, [_ref(p, s)])
                return False, why, "explicit_deny"
    if view is not None:
        hit = view.explicit_deny(kp if use_kp else None, full, resource, ctx, caller)
        if hit is not None:
            why, refs, layer = hit
            if rec:
                rec.step("explicit_deny", "deny", why, refs)
                rec.layer = layer
            return False, why, "explicit_deny"
    if rec:
        rec.step("explicit_deny", "continue", "no Deny statement applies")

    # 1b. the organization's filters: RCPs on the key's side (E2), SCPs on the caller's (E3)
    if view is not None:
        if rec:
            view.record_rcps(rec)
        miss = view.scp_filter(full, resource, ctx)
        if miss is not None:
            if rec:
                rec.step("scp", "deny", miss)
                rec.layer = "scp"
            return False, miss, "scp"
        if rec:
            view.record_scps(rec)

    # 2. RetireGrant is decided by the grant itself
    if op == "RetireGrant":
        grant = gs.by_id.get(req.target_grant_id or "")
        if grant is None:
            why = ("RetireGrant is authorized by the grant itself; " +
                   (f"grant {req.target_grant_id} is not among the key's grants" if req.target_grant_id
                    else "the request names no target_grant_id"))
            if rec:
                rec.step("retire_grant", "deny", why)
            return False, why, "retire_grant"
        ok, why = can_retire_grant(grant, caller)
        why = f"RetireGrant of {req.target_grant_id}: {why}"
        if rec:
            rec.step("retire_grant", "allow" if ok else "deny", why + " (kms:RetireGrant in a key policy has no effect)")
        return ok, why, "retire_grant"

    # 3. cross-account operation filter
    same_account = caller.kind == "service" or caller.account is None or key_account is None or \
        caller.account == key_account
    if not keyless and not same_account and op not in A.CROSS_ACCOUNT_ACTIONS:
        why = (f"{full} cannot be used cross-account (caller account {caller.account}, key account "
               f"{key_account}), whatever the policies say")
        if rec:
            rec.step("cross_account_filter", "deny", why)
        return False, why, "cross_account_filter"
    if rec and not keyless:
        rec.step("cross_account_filter", "continue",
                 "same account" if same_account else f"{full} is allowed cross-account")

    # key-less operations: IAM alone decides
    if keyless:
        if caller.is_root:
            why = f"the account root may call {full} (no key involved)"
            if rec:
                rec.step("iam", "allow", why)
            return True, why, "iam"
        hit = _iam_allow(iams, full, resource, ctx)
        if hit:
            cap = view.cap(full, resource, ctx, view.identity_caps) if view is not None else None
            if cap is not None:
                why = f"{_ref(*hit)} allows {full}, but {cap[1]}"
                if rec:
                    rec.step(cap[0], "deny", why, [_ref(*hit)])
                    rec.layer = cap[0]
                return False, why, cap[0]
            why = f"{_ref(*hit)} allows {full} (no key involved, IAM alone decides)"
            if rec:
                rec.step("iam", "allow", why, [_ref(*hit)])
            return True, why, "iam"
        why = f"no IAM policy allows {full} (implicit deny)"
        if rec:
            rec.step("iam", "deny", why)
        return False, why, "implicit_deny"

    # 4. key policy allow (direct, or delegated to the account's IAM policies)
    needs_iam: list[tuple[Statement, str]] = []
    capped: tuple[str, str] | None = None  # (layer, why) of the first allow a boundary/session policy capped
    if kp is not None:
        for s in kp.for_action(full)[1]:
            how = _applies(s, resource, ctx, caller)
            if how is None:
                continue
            if how == DIRECT and same_account:
                cap = view.cap(full, resource, ctx, view.caps_for_statement(s, caller)) if view is not None else None
                if cap is not None:
                    capped = capped or (cap[0], f"{_ref(kp, s)} allows {full} for the caller, but {cap[1]}")
                    if rec:
                        view.note_uncapped(s, caller, rec)  # the source of the rule that capped it
                    continue
                why = f"{_ref(kp, s)} allows {full} for the caller" + \
                    (" (the account root)" if caller.is_root else "")
                if rec:
                    rec.step("key_policy", "allow", why, [_ref(kp, s)])
                    if view is not None:
                        view.note_uncapped(s, caller, rec)
                return True, why, "key_policy"
            needs_iam.append((s, how))
    if needs_iam:
        s, how = needs_iam[0]
        hit = None if caller.is_root else _iam_allow(iams, full, resource, ctx)
        cap = view.cap(full, resource, ctx, view.identity_caps) if view is not None and hit else None
        if cap is not None:
            capped = capped or (cap[0], f"{_ref(kp, s)} " + ("delegates to the account" if how == ACCOUNT else
                                                             "names the caller") +
                                f" and {_ref(*hit)} allows {full}, but {cap[1]}")
        elif caller.is_root or hit:
            by = "the caller is its account's root" if caller.is_root else f"{_ref(*hit)} allows it"
            kind = "delegates to account " + str(caller.account) if how == ACCOUNT else "names the caller"
            why = f"{_ref(kp, s)} {kind} and {by}" + ("" if same_account else " (cross-account: both sides allow)")
            if rec:
                rec.step("key_policy", "allow", why, [_ref(kp, s)] + ([_ref(*hit)] if hit else []))
            return True, why, "key_policy_and_iam"
        if rec:
            rec.step("key_policy", "continue", f"{_ref(kp, s)} " + (
                f"delegates {full} to account {caller.account}" if how == ACCOUNT else
                f"names the caller, but the caller is in account {caller.account}, not the key's") +
                f", and no IAM policy of the caller allows {full} on this key", [_ref(kp, s)])
    elif rec:
        rec.step("key_policy", "continue", f"no key-policy Allow statement applies to the caller for {full}")

    # 5. grants
    record = rec.grants if rec else None
    g = grant_decision(gs, caller, op, req.key_arn, req.encryption_context, req.grant_request, record)
    if g is not None:
        cap = view.cap(full, resource, ctx, view.caps_for_grant(g, caller)) if view is not None else None
        if cap is not None:
            capped = capped or (cap[0], f"grant {g.get('GrantId')} allows {op} for the caller's role, but {cap[1]}")
            if rec:
                rec.medium.append(NOTE_GRANT_CAPS)
        else:
            why = f"grant {g.get('GrantId')} allows {op} for the caller"
            if rec:
                rec.step("grants", "allow", why)
                if not same_account:
                    rec.notes.append(NOTE_XACCOUNT_GRANT)
                if view is not None and view.caps_for_grant(g, caller) == () and (view.pb or view.sps):
                    rec.medium.append(NOTE_GRANT_DIRECT)
            return True, why, "grant"
    if capped is not None:
        layer, why = capped
        if rec:
            rec.step(layer, "deny", why)
            rec.layer = layer
            return False, why, layer
        return False, why, layer
    if rec:
        rec.step("grants", "continue", f"grants cannot allow {op}" if op not in A.GRANT_OPERATION_SET else
                 f"no grant allows {op} for the caller ({len(rec.grants)} grant(s) name the caller)")

    # 6. implicit deny, with the nearest miss as the reason (worked out only when someone reads it)
    def reason() -> str:
        examined = record
        if examined is None:
            examined = []
            grant_decision(gs, caller, op, req.key_arn, req.encryption_context, req.grant_request, examined)
        return policy_reason() + _grant_miss(examined, op)

    def policy_reason() -> str:
        near = _near_miss(kp, full, resource, ctx, caller) if kp is not None else None
        if near is not None:
            return near
        if needs_iam:
            s, how = needs_iam[0]
            if how == ACCOUNT:
                return f"{_ref(kp, s)} delegates {full} to account {caller.account}, but no IAM policy allows it"
            return (f"{_ref(kp, s)} names the caller, but cross-account use also needs an IAM policy in account "
                    f"{caller.account} allowing {full} on the key")
        if _iam_allow(iams, full, resource, ctx) is not None:
            return (f"an IAM policy allows {full}, but the key policy does not allow it for the caller or delegate "
                    f"it to account {caller.account}")
        return f"no key-policy statement, IAM policy or grant allows {full} (implicit deny)"

    if rec:
        why = reason()
        rec.step("implicit_deny", "deny", why)
        return False, why, "implicit_deny"
    return False, reason, "implicit_deny"


def _grant_miss(examined: list[dict[str, Any]], op: str) -> str:
    """Why the caller's grants did not allow `op`, as a suffix of the one-line reason: the first grant that
    lists the operation and why it did not apply (a failed constraint, another key, ...). Grant ids are
    shortened; no secrets are involved (constraints hold encryption context, which is not secret)."""
    if not examined:
        return ""
    listing = [g for g in examined if op in (g.get("operations") or [])]
    if not listing:
        return f"; {len(examined)} grant(s) name the caller but none lists {op}"
    first = listing[0]
    gid = str(first.get("grant_id") or "?")
    more = f" ({len(listing) - 1} more grant(s) listing {op} do not apply either)" if len(listing) > 1 else ""
    return f"; grant {gid[:8]}{'…' if len(gid) > 8 else ''} does not apply: {first.get('why')}{more}"


def _near_miss(kp: CompiledPolicy, full: str, resource: str, ctx: RequestContext, caller: Caller) -> str | None:
    """A key-policy Allow that names the caller for this action but whose condition failed."""
    for s in kp.for_action(full)[1]:
        if _principal_how(s, caller) == DIRECT and s.matches_resource(resource, ctx):
            for c in s.conditions:
                if not c.test(ctx):
                    return (f"{_ref(kp, s)} names the caller for {full} but its condition {c.op.name} {c.key} "
                            f"is false ({c.explain(ctx)['why']}); nothing else allows it")
    return None


def _explain_statement(policy: CompiledPolicy, s: Statement, full: str, resource: str, ctx: RequestContext,
                       caller: Caller | None) -> dict[str, Any]:
    out: dict[str, Any] = {"policy": policy.name, "index": s.index, "sid": s.sid, "effect": s.effect,
                           "label": s.label}
    out["action_matched"] = s.matches_action(full)
    out["resource_matched"] = s.matches_resource(resource, ctx)
    if caller is not None and policy.kind == "key":
        how = _principal_how(s, caller)
        out["principal"] = {"element": "NotPrincipal" if s.not_principal else "Principal",
                            "values": s.principal.named_principals() if s.principal else [],
                            "match": how}
    conds = [c.explain(ctx) for c in s.conditions]
    out["conditions"] = conds
    applies = out["action_matched"] and out["resource_matched"] and all(c["result"] for c in conds) and \
        (caller is None or policy.kind != "key" or out["principal"]["match"] is not None)
    out["applies"] = applies
    if not applies:
        if not out["action_matched"]:
            out["why"] = f"{'NotAction lists' if s.not_action else 'Action does not match'} {full}" \
                if not s.inert else "no Action or no Resource: the statement has no effect"
        elif not out["resource_matched"]:
            out["why"] = "Resource does not match the key"
        elif caller is not None and policy.kind == "key" and out["principal"]["match"] is None:
            out["why"] = "Principal does not name the caller"
        else:
            failed = next(c for c in conds if not c["result"])
            out["why"] = f"condition {failed['operator']} {failed['key']} is false: {failed['why']}"
    return out


_LAYER_OF = {"explicit_deny": None, "retire_grant": "grant", "cross_account_filter": "kms", "iam": "iam",
             "key_policy": "key_policy", "key_policy_and_iam": "key_policy", "grant": "grant",
             "implicit_deny": None, "caller": "caller", "partition": "partition", "scp": "scp", "rcp": "rcp",
             "boundary": "boundary", "session_policy": "session_policy"}


def build_trace(kp: CompiledPolicy | None, iams: list[CompiledPolicy], gs: GrantSet, req: Request,
                lay: Layers | None = None) -> dict[str, Any]:
    """The full trace of one decision (shape: docs/authz-trace.md)."""
    rec = _Recorder()
    allowed, reason, decided_by = _decide(kp, iams, gs, req, rec, None, lay)
    full, op = _action(req.action)
    caller = parse_caller(req.principal, req.caller_account)
    key_account, key_region = _key_parts(req.key_arn)
    ctx = RequestContext(req, caller, op, key_account, key_region)
    resource = req.key_arn or "*"
    statements: list[dict[str, Any]] = []
    keyless = _is_keyless(op, req.key_arn)
    if not keyless and not req.key_arn:
        rec.notes.append(NOTE_NO_KEY_ARN)
    if kp is not None and not keyless:
        statements += [_explain_statement(kp, s, full, resource, ctx, caller) for s in kp.statements]
        if any(s.not_principal for s in kp.statements):
            rec.notes.append(NOTE_NOTPRINCIPAL)
    for p in iams:
        statements += [_explain_statement(p, s, full, resource, ctx, None) for s in p.statements]
    view = None
    if lay is not None:
        from kmstui.authz.layers import SOURCES, layer_view

        ctx.organization = lay.organization
        view = layer_view(lay, ctx, req, op)
        extra = [p for _layer, pols in view.identity_caps for p in pols]
        org = view.org
        for path, kind in ((view.scp_path, "scp"), (view.rcp_path, "rcp")):
            for target in path or ():
                extra += [a.policy for a in org.attached(kind, target)]
        for p in extra:
            statements += [_explain_statement(p, s, full, resource, ctx, caller if p.kind == "rcp" else None)
                           for s in p.statements]
        rec.notes.extend(n for n in view.notes if n not in rec.notes)
        if view.sps is None and caller.kind in ("session", "role") and lay.organization is not None:
            rec.notes.append(SOURCES["no_session_policy"])
    if req.grant_tokens:
        rec.notes.append(NOTE_GRANT_TOKENS)
    account = caller.account or (req.caller_account if caller.kind != "service" else None)
    return {
        "version": 1,
        "decision": "ALLOW" if allowed else "DENY",
        "decided_by": decided_by,
        "reason": reason,
        "request": {
            "principal": req.principal, "principal_kind": caller.kind, "caller_account": account,
            "action": full, "key_arn": req.key_arn, "key_account": key_account,
            "cross_account": bool(account and key_account and account != key_account),
            "encryption_context": dict(req.encryption_context),
        },
        "steps": rec.steps,
        "statements": statements,
        "grants": rec.grants,
        "notes": list(dict.fromkeys(rec.notes)),
    } | _layer_fields(rec, decided_by, view)


def _layer_fields(rec: _Recorder, decided_by: str, view) -> dict[str, Any]:
    """`layer` (which layer decided), `layers` (which applied, with their exemptions) and `confidence`."""
    out: dict[str, Any] = {"layer": rec.layer or _LAYER_OF.get(decided_by) or
                           ("key_policy" if decided_by == "implicit_deny" else decided_by)}
    if view is not None:
        out["layers"] = view.summary()
    if rec.medium:
        out["confidence"] = "medium"
        out["medium_confidence"] = list(dict.fromkeys(rec.medium))
    else:
        out["confidence"] = "high"
    return out


def allowed_under(policies: Sequence[CompiledPolicy], iam_policies: Sequence[CompiledPolicy],
                  grants: GrantSet, request: Request, layers: Layers | None = None) -> list[bool]:
    """Whether `request` is allowed under each of several key policies (same identity policies and grants):
    the fast path for replaying recorded requests; use evaluate() for reasons and traces."""
    ctx = _context(request)
    iams = list(iam_policies)
    return [_decide(kp, iams, grants, request, None, ctx, layers)[0] for kp in policies]


def evaluate(key_policy: Any, iam_policies: Sequence[Any] | None, grants: Sequence[dict] | GrantSet | None,
             request: Request, *, layers: Layers | None = None, organization: Any = None, boundary: Any = None,
             session_policies: Any = None) -> Decision:
    """Decide `request` exactly as AWS would. key_policy: dict, JSON text or CompiledPolicy (None for
    key-less operations); iam_policies: the caller's identity policies (dicts, CompiledPolicy, or
    {"PolicyName", "PolicyDocument"} entries); grants: ListGrants-shaped dicts or a GrantSet.

    The layers around them (all optional; none given = today's answers):
      organization: a kmstui.authz.org.Organization (SCPs and RCPs inside; Organization.from_dict builds one
        from the scenario shape);
      boundary: the permissions boundary of the calling user or role (a session: its role's), a policy;
      session_policies: the session policies of an assumed-role / federated session: one policy or a list
        (AssumeRole's inline Policy plus the documents of its PolicyArns); None when none was passed;
      layers: a prebuilt kmstui.authz.org.Layers (make_layers) instead of the three above; reuse one across
        many evaluations (its per-caller view is cached)."""
    kp = as_compiled(key_policy, "key") if key_policy is not None else None
    iams = [as_compiled(p, "iam", f"iam[{i}]") for i, p in enumerate(iam_policies or ())]
    gs = grants if isinstance(grants, GrantSet) else (GrantSet(grants) if grants else _NO_GRANTS)
    if layers is None and (organization is not None or boundary is not None or session_policies):
        from kmstui.authz.org import make_layers

        layers = make_layers(organization, boundary, session_policies)
    allowed, reason, decided_by = _decide(kp, iams, gs, request, None, None, layers)
    return Decision(allowed, reason, decided_by, tracer=lambda: build_trace(kp, iams, gs, request, layers))
