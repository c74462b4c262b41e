"""kmstui.authz: AWS KMS authorization, exactly as AWS decides it (see kms-authz.md and docs/authz-trace.md).

A pure library: no UI, no backend. The local backend enforces with it, the what-if plugin explains with it,
the grants plugin relies on it, so a scenario and a real call can never disagree.

Stable API
----------
Request(principal, action, key_arn=None, caller_account=None, encryption_context={}, grant_request=None,
        target_grant_id=None, context={}, grant_tokens=[])
    One request. principal: IAM ARN (user, role, assumed-role session, federated user, root) or a service
    principal; caller_account None for a service. context: extra condition keys (derived ones such as
    kms:CallerAccount, aws:PrincipalArn, kms:EncryptionContext:k, kms:GrantOperations fill in when absent).

evaluate(key_policy, iam_policies, grants, request, *, organization=None, boundary=None,
         session_policies=None, layers=None) -> Decision
    key_policy: dict | JSON text | CompiledPolicy (None for key-less operations such as kms:ListKeys);
    iam_policies: the caller's identity policies (dicts, CompiledPolicy, or {"PolicyName", "PolicyDocument"});
    grants: ListGrants-shaped dicts or a GrantSet (build one per key when evaluating many requests).
    The layers around them (issue 14; all optional, none = no organization, no boundary, no session policy):
      session_policies: what an assumed-role (or federated) session was created with: AssumeRole's inline
        `Policy` and the documents of its `PolicyArns`, as one policy or a list (dicts, JSON text or
        CompiledPolicy). None or [] = none passed (no restriction). They cap identity-based permissions and
        key-policy statements naming the role ARN; a statement naming the session ARN itself is not capped.
      boundary: the permissions boundary of the calling IAM user or role (for a session: its role's).
      organization: kmstui.authz.org.Organization.from_dict(org, scps=[...], rcps=[...]) (scenario shape).
      layers: kmstui.authz.org.make_layers(organization, boundary, session_policies) built once and reused
        for many evaluations of the same caller (it caches per-caller work); use instead of the three above.
    On the local backend the same layers come from `backend.call.session_policies` (set by `kmstui serve`
    for a request made with assumed-role credentials: a list of JSON texts) and from the HSM file
    (boundaries and organization data: `kmstui iam put-boundary`, `kmstui org ...`).
    Decision.allowed, .decision ("ALLOW"/"DENY"), .reason (one line), .decided_by, .trace (JSON-able dict,
    built on first access; "layer" says which layer decided, "confidence" flags medium-confidence answers),
    .to_dict() -> {"Decision", "Reason", "Trace"}.

compile_policy(doc, kind="key"|"iam", name=None) -> CompiledPolicy   (PolicyError if AWS would reject it)
validate_policy(doc, kind="key") -> list[Finding]                     (errors and warnings; never raises)
would_lock_out(policy, principal_arn, iam_policies=None) -> bool       (KMS's lockout safety check)
lint_policy(doc, key_account=None, principal=None, grants=()) -> list[Finding]

GRANT_OPERATIONS, GrantSet(grants), validate_grant_request(body) -> list[str],
check_create_grant(grant_request, parent_grant=None) -> (ok, reason),
can_retire_grant(grant, principal, caller_account=None) -> (ok, reason),
can_revoke_grant(key_policy, iam_policies, principal, key_arn, ...) -> Decision,
constraints_hold(constraints, encryption_context) -> (ok, reason)

kmstui.authz.scenarios.load(path) -> list[Scenario]; scenarios.run(scenario) -> Decision
kmstui.authz.replay.iter_requests(path) (CloudTrail events/log files, kmstui audit lines, scenarios),
    replay.diff(requests, before, after, relevant=, both=, key=), replay.projection(policies, grants)
kmstui.authz.engine.allowed_under(policies, iam_policies, grant_set, request) -> [bool, ...] (replay fast path)
kmstui.authz.local.install(backend): enforcement on the local HSM backend (it calls this when it opens)

Do not mutate a policy dict after passing it to evaluate (compilations are cached by object identity); pass
a CompiledPolicy when in doubt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from kmstui.authz.actions import GRANT_OPERATIONS
    from kmstui.authz.engine import evaluate
    from kmstui.authz.grants import (GrantSet, can_retire_grant, check_create_grant, constraints_hold,
                                     validate_grant_request)
    from kmstui.authz.lint import lint_policy, would_lock_out
    from kmstui.authz.model import Decision, Finding, PolicyError, Request
    from kmstui.authz.policy import CompiledPolicy, compile_policy, validate_policy

# The stable API by the module that holds it, imported on first use (PEP 562): importing one submodule
# (kmstui.authz.model, say) then does not load the engine and the linter, which a command on the local HSM
# would otherwise pay for at start-up.
_API = {
    "GRANT_OPERATIONS": "actions", "evaluate": "engine",
    "GrantSet": "grants", "can_retire_grant": "grants", "check_create_grant": "grants",
    "constraints_hold": "grants", "validate_grant_request": "grants",
    "lint_policy": "lint", "would_lock_out": "lint",
    "Decision": "model", "Finding": "model", "PolicyError": "model", "Request": "model",
    "CompiledPolicy": "policy", "compile_policy": "policy", "validate_policy": "policy",
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        # A submodule reached as an attribute (`import kmstui.authz` then `kmstui.authz.org.Organization`, as
        # the docstring writes it): imported here, as loading the package eagerly used to make that work.
        if not name.startswith("_"):
            try:
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def can_revoke_grant(key_policy: Any, iam_policies: Sequence[Any] | None, principal: str, key_arn: str, *,
                     caller_account: str | None = None, grant_id: str | None = None,
                     context: dict[str, Any] | None = None) -> Decision:
    """RevokeGrant is an ordinary policy permission (a grant can never give it)."""
    from kmstui.authz.engine import evaluate
    from kmstui.authz.model import Request

    return evaluate(key_policy, iam_policies, [], Request(principal, "kms:RevokeGrant", key_arn, caller_account,
                                                          target_grant_id=grant_id, context=dict(context or {})))


__all__ = [
    "GRANT_OPERATIONS", "CompiledPolicy", "Decision", "Finding", "GrantSet", "PolicyError", "Request",
    "can_retire_grant", "can_revoke_grant", "check_create_grant", "compile_policy", "constraints_hold",
    "evaluate", "lint_policy", "validate_grant_request", "validate_policy", "would_lock_out",
]
