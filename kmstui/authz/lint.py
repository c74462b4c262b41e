"""Risk checks on key policies and grants, each with an explanation and a fix, and KMS's lockout check.

Validation (policy.validate_policy) says what AWS rejects; lint says what AWS accepts but an operator should
not: everyone allowed, admins who can also decrypt, no root delegation, a policy that locks its author out.
"""

from __future__ import annotations

from typing import Any, Iterable

from kmstui.authz import actions as A
from kmstui.authz.engine import _principal_how, as_compiled
from kmstui.authz.model import Finding, Request
from kmstui.authz.policy import CompiledPolicy, Statement, validate_policy
from kmstui.authz.patterns import star_count
from kmstui.authz.principals import ACCOUNT, DIRECT, parse_caller
from kmstui.authz.context import RequestContext

_NARROWING_KEYS = ("kms:calleraccount", "kms:viaservice", "aws:principalarn", "aws:principalaccount",
                   "aws:principalorgid", "aws:sourcearn", "aws:sourceaccount", "aws:sourcevpce", "aws:sourcevpc",
                   "aws:principalorgpaths", "aws:sourceorgid", "aws:userid")
_ADMIN_WORDS = ("admin", "administrator", "keyadmin", "key-admin", "security")


def _actions_covered(s: Statement) -> set[str]:
    return {a for a in A.ALL_ACTIONS if s.matches_action("kms:" + a)}


def _narrowed(s: Statement) -> bool:
    return any(c.lkey in _NARROWING_KEYS and not c.op.negated for c in s.conditions)


def would_lock_out(policy: Any, principal_arn: str, iam_policies: Iterable[Any] | None = None) -> bool:
    """KMS's lockout safety check: True when the policy would not let `principal_arn` make a later
    PutKeyPolicy call on the key. Key-policy statements that delegate to the principal's account count (IAM
    can hand the permission out) unless `iam_policies` is given, in which case they must actually allow it."""
    kp = as_compiled(policy, "key")
    caller = parse_caller(principal_arn)
    account = caller.account or "000000000000"
    key_arn = f"arn:aws:kms:us-east-1:{account}:key/00000000-0000-0000-0000-000000000000"
    from kmstui.authz.engine import evaluate

    if iam_policies is not None:
        return not evaluate(kp, list(iam_policies), [], Request(principal_arn, "kms:PutKeyPolicy", key_arn)).allowed
    req = Request(principal_arn, "kms:PutKeyPolicy", key_arn, context={"kms:BypassPolicyLockoutSafetyCheck": "false"})
    ctx = RequestContext(req, caller, "PutKeyPolicy", account, "us-east-1")
    denies, allows = kp.for_action("kms:PutKeyPolicy")
    for s in denies:
        if _principal_how(s, caller) and s.matches_resource(key_arn, ctx) and all(c.test(ctx) for c in s.conditions):
            return True
    for s in allows:
        how = _principal_how(s, caller)
        if how in (DIRECT, ACCOUNT) and s.matches_resource(key_arn, ctx) and all(c.test(ctx) for c in s.conditions):
            return False
    return True


