"""Which layers apply to one request, and what each of them says (the engine's organization/boundary/session
part; kmstui.authz.engine calls it from its one decision procedure).

A `LayerView` is worked out once per (caller, key account, ...) and says: the SCPs on the caller's path (if
SCPs apply to the caller), the RCPs on the key owner's path (if RCPs apply to the key and the call), the
permissions boundary and session policies that cap identity-based permissions. Every exemption carries its
source: the sentence from the AWS page that decides it, quoted in SOURCES and shown in the trace.
"""

from __future__ import annotations

from typing import Any

from kmstui.authz.context import RequestContext
from kmstui.authz.org import Layers, Organization
from kmstui.authz.policy import CompiledPolicy, Statement
from kmstui.authz.principals import Caller
from kmstui.authz.statements import _applies, _iam_allow, _ref

__all__ = ["Layers", "LayerView", "SOURCES", "layer_view"]

SOURCES = {
    "scp_management": 'SCPs do not restrict the management account: "SCPs don\'t affect users or roles in the '
                      'management account." (AWS Organizations, Service control policies)',
    "scp_service_linked": 'SCPs do not restrict service-linked roles: "SCPs do not affect any service-linked role." '
                          '(AWS Organizations, Service control policies)',
    "scp_outside": 'SCPs do not restrict callers outside the organization: "They also don\'t affect users or roles '
                   'from accounts outside the organization." (AWS Organizations, Service control policies)',
    "scp_service": "SCPs do not restrict a service principal acting on its own (it is not an IAM user or role of a "
                   "member account) [inferred, kms-authz-organizations.md S9]",
    "scp_levels": 'SCPs must allow at every level: "every SCP from the root through each OU in the direct path to '
                  'the account, and even attached to the account itself, must allow that permission" (AWS '
                  'Organizations, Strategies for using SCPs)',
    "scp_default": 'a level with no Allow SCP listed is taken to keep FullAWSAccess (deny-list strategy): "AWS '
                   'Organizations attaches an AWS managed SCP named FullAWSAccess to every root and OU when it\'s '
                   'created" (Strategies for using SCPs); list Allow SCPs at a level to make it an allow-list',
    "scp_never_grants": 'an SCP never grants: "an SCP never grants permissions" (AWS Organizations, SCPs)',
    "rcp_management": 'RCPs do not apply to the management account\'s keys: "RCPs don\'t affect resources in the '
                      'management account." (AWS Organizations, Resource control policies)',
    "rcp_aws_managed": 'RCPs do not apply to AWS managed keys: "RCPs do not apply to AWS managed keys for AWS Key '
                       'Management Service." (AWS Organizations, Resource control policies)',
    "rcp_service_linked": 'RCPs do not apply to service-linked roles: "RCPs do not impact the effective permissions '
                          'of any service-linked role." (AWS Organizations, Resource control policies)',
    "rcp_retire_grant": 'RCPs do not apply to kms:RetireGrant: "The kms:RetireGrant permission is not effective in '
                        'an RCP, even if the Action element specifies an asterisk (*) as a wildcard." (Resource '
                        'control policies in AWS KMS)',
    "rcp_full_access": 'RCPs can only deny: "RCPFullAWSAccess can\'t be detached, so there will always be an Allow '
                       'statement." (IAM, policy evaluation logic)',
    "rcp_outside": "RCPs apply only to keys of the organization's member accounts (the key's account is not one)",
    "rcp_service_principal": "medium confidence: RCPs are evaluated for service-principal calls, as the AWS "
                             "Organizations and KMS RCP pages show; Prescriptive Guidance says \"RCPs do not target "
                             "service principal usage\" (kms-authz-organizations.md R8)",
    "pb_user_arn": 'the key policy names the IAM user ARN, so the boundary does not limit it: "resource-based '
                   'policies that grant permissions to an IAM user ARN (that is not a federated user session) are '
                   'not limited by an implicit deny in an identity-based policy or permissions boundary." (IAM, '
                   'Permissions boundaries)',
    "session_arn": 'the key policy names the session ARN, so neither the boundary nor the session policy limits it: '
                   '"Permissions granted directly to a session are not limited by an implicit deny in an '
                   'identity-based policy, a permissions boundary, or session policy." (IAM, policy evaluation logic)',
    "role_arn": 'the key policy names the role ARN, so the boundary and session policy still limit it: '
                '"Resource-based policies that grant permissions to an IAM role ARN are limited by an implicit deny '
                'in a permissions boundary or session policy." (IAM, policy evaluation logic)',
    "role_arn_conflict": "medium confidence: older IAM pages say resource-based policies naming a role are not "
                         "limited by a permissions boundary; the current evaluation-logic page says they are "
                         "(kms-authz-organizations.md B10); kmstui follows the current page",
    "principal_arn": 'Principal "*" with aws:PrincipalArn: "Permissions boundaries and session policies do not limit '
                     'permissions granted using the aws:PrincipalArn condition key with a wildcard(*) in the '
                     'Principal element, unless the identity-based policies contain an explicit deny." (IAM, policy '
                     'evaluation logic)',
    "wildcard_principal": "medium confidence: a key policy allowing Principal \"*\" without an aws:PrincipalArn "
                          "condition is treated like the documented aws:PrincipalArn case (not limited by a boundary "
                          "or session policy); AWS documents only that case",
    "identity": 'identity-based permissions need the boundary and session policy too: "If the policy that is used '
                'to set the permissions boundary does not allow the requested action, then the request is '
                'implicitly denied." (IAM, policy evaluation logic)',
    "no_session_policy": 'no session policy was passed, so none limits the session: "If you didn\'t pass a session '
                         'policy, a default session policy is created and the enforcement code returns a final '
                         'decision of Allow." (IAM, policy evaluation logic)',
    "notprincipal_boundary": 'NotPrincipal with Deny always denies a principal with a boundary: "The NotPrincipal '
                             'element with a Deny effect will always deny any IAM principal that has a permissions '
                             'boundary policy attached, regardless of the values specified in the NotPrincipal '
                             'element." (IAM, Permissions boundaries)',
    "root_no_boundary": 'the account root has no permissions boundary: "you cannot set the permissions boundary for '
                        'the root user" (IAM, Policies and permissions)',
}

