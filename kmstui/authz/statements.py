"""How one compiled statement applies to a request: the predicates every layer of the engine shares."""

from __future__ import annotations

from kmstui.authz.context import RequestContext
from kmstui.authz.policy import CompiledPolicy, Statement
from kmstui.authz.principals import DIRECT, Caller


def _principal_how(s: Statement, caller: Caller) -> str | None:
    """How a key-policy statement's Principal/NotPrincipal covers the caller (for Deny, ACCOUNT also hits)."""
    spec = s.principal
    if spec is None:
        return None
    if not s.not_principal:
        return spec.match(caller)
    listed, forms = spec.forms_listed(caller)
    if s.is_allow:
        return None if listed else DIRECT
    return None if listed == forms else DIRECT


def _applies(s: Statement, resource: str, ctx: RequestContext, caller: Caller | None) -> str | None:
    """None if the statement does not apply to the request; else how the principal matched ("iam" for an
    identity-policy statement, which has no Principal). Action is pre-filtered by CompiledPolicy.for_action."""
    if caller is not None:
        how = s.principal.match(caller) if not s.not_principal else _principal_how(s, caller)
        if how is None:
            return None
    else:
        how = "iam"
    if not s.matches_resource(resource, ctx):
        return None
    for c in s.conditions:
        if not c.test(ctx):
            return None
    return how


def _iam_allow(iams: list[CompiledPolicy], full: str, resource: str, ctx: RequestContext
               ) -> tuple[CompiledPolicy, Statement] | None:
    """The first identity-policy Allow statement that applies to the request."""
    for p in iams:
        for s in p.for_action(full)[1]:
            if _applies(s, resource, ctx, None) is not None:
                return p, s
    return None


def _ref(policy: CompiledPolicy, s: Statement) -> str:
    return f"{policy.name} {s.label}"


