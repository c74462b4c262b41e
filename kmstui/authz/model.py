"""The engine's data types: the request asked about, the decision returned, and validation findings."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Request:
    """One KMS request to decide.

    principal: the caller, an IAM ARN (user, role, assumed-role session, federated user, account root) or a
    service principal ("ec2.amazonaws.com").  caller_account: the caller's account; derived from the ARN when
    None, and stays None for a service principal.  action: "kms:Decrypt" (a bare "Decrypt" is accepted).
    key_arn: the key (None for operations with no key, e.g. kms:ListKeys).  encryption_context: the request's
    context.  grant_request: the CreateGrant body (GranteePrincipal, Operations, Constraints, ...) when action
    is kms:CreateGrant.  target_grant_id: the grant a RetireGrant/RevokeGrant names.  context: any other
    condition key -> value or list (names case-insensitive; given keys win over derived ones).
    grant_tokens: accepted and recorded; they change *when* a grant counts, never the logic.
    """

    __slots__ = ("principal", "action", "key_arn", "caller_account", "encryption_context", "grant_request",
                 "target_grant_id", "context", "grant_tokens", "parameters", "key", "key_aliases", "key_tags",
                 "request_alias", "request_tags", "partition", "principal_role_arn", "service_linked", "key_manager")

    def __init__(self, principal: str, action: str, key_arn: str | None = None, caller_account: str | None = None,
                 encryption_context: dict[str, str] | None = None, grant_request: dict[str, Any] | None = None,
                 target_grant_id: str | None = None, context: dict[str, Any] | None = None,
                 grant_tokens: list[str] | None = None, parameters: dict[str, Any] | None = None,
                 key: dict[str, Any] | None = None, key_aliases: Any = None, key_tags: Any = None,
                 request_alias: str | None = None, request_tags: dict[str, str] | None = None,
                 partition: str | None = None, principal_role_arn: str | None = None, service_linked: bool = False,
                 key_manager: str | None = None) -> None:
        self.principal = principal
        self.action = action
        self.key_arn = key_arn
        self.caller_account = caller_account
        self.encryption_context = {} if encryption_context is None else encryption_context
        self.grant_request = grant_request
        self.target_grant_id = target_grant_id
        self.context = {} if context is None else context
        self.grant_tokens = [] if grant_tokens is None else grant_tokens
        # The call as made, for the condition keys read from it (kmstui.authz.requestkeys): the API parameters
        # (KMS names, any case; only requestkeys.PARAMETERS are read, so never pass secrets through others),
        # the key's DescribeKey metadata (KeySpec, KeyUsage, Origin, KeyManager, MultiRegion...), its aliases
        # and tags (lists/dicts, or zero-argument callables read only when a policy asks), the alias the
        # request named (default: from the KeyId parameter) and the tags it sets (default: its Tags parameter).
        self.parameters = parameters
        self.key = key
        self.key_aliases = key_aliases
        self.key_tags = key_tags
        self.request_alias = request_alias
        self.request_tags = request_tags
        # The partition of the account that receives the call, for requests on no key (default: the key ARN's).
        self.partition = partition
        # For the organization layers: the role behind an assumed-role session with its path (aws:PrincipalArn;
        # a session ARN does not show the path), whether the caller is a service-linked role (SCPs and RCPs
        # never apply to one; also recognised from a role ARN under /aws-service-role/), and who manages the
        # key ("CUSTOMER" | "AWS"; RCPs never apply to AWS managed keys; default: the key metadata's KeyManager).
        self.principal_role_arn = principal_role_arn
        self.service_linked = service_linked
        self.key_manager = key_manager

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"principal": self.principal, "caller_account": self.caller_account,
                               "action": self.action, "key_arn": self.key_arn}
        if self.encryption_context:
            out["encryption_context"] = dict(self.encryption_context)
        if self.grant_request is not None:
            out["grant_request"] = self.grant_request
        if self.target_grant_id is not None:
            out["target_grant_id"] = self.target_grant_id
        if self.context:
            out["context"] = dict(self.context)
        if self.grant_tokens:
            out["grant_tokens"] = list(self.grant_tokens)
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.request_alias is not None:
            out["request_alias"] = self.request_alias
        for name in ("key_aliases", "key_tags"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                out[name] = value
        if self.request_tags is not None:
            out["request_tags"] = dict(self.request_tags)
        for name in ("principal_role_arn", "key_manager"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.service_linked:
            out["service_linked"] = True
        return out


class Decision:
    """ALLOW or DENY with a one-line reason. `trace` (a JSON-able dict, see docs/authz-trace.md) is built on
    first access by re-running the evaluation with recording on, so the fast path pays nothing for it."""

    __slots__ = ("allowed", "_reason", "decided_by", "_trace", "_tracer")

    def __init__(self, allowed: bool, reason: str | Callable[[], str], decided_by: str,
                 tracer: Callable[[], dict[str, Any]] | None = None, trace: dict[str, Any] | None = None) -> None:
        self.allowed = allowed
        self._reason = reason
        self.decided_by = decided_by
        self._trace = trace
        self._tracer = tracer

    @property
    def reason(self) -> str:
        """One line saying why (built on first access when it takes work, e.g. the nearest miss)."""
        if callable(self._reason):
            self._reason = self._reason()
        return self._reason

    @property
    def decision(self) -> str:
        return "ALLOW" if self.allowed else "DENY"

    @property
    def trace(self) -> dict[str, Any]:
        if self._trace is None:
            self._trace = self._tracer() if self._tracer else {
                "version": 1, "decision": self.decision, "decided_by": self.decided_by, "reason": self.reason}
        return self._trace

    def to_dict(self) -> dict[str, Any]:
        """AWS-style (PascalCase) top-level field names, as the whatif command prints them; the trace keeps
        its documented format (docs/authz-trace.md)."""
        return {"Decision": self.decision, "DecidedBy": self.decided_by, "Reason": self.reason, "Trace": self.trace}

    def __repr__(self) -> str:
        return f"Decision({self.decision}, decided_by={self.decided_by!r}, reason={self.reason!r})"


class Finding(NamedTuple):
    """A validation or lint finding. `statement` is "Statement[2] (Sid \"Admins\")" or "" for the document;
    `element` is the policy element ("Principal", "Condition.StringEquals.kms:ViaService", ...)."""

    severity: str  # "error" | "warning" | "info"
    code: str
    message: str
    statement: str = ""
    element: str = ""
    fix: str = ""

    def __str__(self) -> str:
        where = " ".join(p for p in (self.statement, self.element) if p)
        return f"{self.severity}: {where + ': ' if where else ''}{self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"Severity": self.severity, "Code": self.code, "Statement": self.statement,
                "Element": self.element, "Message": self.message, "Fix": self.fix}


class PolicyError(ValueError):
    """A policy document AWS would reject (MalformedPolicyDocumentException); `findings` holds every error."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        first = findings[0] if findings else None
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        super().__init__(f"{first}{more}" if first else "malformed policy document")
