"""Enforcement on the local HSM backend: the same engine `whatif` explains with, so a scenario and a real
call can never disagree.

The local backend imports this module when it opens and calls `install(backend)`, which sets
`backend.authorizer(backend, action, key_doc, params)`. Before every operation the backend calls it with
the verified key metadata (None for operations on no key: CreateKey, ListKeys, GenerateRandom, ...) and the
call's KMS parameters; it decides the request for the caller
(`--as` or the profile's principal; default the HSM account's root, so a fresh store just works) from the
key policy, the caller's identity policies kept in the file, and the key's grants, and raises
AccessDeniedException on DENY with the reason (the full trace is on the exception as `.trace`). CreateKey
and PutKeyPolicy also get KMS's policy checks: a malformed document and KMS's lockout safety check raise
MalformedPolicyDocumentException. Grant tokens are checked (InvalidGrantTokenException when forged); on the
local HSM every grant is consistent at once, so a valid token changes nothing else.

This is fidelity for testing policies, not a security boundary: whoever holds the HSM file and its
passphrase can act as any principal.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from kmstui.authz.engine import evaluate
from kmstui.authz.grants import GrantSet
from kmstui.authz.model import PolicyError, Request
from kmstui.authz.policy import (MAX_KEY_POLICY_BYTES, MAX_ROLE_INLINE_CHARS, MAX_TEXT, MAX_USER_INLINE_CHARS,
                                 CompiledPolicy, compile_policy, identity_policy_size, load_document)
from kmstui.authz.principals import parse_caller
from kmstui.authz.requestkeys import keep_parameters, request_facts
from kmstui.errors import (AccessDeniedException, LimitExceeded, LimitExceededException,
                           MalformedPolicyDocumentException)

if TYPE_CHECKING:
    from kmstui.authz.org import Layers

_CONTEXT_PARAM = {"kms:ReEncryptFrom": "SourceEncryptionContext", "kms:ReEncryptTo": "DestinationEncryptionContext"}
_GRANT_FIELDS = ("GranteePrincipal", "RetiringPrincipal", "Operations", "Constraints", "Name")


_NO_GRANTS = GrantSet(())
_ROOT_IDENTITY: tuple[Any, list, bool] = (None, [], True)  # an account root's identity policies: none
_TIME_KEYS = ("aws:currenttime", "aws:epochtime")  # the only condition keys not derived from the request
_NOT_CACHED = frozenset({"kms:CreateGrant", "kms:RetireGrant", "kms:RevokeGrant", "kms:CreateKey",
                         "kms:PutKeyPolicy"})
_NO_INPUTS: tuple = (None, None, None, None)
_NO_ALLOWED: tuple = (None, None, None)
_MAX_DECISIONS = 4096
_RECHECK_OTHERS = 0.05  # seconds between checks for identity-policy changes made by other processes


def _timeless(text: str) -> bool:
    """Whether a policy's decisions cannot change with the clock (no aws:CurrentTime / aws:EpochTime)."""
    low = text.lower()
    return not any(k in low for k in _TIME_KEYS)


class _KeyGrants(GrantSet):
    """A key's grants as the engine asks for them: the caller's (an indexed query, kept for this key
    revision) or one grant by id. So a key with 10,000 grants costs what a key with one does, also on the
    first call after a grant changed."""

    def __init__(self, backend, key_id: str) -> None:  # noqa: D107 - no GrantSet.__init__: nothing is read yet
        self._backend, self._key_id = backend, key_id
        self._mine: dict[str, list[dict]] = {}
        self.by_id = _GrantById(backend, backend.key_arn(key_id))

    def for_caller(self, caller) -> list[dict]:
        hit = self._mine.get(caller.arn)
        if hit is None:
            names = [caller.arn] + ([caller.role_arn] if caller.role_arn and caller.role_arn != caller.arn else [])
            role = (caller.account, caller.role_name) if caller.role_name and caller.account else None
            hit = GrantSet(self._backend.grants_for_grantee(self._key_id, names, role)).for_caller(caller)
            if len(self._mine) > 1024:
                self._mine.clear()
            self._mine[caller.arn] = hit
        return hit

    def __len__(self) -> int:
        return len(self._backend.grants_for_key(self._key_id))