_BOUNDARY_KINDS = frozenset({"user", "role", "session"})
_SESSION_KINDS = frozenset({"session", "federated", "role"})


def _service_linked(req, caller: Caller) -> bool:
    if req.service_linked:
        return True
    role = req.principal_role_arn or (caller.arn if caller.kind == "role" else "")
    return ":role/aws-service-role/" in role


class LayerView:
    """The layers that apply to one (caller, key account, ...) combination."""

    __slots__ = ("org", "scp_path", "rcp_path", "pb", "sps", "notes", "medium", "identity_caps", "scp_state",
                 "rcp_state", "grants_capped")

    def __init__(self, lay: Layers, ctx: RequestContext, req, op: str) -> None:
        caller = ctx.caller
        org: Organization | None = lay.organization
        self.org = org
        self.notes: list[str] = []
        self.medium: list[str] = []
        self.scp_path: list[str] | None = None
        self.rcp_path: list[str] | None = None
        self.scp_state = self.rcp_state = "no organization"
        slr = _service_linked(req, caller)
        if org is not None:
            if caller.kind == "service":
                self.scp_state = "exempt: " + SOURCES["scp_service"]
            elif slr:
                self.scp_state = "exempt: " + SOURCES["scp_service_linked"]
            elif caller.account == org.management_account:
                self.scp_state = "exempt: " + SOURCES["scp_management"]
            elif not org.is_member(caller.account):
                self.scp_state = "exempt: " + SOURCES["scp_outside"]
            else:
                self.scp_path = org.path(caller.account)
                self.scp_state = "applies along " + " > ".join(self.scp_path or [])
            key_account = ctx.key_account
            manager = req.key_manager or (req.key or {}).get("KeyManager")
            if key_account is None:
                self.rcp_state = "no key"
            elif key_account == org.management_account:
                self.rcp_state = "exempt: " + SOURCES["rcp_management"]
            elif not org.is_member(key_account):
                self.rcp_state = "exempt: " + SOURCES["rcp_outside"]
            elif manager == "AWS":
                self.rcp_state = "exempt: " + SOURCES["rcp_aws_managed"]
            elif slr:
                self.rcp_state = "exempt: " + SOURCES["rcp_service_linked"]
            elif op == "RetireGrant":
                self.rcp_state = "exempt: " + SOURCES["rcp_retire_grant"]
            else:
                self.rcp_path = org.path(key_account)
                self.rcp_state = "applies along " + " > ".join(self.rcp_path or [])
                if caller.kind == "service":
                    self.medium.append(SOURCES["rcp_service_principal"])
        self.pb = lay.boundary if lay.boundary is not None and caller.kind in _BOUNDARY_KINDS else None
        if lay.boundary is not None and caller.is_root:
            self.notes.append(SOURCES["root_no_boundary"])
        self.sps = lay.session_policies if lay.session_policies and caller.kind in _SESSION_KINDS else None
        caps: list[tuple[str, list[CompiledPolicy]]] = []
        if self.pb is not None:
            caps.append(("boundary", [self.pb]))
        if self.sps:
            caps.append(("session_policy", self.sps))
        self.identity_caps = tuple(caps)
        self.grants_capped = lay.grants_capped

    # -- explicit deny in any layer (E1) ---------------------------------------------------------------------
    def explicit_deny(self, kp: CompiledPolicy | None, full: str, resource: str, ctx: RequestContext,
                      caller: Caller) -> tuple[str, list[str], str] | None:
        org = self.org
        if self.scp_path:
            for target in self.scp_path:
                for a in org.attached("scp", target):
                    for s in a.policy.for_action(full)[0]:
                        if _applies(s, resource, ctx, None) is not None:
                            return (f"explicit deny: {_ref(a.policy, s)} denies {full}", [_ref(a.policy, s)], "scp")
        if self.rcp_path:
            for target in self.rcp_path:
                for a in org.attached("rcp", target):
                    for s in a.policy.for_action(full)[0]:
                        if _applies(s, resource, ctx, caller) is not None:
                            return (f"explicit deny: {_ref(a.policy, s)} denies {full} on the key",
                                    [_ref(a.policy, s)], "rcp")
        for layer, pols in self.identity_caps:
            for p in pols:
                for s in p.for_action(full)[0]:
                    if _applies(s, resource, ctx, None) is not None:
                        return f"explicit deny: {_ref(p, s)} denies {full}", [_ref(p, s)], layer
        if self.pb is not None and kp is not None:
            for s in kp.for_action(full)[0]:
                if s.not_principal and s.matches_resource(resource, ctx) and all(c.test(ctx) for c in s.conditions):
                    return (f"explicit deny: {_ref(kp, s)} (Deny with NotPrincipal) denies every principal that has a "
                            f"permissions boundary, whatever NotPrincipal lists ({SOURCES['notprincipal_boundary']})",
                            [_ref(kp, s)], "key_policy")
        return None

    # -- SCP allow filter at every level (E3, S3) ------------------------------------------------------------
    def scp_filter(self, full: str, resource: str, ctx: RequestContext) -> str | None:
        if not self.scp_path:
            return None
        for target in self.scp_path:
            attached = [a for a in self.org.attached("scp", target) if a.policy.has_allow]
            if not attached:
                continue  # no Allow SCP listed at this level: FullAWSAccess, attached by default
            if any(_iam_allow([a.policy], full, resource, ctx) is not None for a in attached):
                continue
            names = ", ".join(a.name for a in attached)
            if len(attached) == 1:
                return f"denied by SCP {names} attached to {target}: no Allow for {full} at that level"
            return f"denied by the SCPs attached to {target} ({names}): none allows {full} at that level"
        return None

    def record_scps(self, rec) -> None:
        if self.org is None:
            return
        if self.scp_path:
            defaulted = [t for t in self.scp_path if not any(a.policy.has_allow for a in self.org.attached("scp", t))]
            detail = "an SCP allows it at every level from the root to the caller's account (" + \
                " > ".join(self.scp_path) + ")"
            if defaulted:
                detail += f"; FullAWSAccess assumed at {', '.join(defaulted)}"
                rec.notes.append(SOURCES["scp_default"])
            rec.step("scp", "continue", detail)
            rec.notes.append(SOURCES["scp_levels"])
        else:
            rec.step("scp", "continue", f"SCPs do not apply: {self.scp_state}")

    def record_rcps(self, rec) -> None:
        if self.org is None:
            return
        if self.rcp_path:
            rec.step("rcp", "continue", "no RCP denies it along " + " > ".join(self.rcp_path) +
                     " (RCPFullAWSAccess allows at every level)")
            rec.notes.append(SOURCES["rcp_full_access"])
        else:
            rec.step("rcp", "continue", f"RCPs do not apply: {self.rcp_state}")
        rec.medium.extend(m for m in self.medium if m not in rec.medium)

    # -- boundary and session policy caps (E5-E8, B3-B7, P4) ---------------------------------------------------
    def caps_for_statement(self, s: Statement, caller: Caller) -> tuple:
        """The caps on a same-account key-policy Allow that names the caller directly."""
        if not self.identity_caps or caller.is_root or caller.kind == "service":
            return ()
        spec = s.principal
        if spec is None or s.not_principal:
            return self.identity_caps
        if caller.arn in spec.exact:
            return ()  # the user ARN (B3) or the session ARN (B5) itself
        if caller.role_name and (caller.partition, caller.account, caller.role_name) in spec.roles:
            return self.identity_caps  # the role ARN (B4)
        if spec.wildcard:
            return ()  # B7 (aws:PrincipalArn) or, medium confidence, any "*"
        return self.identity_caps

    def caps_for_grant(self, g: dict, caller: Caller) -> tuple:
        if not self.identity_caps or caller.is_root or caller.kind == "service" or not self.grants_capped:
            return ()
        if g.get("GranteePrincipal") == caller.arn:
            return ()
        return self.identity_caps

    def cap(self, full: str, resource: str, ctx: RequestContext, caps: tuple) -> tuple[str, str] | None:
        """(layer, why) for the first cap that does not allow the action, or None."""
        for layer, pols in caps:
            if not any(_iam_allow([p], full, resource, ctx) is not None for p in pols):
                what = "the permissions boundary" if layer == "boundary" else \
                    ("the session policy" if len(pols) == 1 else "no session policy")
                verb = "allows" if what == "no session policy" else "does not allow"
                return layer, f"{what} {verb} {full} (implicit deny)"
        return None

    def note_uncapped(self, s: Statement, caller: Caller, rec) -> None:
        """Why a key-policy Allow decided although a boundary or session policy exists (the trace's source)."""
        if not self.identity_caps or caller.is_root or s.principal is None:
            return
        spec = s.principal
        if caller.arn in spec.exact:
            rec.notes.append(SOURCES["session_arn" if caller.kind in ("session", "federated") else "pb_user_arn"])
        elif caller.role_name and (caller.partition, caller.account, caller.role_name) in spec.roles:
            rec.notes.append(SOURCES["role_arn"])
            rec.medium.append(SOURCES["role_arn_conflict"])
        elif spec.wildcard:
            if any(c.lkey == "aws:principalarn" for c in s.conditions):
                rec.notes.append(SOURCES["principal_arn"])
            else:
                rec.medium.append(SOURCES["wildcard_principal"])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scp": self.scp_state, "rcp": self.rcp_state}
        out["permissions_boundary"] = "applies" if self.pb is not None else "none"
        out["session_policy"] = f"{len(self.sps)} applies" if self.sps else "none"
        return out


def layer_view(lay: Layers, ctx: RequestContext, req, op: str) -> LayerView:
    """The view for this request, cached on `lay` by everything it depends on."""
    caller = ctx.caller
    key = (caller.arn, caller.account, ctx.key_account, req.service_linked, req.principal_role_arn,
           req.key_manager or (req.key or {}).get("KeyManager"), op == "RetireGrant")
    cache = lay.views
    view = cache.get(key)
    if view is None:
        view = LayerView(lay, ctx, req, op)
        if len(cache) > 4096:
            cache.clear()
        cache[key] = view
    return view
