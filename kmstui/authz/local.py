"""Enforcement on the local HSM backend: the same engine `whatif` explains with, so a scenario and a real
call can never disagree.

The local backend imports this module when it opens and calls `install(backend)`, which sets
`backend.authorizer(backend, action, key_doc, params)`. Before every keyed operation the backend calls it
with the verified key metadata and the call's KMS parameters; it decides the request for the caller
(`--as` or the profile's principal; default the HSM account's root, so a fresh store just works) from the
key policy, the caller's identity policies kept in the file, and the key's grants, and raises
AccessDeniedException on DENY with the reason (the full trace is on the exception as `.trace`). CreateKey
and PutKeyPolicy also get KMS's policy checks: a malformed document and KMS's lockout safety check raise
MalformedPolicyDocumentException.

This is fidelity for testing policies, not a security boundary: whoever holds the HSM file and its
passphrase can act as any principal.
"""

from __future__ import annotations

import json
from typing import Any

from kmstui.authz.engine import evaluate
from kmstui.authz.grants import GrantSet
from kmstui.authz.lint import would_lock_out
from kmstui.authz.model import PolicyError, Request
from kmstui.authz.policy import CompiledPolicy, compile_policy, load_document
from kmstui.errors import AccessDeniedException, MalformedPolicyDocumentException

_CONTEXT_PARAM = {"kms:ReEncryptFrom": "SourceEncryptionContext", "kms:ReEncryptTo": "DestinationEncryptionContext"}
_GRANT_FIELDS = ("GranteePrincipal", "RetiringPrincipal", "Operations", "Constraints", "Name")


class LazyGrants(GrantSet):
    """A key's grants, read from the store only if the policies did not already decide the request.

    When the backend offers `grants_for_grantee(key_id, principals)` (an indexed lookup) and `grant(id)`,
    only the caller's grants (or the one grant RetireGrant names) are read, so a key with 10,000 grants
    costs what a key with one does; otherwise all of the key's grants are read once per call."""

    def __init__(self, backend, key_id: str) -> None:  # noqa: D107 - GrantSet.__init__ runs on first use
        self._backend = backend
        self._key_id = key_id
        self._loaded = False

    def _load(self) -> None:
        self._loaded = True
        GrantSet.__init__(self, self._backend.grants_for_key(self._key_id))

    def __getattr__(self, name: str) -> Any:
        if name in ("grants", "by_id", "_exact", "_roles") and not self.__dict__.get("_loaded"):
            self._load()
            return getattr(self, name)
        raise AttributeError(name)

    def for_caller(self, caller) -> list[dict]:
        lookup = getattr(self._backend, "grants_for_grantee", None)
        if lookup is None or self._loaded:
            return GrantSet.for_caller(self, caller)
        names = [n for n in (caller.arn, caller.role_arn if caller.kind == "session" else None) if n]
        return GrantSet(lookup(self._key_id, names)).for_caller(caller)


class Authorizer:
    """Callable installed as `backend.authorizer`; keeps compiled policies between calls."""

    def __init__(self) -> None:
        self._policies: dict[str, CompiledPolicy] = {}
        self._iam: dict[tuple, list] = {}

    def _compiled(self, text: str, kind: str, name: str) -> CompiledPolicy:
        hit = self._policies.get(text)
        if hit is None:
            try:
                hit = compile_policy(load_document(text), kind, name)
            except PolicyError as exc:  # stored before enforcement existed, or edited: fail closed
                raise AccessDeniedException(f"the stored {name} does not parse ({exc}); access denied") from None
            if len(self._policies) > 256:
                self._policies.clear()
            self._policies[text] = hit
        return hit

    def identity_policies(self, backend, principal: str) -> list[CompiledPolicy]:
        from kmstui.authz.principals import parse_caller

        caller = parse_caller(principal)
        names = [principal] + ([caller.role_arn] if caller.kind == "session" and caller.role_arn else [])
        out = []
        for arn in names:
            for name, text in backend.iam_policies_for(arn).items():
                out.append(self._compiled(text, "iam", f"identity policy {name}"))
        return out

    def __call__(self, backend, action: str, key_doc: dict | None, params: dict[str, Any]) -> None:
        caller = backend.caller
        if action in ("kms:CreateKey", "kms:PutKeyPolicy") and params.get("Policy") is not None:
            self.check_new_policy(params["Policy"], caller, bool(params.get("BypassPolicyLockoutSafetyCheck")))
        key_arn = backend.key_arn(key_doc["KeyId"]) if key_doc else None
        policy = self._compiled(backend.key_policy(key_doc["KeyId"]), "key", "key-policy") if key_doc else None
        grants: Any = LazyGrants(backend, key_doc["KeyId"]) if key_doc else GrantSet(())
        request = Request(principal=caller, action=action, key_arn=key_arn,
                          encryption_context=dict(params.get(_CONTEXT_PARAM.get(action, "EncryptionContext")) or {}),
                          grant_request=({k: params[k] for k in _GRANT_FIELDS if params.get(k) is not None}
                                         if action == "kms:CreateGrant" else None),
                          target_grant_id=self._target_grant(backend, action, params),
                          grant_tokens=list(params.get("GrantTokens") or []))
        decision = evaluate(policy, self.identity_policies(backend, caller), grants, request)
        if not decision.allowed:
            exc = AccessDeniedException(f"{caller} is not authorized to perform {action} on "
                                        f"{key_arn or 'this account'}: {decision.reason}")
            exc.trace = decision.trace  # type: ignore[attr-defined]
            raise exc

    @staticmethod
    def _target_grant(backend, action: str, params: dict[str, Any]) -> str | None:
        if action not in ("kms:RetireGrant", "kms:RevokeGrant"):
            return None
        if params.get("GrantId"):
            return params["GrantId"]
        if params.get("GrantToken"):
            return backend.grant_id_from_token(params["GrantToken"])
        return None

    @staticmethod
    def check_new_policy(text: Any, caller: str, bypass: bool) -> None:
        """KMS's checks on a policy being set: well-formed, and (unless bypassed) not locking the caller out."""
        try:
            compiled = compile_policy(load_document(text if isinstance(text, str) else json.dumps(text)), "key")
        except PolicyError as exc:
            raise MalformedPolicyDocumentException(f"the key policy is malformed: {exc}") from None
        if not bypass and would_lock_out(compiled, caller):
            raise MalformedPolicyDocumentException(
                f"the new key policy will not allow you ({caller}) to update the key policy in the future "
                "(KMS's lockout safety check); allow kms:PutKeyPolicy for this principal or keep the root "
                "delegation, or set BypassPolicyLockoutSafetyCheck")


def install(backend) -> None:
    """Called by the local backend when it opens (kmstui.backends.local.backend)."""
    backend.authorizer = Authorizer()