class _GrantById:
    """`GrantSet.by_id` for RetireGrant: one grant read by id, if it is on this key."""

    def __init__(self, backend, key_arn: str) -> None:
        self._backend, self._key_arn = backend, key_arn

    def get(self, grant_id: str, default: Any = None) -> Any:
        grant = self._backend.grant(grant_id) if grant_id else None
        return grant if grant is not None and grant.get("KeyId") == self._key_arn else default


class _KeyEntry:
    """What the authorizer keeps per key, valid while the key row's AuthzRev is unchanged."""

    __slots__ = ("rev", "policy", "grants", "timeless", "plain", "decisions")

    def __init__(self, rev: Any, policy: CompiledPolicy, grants: GrantSet, timeless: bool) -> None:
        self.rev, self.policy, self.grants, self.timeless = rev, policy, grants, timeless
        self.plain = timeless and not policy.condition_keys  # reads no condition key (the default key policy)
        self.decisions: dict[tuple, Any] = {}


class Authorizer:
    """Callable installed as `backend.authorizer`. Every operation of the local backend calls it.

    Caches, so that Encrypt stays fast and a key with 10,000 grants costs what a key with one does:
    compiled policies by their text (compiled once); per key, the compiled key policy and each caller's
    grants (read by an indexed query on grantee), valid while the key row's `AuthzRev` is unchanged (the
    backend bumps it in the same transaction as any policy or grant change, and every call sees the key row
    as committed, Store.read_doc, so a change made by another process counts at once); identity policies per principal until they change (at once
    while the file has a change token, Store.change_token, which any commit by any process moves; inside a
    transaction, at once for this process's changes and within 50 ms for another process's; an account
    root has none, so the default caller never reads them). Decisions of `evaluate` are memoised
    per key for identical requests (caller, action, encryption context, identity-policy generation) when
    no policy involved reads the clock: the engine's answer is then a function of exactly those inputs.

    Per call, while the change token is unchanged (nothing committed anywhere) and the caller and call are
    the same: the caller's identity policies and layers are taken from the last call (`caller_inputs`),
    and a repeat of the last allowed request on the same key row (same action and context) is allowed
    without the memo lookup. Any commit, a transaction of this process, or another caller or call works
    everything out again; a grant token never takes this path."""

    def __init__(self) -> None:
        self._policies: dict[tuple[str, str], tuple[CompiledPolicy, bool]] = {}
        self._keys: dict[str, _KeyEntry] = {}
        self._iam: dict[str, tuple[Any, list[CompiledPolicy], bool]] = {}
        self._layers: dict[Any, Layers | None] = {}
        self._checked, self._others = -_RECHECK_OTHERS, None
        self._roots: set[str] = set()  # callers known to be an account root (no identity policies)
        self._last_inputs: tuple = _NO_INPUTS  # (change token, caller, call, caller_inputs(...)) of the last call
        self._last_allowed: tuple = _NO_ALLOWED  # (key row, action, context) last allowed under _last_inputs

    def _compiled(self, text: str, kind: str, name: str) -> tuple[CompiledPolicy, bool]:
        """(compiled policy, timeless) for a document text, compiled once."""
        hit = self._policies.get((kind, text))
        if hit is None:
            try:
                compiled = compile_policy(load_document(text), kind, name)
            except PolicyError as exc:  # stored before enforcement existed, or edited: fail closed
                raise AccessDeniedException(f"the stored {name} does not parse ({exc}); access denied") from None
            if len(self._policies) > 256:
                self._policies.clear()
            hit = self._policies[(kind, text)] = (compiled, _timeless(text))
        return hit

    def key_entry(self, backend, key_doc: dict) -> _KeyEntry:
        """The key's compiled policy and grants, rebuilt only when the key's AuthzRev changes."""
        key_id = key_doc["KeyId"]
        rev = key_doc.get("AuthzRev", 0)
        entry = self._keys.get(key_id)
        if entry is None or entry.rev != rev:
            policy, timeless = self._compiled(backend.key_policy(key_id), "key", KEY_POLICY_NAME)
            if len(self._keys) > 4096:
                self._keys.clear()
            entry = self._keys[key_id] = _KeyEntry(rev, policy, _KeyGrants(backend, key_id), timeless)
        return entry

    def identity_policies(self, backend, principal: str, stamp: Any = None) -> tuple[Any, list[CompiledPolicy], bool]:
        """(generation, the caller's identity policies, timeless). A session also has its role's
        policies; an account root has none (generation None). With the file's change token (`stamp`, see
        `caller_inputs`) that token is the generation: any commit anywhere counts at once; without one,
        another process's change is seen within 50 ms and this process's at once."""
        if principal in self._roots:
            return _ROOT_IDENTITY
        caller = parse_caller(principal)
        if caller.is_root:
            if len(self._roots) < 1024:
                self._roots.add(principal)
            return _ROOT_IDENTITY
        if stamp is not None:
            generation: Any = stamp
        else:
            conn = backend.store.conn
            now = time.monotonic()
            if now - self._checked >= _RECHECK_OTHERS:  # another process's change: seen within 50 ms
                self._checked, self._others = now, conn.execute("PRAGMA data_version").fetchone()[0]
            generation = (self._others, conn.total_changes)  # this process's changes: seen at once
        hit = self._iam.get(principal)
        if hit is not None and hit[0] == generation:
            return hit
        names = [principal] + ([caller.role_arn] if caller.kind == "session" and caller.role_arn else [])
        docs = [self._compiled(text, "iam", f"identity policy {name}")
                for arn in names for name, text in sorted(backend.iam_policies_for(arn).items())]
        if len(self._iam) > 1024:
            self._iam.clear()
        hit = self._iam[principal] = (generation, [d[0] for d in docs], all(d[1] for d in docs))
        return hit

    def __call__(self, backend, action: str, key_doc: dict | None, params: dict[str, Any]) -> None:
        tokens = params.get("GrantTokens")
        for token in tokens or ():
            backend.grant_id_from_token(token)  # InvalidGrantTokenException for a forged or garbled token
        caller = backend.caller
        call = backend.call  # what a request over the network adds (kmstui serve); empty for local use
        if not key_doc:
            self._own_account_only(backend, caller, action)
        if action in ("kms:CreateKey", "kms:PutKeyPolicy") and params.get("Policy") is not None:
            self.check_new_policy(params["Policy"], caller, bool(params.get("BypassPolicyLockoutSafetyCheck")))
        context = params.get(_CONTEXT_PARAM.get(action, "EncryptionContext"))
        context = context if isinstance(context, dict) else {}
        last, stamp = self._last_inputs, backend.store.change_token()
        if stamp is not None and last[0] == stamp and last[1] == caller and last[2] is call:
            generation, iams, iam_timeless, layers, layers_key, plain = last[3]
            if key_doc is not None and not tokens:
                # The same request as the last one allowed, on the same key row, with nothing committed since
                # (caller_inputs forgets it when anything of this changes): allowed again.
                allowed = self._last_allowed
                if allowed[0] is key_doc and allowed[1] == action and allowed[2] == context:
                    return None
        else:
            generation, iams, iam_timeless, layers, layers_key, plain = self.caller_inputs(backend, caller, call,
                                                                                          stamp)
        memo = memo_key = None
        if key_doc:
            # Fast path: under policies that read no condition key (the default key policy), a remembered
            # decision depends on nothing the request would add (its memo key below has no request facts
            # then): look it up before building the request.
            entry = self._keys.get(key_doc["KeyId"])
            if entry is None or entry.rev != key_doc.get("AuthzRev", 0):
                entry = self.key_entry(backend, key_doc)
            if entry.plain and plain and not tokens and action not in _NOT_CACHED:
                try:
                    items = tuple(context.items())
                    decision = entry.decisions.get((caller, action, generation,
                                                    items if len(items) < 2 else tuple(sorted(items)), (),
                                                    getattr(call, "context_key", ()), layers_key))
                except TypeError:
                    decision = None
                if decision is not None:
                    if decision.allowed:
                        if stamp is not None and _plain_context(context):
                            self._last_allowed = (key_doc, action, dict(context))
                        return None
                    return self._enforce(decision, caller, action, backend.key_arn(key_doc["KeyId"]))
        request = Request(principal=caller, action=action, encryption_context=context,
                          grant_request=({k: params[k] for k in _GRANT_FIELDS if params.get(k) is not None}
                                         if action == "kms:CreateGrant" else None),
                          target_grant_id=self._target_grant(backend, action, params),
                          grant_tokens=list(tokens) if tokens else [], parameters=keep_parameters(params),
                          partition=backend.root_arn.split(":")[1],
                          context=dict(getattr(call, "condition_context", None) or {}))
        if key_doc:
            policy, grants, key_arn = entry.policy, entry.grants, backend.key_arn(key_doc["KeyId"])
            key_id = key_doc["KeyId"]
            request.key_arn = key_arn
            request.key = {"KeyId": key_id, "Arn": key_arn, "KeySpec": key_doc.get("KeySpec"),
                           "KeyUsage": key_doc.get("KeyUsage"), "Origin": key_doc.get("Origin"),
                           "KeyManager": "CUSTOMER", "MultiRegion": False}
            request.key_tags = dict(key_doc.get("Tags") or {})
            request.key_aliases = lambda: backend.aliases_of(key_id)  # read only when a policy asks
            reads = entry.policy.condition_keys.union(*(p.condition_keys for p in iams),
                                                      *(p.condition_keys for p in _layer_policies(layers)))
            if "kms:reencryptonsamekey" in reads and action in ("kms:ReEncryptFrom", "kms:ReEncryptTo"):
                request.context["kms:ReEncryptOnSameKey"] = self._same_key(backend, action, key_id, params)
            if entry.timeless and iam_timeless and not tokens and action not in _NOT_CACHED and \
                    all(_timeless_policy(p) for p in _layer_policies(layers)):
                try:
                    memo_key = (caller, action, generation, tuple(sorted(context.items())),
                                request_facts(request, reads), getattr(call, "context_key", ()), layers_key)
                    decision = entry.decisions.get(memo_key)
                except TypeError:  # an unhashable context value: the backend rejects it after this check
                    decision = None
                else:
                    memo = entry.decisions
                if decision is not None:
                    return self._enforce(decision, caller, action, key_arn)
        else:
            key_arn, policy, grants = None, None, _NO_GRANTS
        decision = evaluate(policy, iams, grants, request, layers=layers)
        if memo is not None:
            if len(memo) >= _MAX_DECISIONS:
                memo.clear()
            memo[memo_key] = decision
        self._enforce(decision, caller, action, key_arn)

    def caller_inputs(self, backend, caller: str, call: Any, stamp: Any) -> tuple:
        """What a decision for this caller and call needs besides the key and the request: (identity-policy
        generation, identity policies, whether they are timeless, layers, layers key, whether none of them
        reads a condition key). `__call__` reuses the last answer for the same caller and call while the HSM
        file's change token (Store.change_token, given here as `stamp`, read before anything else) is the
        same: nothing was committed to the file since, by any process, so no identity policy, permissions
        boundary or organization changed; without a token (inside a transaction) it is always worked out
        again."""
        generation, iams, iam_timeless = self.identity_policies(backend, caller, stamp)
        layers, layers_key = self.layers(backend, caller, call)
        plain = ((not iams or (iam_timeless and not any(p.condition_keys for p in iams)))
                 and (layers is None or not any(p.condition_keys for p in _layer_policies(layers))))
        inputs = (generation, iams, iam_timeless, layers, layers_key, plain)
        self._last_inputs = (stamp, caller, call, inputs) if stamp is not None else _NO_INPUTS
        self._last_allowed = _NO_ALLOWED
        return inputs

    def layers(self, backend, caller: str, call: Any) -> tuple[Layers | None, Any]:
        """The layers around this call: the session policies the request arrived with (`backend.call.
        session_policies`, set by `kmstui serve` for an assumed-role session: JSON texts or dicts), the
        caller's permissions boundary and the organization kept in the HSM file (when the backend keeps
        them). Returns (Layers or None, a hashable key identifying them for the decision memo)."""
        sessions = getattr(call, "session_policies", None) or []
        boundary_of = getattr(backend, "boundary_for", None)
        boundary = boundary_of(caller) if boundary_of is not None else None
        org_of = getattr(backend, "organization_state", None)
        org_state = org_of() if org_of is not None else None
        if not sessions and boundary is None and org_state is None:
            return None, None
        texts = tuple(t if isinstance(t, str) else json.dumps(t, sort_keys=True) for t in sessions)
        key = (texts, boundary, org_state[0] if org_state else None)
        hit = self._layers.get(key)
        if hit is None:
            sps = [self._compiled(t, "iam", "session policy" if len(texts) == 1 else f"session policy [{i}]")[0]
                   for i, t in enumerate(texts)] or None
            pb = self._compiled(boundary, "iam", "permissions boundary")[0] if boundary is not None else None
            org = org_state[1] if org_state else None
            from kmstui.authz.org import make_layers  # only a caller with layers needs them (start-up)

            hit = make_layers(org, pb, sps)
            if len(self._layers) > 256:
                self._layers.clear()
            self._layers[key] = hit
        return hit, key

    def authorize_assume_role(self, backend, role_arn: str, role: dict | None, tags: bool, *,
                              set_source_identity: bool = False, context: dict | None = None) -> None:
        """sts:AssumeRole (and sts:TagSession when session tags are passed, sts:SetSourceIdentity when a source
        identity is set) for the backend's caller: the role's trust policy is a resource policy whose
        Principal decides (an ARN naming the caller allows on its own; the account delegates to the caller's
        identity policies), as the IAM evaluation logic has it. `context` adds the request's STS keys
        (sts:ExternalId, sts:SourceIdentity). A role that does not exist is denied the same way (STS does not
        say whether it exists)."""
        caller = backend.caller
        _generation, iams, _timeless = self.identity_policies(backend, caller)
        # The caller's own limits apply to AssumeRole as to any action: a session policy, a permissions
        # boundary, SCPs. Without them a session could re-assume its role and shed its session policy.
        layers, _key = self.layers(backend, caller, backend.call)
        actions = ["sts:AssumeRole"] + ["sts:TagSession"] * bool(tags) + ["sts:SetSourceIdentity"] * set_source_identity
        for action in actions:
            if role is None:
                decision = evaluate(None, [], None, Request(principal=caller, action=action, key_arn=role_arn))
                decision = type(decision)(False, f"the role {role_arn} does not exist", "implicit_deny")
            else:
                trust, _ = self._compiled(json.dumps(backend.trust_policy_document(role["AssumeRolePolicyDocument"])),
                                          "key", "trust-policy")
                decision = evaluate(trust, iams, None, Request(principal=caller, action=action, key_arn=role_arn,
                                                               context={**backend.call.condition_context,
                                                                        **(context or {})}),
                                    layers=layers)
            if not decision.allowed:
                exc = AccessDeniedException(f"{caller} is not authorized to perform {action} on {role_arn}: "
                                            f"{decision.reason}")
                exc.decision = decision  # type: ignore[attr-defined]
                exc.aws_message = (f"User: {caller} is not authorized to perform: {action} on resource: "  # type: ignore[attr-defined]
                                   f"{role_arn}")
                raise exc

    @staticmethod
    def _own_account_only(backend, caller: str, action: str) -> None:
        """An operation on no key (CreateKey, ListKeys, GenerateRandom, CreateAccessKey, ...) acts in the
        caller's own account: in AWS another account's root creates or lists keys in its account, never in
        this one. The HSM holds one account, so such a call from another account is refused here (the engine
        alone would let any account's root through: it decides for the caller's account)."""
        account = parse_caller(caller).account
        if account is not None and account != backend.account_id:
            exc = AccessDeniedException(f"{caller} is not authorized to perform {action} in account "
                                        f"{backend.account_id}: an operation on no key acts in the caller's own "
                                        f"account ({account}), which this HSM does not hold")
            exc.aws_message = (f"User: {caller} is not authorized to perform: {action} on resource: * because "  # type: ignore[attr-defined]
                               f"it acts in account {account}, which this endpoint does not serve")
            raise exc

    @staticmethod
    def _same_key(backend, action: str, key_id: str, params: dict[str, Any]) -> str | None:
        """kms:ReEncryptOnSameKey: whether ReEncrypt's source and destination keys are the same key (None when
        the other key cannot be resolved: the call then fails on that key anyway)."""
        try:
            if action == "kms:ReEncryptFrom":
                other = backend.resolve(params.get("DestinationKeyId"))
            elif params.get("SourceKeyId"):
                other = backend.resolve(params["SourceKeyId"])
            else:
                from kmstui.backends.local import blob as blobfmt

                other = blobfmt.parse(params.get("CiphertextBlob")).key_id
        except Exception:  # noqa: BLE001 - any unresolvable reference leaves the key absent
            return None
        return "true" if other == key_id else "false"

    @staticmethod
    def _enforce(decision, caller: str, action: str, key_arn: str | None) -> None:
        if not decision.allowed:
            exc = AccessDeniedException(f"{caller} is not authorized to perform {action} on "
                                        f"{key_arn or 'this account'}: {decision.reason}")
            exc.trace = decision.trace  # type: ignore[attr-defined]  # printed under --debug
            exc.decision = decision  # type: ignore[attr-defined]  # the audit line keeps its trace
            exc.aws_message = aws_denial_message(decision, caller, action, key_arn)  # type: ignore[attr-defined]
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
        text = text if isinstance(text, str) else json.dumps(text)
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_KEY_POLICY_BYTES:  # "If the key policy exceeds the length constraint, KMS returns a
            # LimitExceededException" (KMS API reference, PutKeyPolicy/CreateKey Policy); refused before parsing
            raise LimitExceededException(f"the key policy is {size} bytes; a key policy can be at most "
                                         f"{MAX_KEY_POLICY_BYTES} bytes (32 KiB)")
        try:
            compiled = compile_policy(load_document(text), "key")
        except PolicyError as exc:
            raise MalformedPolicyDocumentException(f"the key policy is malformed: {exc}") from None
        from kmstui.authz.lint import would_lock_out  # CreateKey and PutKeyPolicy only (start-up)

        if not bypass and would_lock_out(compiled, caller):
            raise MalformedPolicyDocumentException(
                f"the new key policy will not allow you ({caller}) to update the key policy in the future "
                "(KMS's lockout safety check); allow kms:PutKeyPolicy for this principal or keep the root "
                "delegation, or set BypassPolicyLockoutSafetyCheck")