def lint_policy(doc: Any, *, key_account: str | None = None, principal: str | None = None,
                grants: Iterable[dict] = ()) -> list[Finding]:
    """Validation findings plus risk findings for a key policy (and its grants)."""
    findings = validate_policy(doc)
    if any(f.severity == "error" for f in findings):
        return findings
    kp: CompiledPolicy = as_compiled(doc, "key")
    accounts = {a for s in kp.statements if s.principal for a in s.principal.accounts}
    if key_account is None and len(accounts) == 1:
        key_account = next(iter(accounts))

    def add(code: str, msg: str, s: Statement | None = None, el: str = "", fix: str = "", sev: str = "warning"):
        findings.append(Finding(sev, code, msg, s.label if s else "", el, fix))

    allows = [s for s in kp.statements if s.is_allow]
    for s in allows:
        spec = s.principal
        if spec is None:
            continue
        covered = _actions_covered(s)
        everyone = spec.wildcard or s.not_principal
        if everyone and not _narrowed(s):
            add("PublicPrincipal", "Principal \"*\" with no narrowing condition: every identity in every AWS "
                f"account may call {_summ(covered)} (others need only their own IAM allow)", s, "Principal",
                "add a Condition such as StringEquals kms:CallerAccount or aws:PrincipalOrgID, or name the "
                "principals")
        if covered >= set(A.KEY_ACTIONS) and not everyone:
            named = [v for _t, v in spec.values if not v.endswith(":root") and not v.isdigit()]
            non_admin = [v for v in named if not any(w in v.lower() for w in _ADMIN_WORDS)]
            if non_admin:
                add("KmsStarToNonAdmin", f"kms:* (every KMS action, including PutKeyPolicy and "
                    f"ScheduleKeyDeletion) for {', '.join(non_admin)}", s, "Action",
                    "give key users only the cryptographic actions they need (e.g. kms:Decrypt, kms:Encrypt)")
        if covered & A.CRYPTO_ACTIONS and covered & {"PutKeyPolicy", "ScheduleKeyDeletion"} and not everyone \
                and not spec.accounts:
            add("AdminsCanUseKey", "the same principals may both administer the key and use it for cryptography",
                s, "Action", "separate key administrators from key users (AWS's default console policy does)",
                sev="info")
    root_stmt = any(s.principal and not s.not_principal and s.principal.accounts and
                    "PutKeyPolicy" in _actions_covered(s) and not s.conditions for s in allows)
    if not root_stmt:
        add("NoRootDelegation", "no statement gives the account (root) kms:* or at least kms:PutKeyPolicy: IAM "
            "policies cannot grant access to this key, and if the named administrators are deleted the key "
            "becomes unmanageable without AWS Support", None, "Statement",
            'add {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": '
            '"arn:aws:iam::ACCOUNT:root"}, "Action": "kms:*", "Resource": "*"}')
    who = principal or (f"arn:aws:iam::{key_account}:root" if key_account else None)
    if who and would_lock_out(kp, who):
        add("Lockout", f"the policy does not allow {who} to call PutKeyPolicy later: KMS's lockout safety check "
            "rejects it (unless BypassPolicyLockoutSafetyCheck)", None, "Statement",
            "allow kms:PutKeyPolicy for the principal that sets the policy, or keep the root delegation",
            sev="error")
    for s in allows:
        via = any(c.lkey == "kms:viaservice" for c in s.conditions)
        service_intent = any(c.lkey == "kms:calleraccount" for c in s.conditions) or \
            any(w in (s.sid or "").lower() for w in ("service", "through", "via"))
        if not via and s.principal and s.principal.wildcard and service_intent and \
                _actions_covered(s) & A.CRYPTO_ACTIONS:
            add("ViaServiceMissing", "a statement meant for use through AWS services (kms:CallerAccount with a "
                "wildcard principal) has no kms:ViaService condition, so direct calls are allowed too", s,
                "Condition", 'add "StringEquals": {"kms:ViaService": "SERVICE.REGION.amazonaws.com"}')
    for g in grants:
        _lint_grant(g, key_account, findings)
    findings.extend(wildcard_findings(kp))
    findings.extend(request_alias_findings(kp))
    return findings


def request_alias_findings(policy: CompiledPolicy) -> list[Finding]:
    """kms:RequestAlias is present only when the request names the key by an alias ("the value of the KeyId
    parameter in the request must be a matching alias name or alias ARN", AWS KMS condition keys): an Allow
    that requires it never matches callers using the key id or key ARN, and a Deny with a negated operator
    denies all of them."""
    out: list[Finding] = []
    for s in policy.statements:
        for c in s.conditions:
            if c.lkey != "kms:requestalias" or c.op.base == "Null" or c.op.if_exists:
                continue
            if s.is_allow and not c.op.negated:
                out.append(Finding("warning", "RequestAliasExcludesKeyArns", f"{c.op.name} kms:RequestAlias: callers "
                                   "that name the key by its key id or key ARN never satisfy it (the key is absent "
                                   "unless the request names an alias), so this Allow never applies to them",
                                   s.label, f"Condition.{c.op.name}.{c.key}",
                                   "if ARN callers should be allowed too, add a separate statement for them or use "
                                   "kms:ResourceAliases (any way of naming the key)"))
            elif not s.is_allow and c.op.negated:
                out.append(Finding("warning", "RequestAliasDeniesKeyArns", f"{c.op.name} kms:RequestAlias in a Deny: "
                                   "a request naming the key by key id or key ARN has no kms:RequestAlias, so the "
                                   "negated operator is true and every such caller is denied", s.label,
                                   f"Condition.{c.op.name}.{c.key}", f"use {c.op.name}IfExists if that is not meant"))
    return out