def _layer_policies(layers: Layers | None) -> list[CompiledPolicy]:
    if layers is None:
        return []
    out = ([layers.boundary] if layers.boundary is not None else []) + list(layers.session_policies or [])
    org = layers.organization
    if org is not None:
        out += [a.policy for group in (*org.scps.values(), *org.rcps.values()) for a in group]
    return out


def _plain_context(context: dict) -> bool:
    """An encryption context of text only, the kind the last allowed request keeps (a copy, so a change
    made later to the caller's dict is seen). Any other value is refused by the backend after the decision
    (Encrypt, Decrypt and GenerateDataKey take text only), and is never remembered here."""
    return all(type(k) is str and type(v) is str for k, v in context.items())


def _timeless_policy(p: CompiledPolicy) -> bool:
    return not any(k in p.condition_keys for k in _TIME_KEYS)


def check_identity_policy(text: Any, principal: str, name: str, existing: dict[str, str]) -> None:
    """IAM's checks on an inline identity policy being put (PutUserPolicy/PutRolePolicy): well-formed
    (MalformedPolicyDocument), and the principal's inline policies together within IAM's quota, white space
    not counted ("User policy size cannot exceed 2,048 characters. Role policy size cannot exceed 10,240
    characters." ... "IAM does not count white space", IAM and AWS STS quotas) -> LimitExceeded, checked on
    the raw length first so a huge document is refused before it is parsed."""
    if not isinstance(text, str):
        raise MalformedPolicyDocumentException("PolicyDocument must be JSON text")
    role = ":role/" in principal or ":assumed-role/" in principal
    limit, kind = (MAX_ROLE_INLINE_CHARS, "role") if role else (MAX_USER_INLINE_CHARS, "user")
    others = sum(identity_policy_size(t) for n, t in existing.items() if n != name)
    if len(text) > MAX_TEXT or others + identity_policy_size(text) > limit:
        size = others + identity_policy_size(text) if len(text) <= MAX_TEXT else len(text)
        raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {principal} (its inline "
                            f"policies would total {size} characters without white space)")
    try:
        compile_policy(load_document(text), "iam", name)
    except PolicyError as exc:
        raise MalformedPolicyDocumentException(f"the identity policy is malformed: {exc}") from None


def aws_denial_message(decision, caller: str, action: str, resource: str | None) -> str:
    """AccessDeniedException's message as AWS KMS words it, from the decision's trace: "User: ARN is not
    authorized to perform: kms:Decrypt on resource: KEY-ARN because no resource-based policy allows the
    kms:Decrypt action" (the key policy neither allows nor delegates), "... because no identity-based policy
    allows ..." (the key policy delegates to the account and no IAM policy allows; or an operation on no
    key, resource "*"), "... with an explicit deny in a resource-based policy" / "... in an identity-based
    policy"."""
    trace = decision.trace
    head = f"User: {caller} is not authorized to perform: {action} on resource: {resource or '*'}"
    layer = trace.get("layer")
    if decision.decided_by == "explicit_deny" and layer in _LAYER_WORDS:
        return f"{head} with an explicit deny in a {_LAYER_WORDS[layer]}"
    if decision.decided_by in _LAYER_WORDS:
        return f"{head} because no {_LAYER_WORDS[decision.decided_by]} allows the {action} action"
    if decision.decided_by == "explicit_deny":
        refs = [ref for step in trace.get("steps", []) if step.get("step") == "explicit_deny"
                for ref in step.get("statements", [])]
        where = "a resource-based" if refs and refs[0].startswith(KEY_POLICY_NAME) else "an identity-based"
        return f"{head} with an explicit deny in {where} policy"
    delegated = any(step.get("step") == "key_policy" and step.get("outcome") == "continue" and step.get("statements")
                    for step in trace.get("steps", []))
    kind = "identity-based" if resource is None or delegated else "resource-based"
    return f"{head} because no {kind} policy allows the {action} action"


KEY_POLICY_NAME = "key-policy"
# The policy types AWS names in a denial (IAM User Guide, "Access denied error message examples"), by the
# engine's layer: "... because no session policy allows the X action", "... with an explicit deny in a
# service control policy".
_LAYER_WORDS = {"session_policy": "session policy", "boundary": "permissions boundary",
                "scp": "service control policy", "rcp": "resource control policy"}


def install(backend) -> None:
    """Called by the local backend when it opens (kmstui.backends.local.backend)."""
    backend.authorizer = Authorizer()