def lint_layers(key_policy: Any, *, layers: Any, key_arn: str, actions: Iterable[str] | None = None) -> list[Finding]:
    """What the organization and a permissions boundary do to a key policy (issue 14 item 7): a key-policy
    Allow that SCPs make dead for every principal it names, and a boundary that blocks every action the key
    policy delegates to IAM. Decided by the engine itself on one representative request per principal and
    action (conditions evaluated against a request that carries only what the principal and key imply)."""
    from kmstui.authz.engine import evaluate
    from kmstui.authz.org import Layers

    out: list[Finding] = []
    if layers is None:
        return out
    kp = as_compiled(key_policy, "key")
    key_account = key_arn.split(":")[4]
    acts = [a for a in (actions or A.KEY_ACTIONS) if a != "RetireGrant"]
    all_iam = [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}]
    org_only = Layers(organization=layers.organization) if layers.organization is not None else None
    for s in kp.statements:
        if not s.is_allow or s.principal is None or s.not_principal or s.principal.wildcard:
            continue
        covered = [a for a in acts if s.matches_action("kms:" + a)]
        callers = []
        for _ptype, v in s.principal.values:
            caller = parse_caller(v)
            if caller.kind == "root":
                callers.append(f"arn:aws:iam::{caller.account}:role/any-role")
            elif caller.kind in ("user", "role", "session"):
                callers.append(v)
        if not covered or not callers or org_only is None:
            continue
        def by_scp(caller: str, action: str) -> bool:
            d = evaluate(kp, all_iam, [], Request(caller, "kms:" + action, key_arn), layers=org_only)
            return d.decided_by == "scp" or (d.decided_by == "explicit_deny" and d.trace["layer"] == "scp")

        blocked = all(by_scp(c, a) for c in callers for a in covered)
        if blocked:
            out.append(Finding("warning", "ScpMakesStatementDead", f"the organization's SCPs deny or do not allow "
                               f"{_summ(set(covered))} for every principal this statement names, so it can never "
                               "allow anything", s.label, "Action",
                               "remove the statement, or change the SCPs on those accounts' paths"))
    boundary = layers.boundary
    if boundary is not None:
        delegated = sorted({a for s in kp.statements if s.is_allow and s.principal and not s.not_principal
                            and s.principal.accounts and key_account in s.principal.accounts
                            for a in acts if s.matches_action("kms:" + a)})
        if delegated:
            probe = f"arn:aws:iam::{key_account}:role/any-role"
            pb_only = Layers(boundary=boundary)
            allowed = [a for a in delegated
                       if evaluate(kp, all_iam, [], Request(probe, "kms:" + a, key_arn), layers=pb_only).allowed]
            if not allowed:
                out.append(Finding("warning", "BoundaryBlocksDelegation", f"the permissions boundary allows none of "
                                   f"the {len(delegated)} actions the key policy delegates to IAM in account "
                                   f"{key_account}, so no identity policy can use this key for a principal with "
                                   "that boundary", "", "Statement",
                                   "allow the key's actions in the boundary, or name the principals in the key policy"))
    return out


MAX_STARS = 8  # more `*` than this in one pattern is never needed; backtracking matchers blow up on it


def wildcard_findings(policy: CompiledPolicy) -> list[Finding]:
    """Pathological wildcard patterns (in Action, Resource and Like/Arn conditions): many `*`s, or runs of
    `**`. kmstui matches them in linear time, but naive matchers backtrack catastrophically on them, and
    they are almost always a mistake or an attempt to slow an evaluator down."""
    out: list[Finding] = []
    for s in policy.statements:
        places = [("NotAction" if s.not_action else "Action", a) for a in s.actions]
        places += [("NotResource" if s.not_resource else "Resource", r) for r in s.resources]
        places += [(f"Condition.{c.op.name}.{c.key}", v) for c in s.conditions
                   if c.op.base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike")
                   for v in c.values if isinstance(v, str)]
        for el, value in places:
            stars = star_count(value)
            if stars > MAX_STARS or "**" in value:
                shown = value if len(value) <= 60 else value[:57] + "..."
                out.append(Finding("warning", "PathologicalWildcard",
                                   f"pattern {shown!r} has {stars} '*' wildcards" +
                                   (" and repeated '**'" if "**" in value else "") +
                                   ": it matches what a far simpler pattern matches, and naive wildcard "
                                   "matchers take exponential time on it", s.label, el,
                                   "use one '*' per run and as few as the intent needs"))
    return out


def _summ(actions: set[str]) -> str:
    if actions >= set(A.KEY_ACTIONS):
        return "every KMS action"
    names = sorted(actions)
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _lint_grant(g: dict, key_account: str | None, findings: list[Finding]) -> None:
    grantee = g.get("GranteePrincipal") or ""
    acct = parse_caller(grantee).account if grantee else None
    where = f"grant {g.get('GrantId', '?')}"
    invalid = [o for o in g.get("Operations") or [] if o not in A.GRANT_OPERATION_SET]
    if invalid:
        findings.append(Finding("warning", "InvalidGrantOperation", f"lists {invalid}, which grants cannot "
                                "carry; KMS would ignore them", where, "Operations", "remove them"))
    if key_account and acct and acct != key_account and not g.get("Constraints") and \
            set(g.get("Operations") or []) & A.CONTEXT_OPERATIONS:
        findings.append(Finding("warning", "UnconstrainedCrossAccountGrant", f"gives {grantee} (account {acct}) "
                                "cryptographic operations with no encryption-context constraint", where,
                                "Constraints", "re-create it with EncryptionContextEquals (preferred) or "
                                "EncryptionContextSubset"))
    if (g.get("Constraints") or {}).get("EncryptionContextSubset") == {}:
        findings.append(Finding("warning", "EmptySubsetConstraint", "an empty EncryptionContextSubset constrains "
                                "nothing", where, "Constraints", "list the pairs that must be present"))
