"""Grants, evaluated exactly as KMS does (kms-authz.md §5). This is the only implementation of grant
semantics in kmstui: the local backend and the what-if plugin both call it.

Grants are taken in the shape ListGrants returns. A GrantSet indexes them by grantee so that a key with
10,000 grants costs a dictionary lookup per request, not a scan; pass one to `evaluate` when the same grants
serve many requests.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from kmstui.authz.actions import CONTEXT_OPERATIONS, GRANT_OPERATION_SET, GRANT_OPERATIONS
from kmstui.authz.principals import ACCOUNT_RE, Caller, parse_caller

CONSTRAINT_KEYS = ("EncryptionContextEquals", "EncryptionContextSubset")


def _key_id(ref: str | None) -> str | None:
    if not ref:
        return None
    return ref.rsplit("key/", 1)[-1] if "key/" in ref else ref


def _account_of(ref: str | None) -> str | None:
    if not ref:
        return None
    if ACCOUNT_RE.match(ref):
        return ref
    parts = ref.split(":")
    return parts[4] if len(parts) > 5 and ACCOUNT_RE.match(parts[4]) else None


def principal_matches(named: str | None, caller: Caller) -> bool:
    """Whether a grant's GranteePrincipal/RetiringPrincipal names the caller: the exact ARN, a role for its
    sessions, a service principal, or an account root for that root only (how IAM identities of an account
    use a grant to the account is undocumented, so it is not assumed)."""
    if not named:
        return False
    if named == caller.arn:
        return True
    other = parse_caller(named)
    if caller.kind == "service":
        return other.kind == "service" and other.arn == caller.arn
    if other.kind == "role":
        return caller.kind in ("session", "role") and (caller.account, caller.role_name) == (other.account, other.role_name)
    if other.kind == "root":
        return caller.is_root and caller.account == other.account
    return False


def _fold(pairs: dict[str, str]) -> dict[str, str]:
    """Grant constraints compare keys case-insensitively and values exactly (GrantConstraints, KMS API
    reference) — unlike the encryption context of Decrypt itself, and unlike kms:EncryptionContext:
    conditions, which are case-sensitive in the value too."""
    return {k.lower(): v for k, v in pairs.items()}


def constraints_hold(constraints: dict | None, context: dict[str, str]) -> tuple[bool, str]:
    """Grant constraints against a request's encryption context: keys compared case-insensitively, values
    case-sensitively; Equals needs the very same pairs, Subset needs at least these pairs."""
    if not constraints:
        return True, "no constraints"
    eq = constraints.get("EncryptionContextEquals")
    sub = constraints.get("EncryptionContextSubset")
    folded = _fold(context)
    if eq is not None and (len(folded) != len(context) or folded != _fold(eq)):
        return False, f"EncryptionContextEquals {eq} is not exactly the request's context {context}"
    if sub is not None:
        missing = {k: v for k, v in sub.items() if folded.get(k.lower()) != v}
        if missing:
            return False, f"EncryptionContextSubset pairs {missing} are not all in the request's context {context}"
    return True, "constraints hold"


GRANT_NAME_RE = r"^[a-zA-Z0-9:/_-]{1,256}$"  # compiled by `re` when first used (start-up)
MAX_CONSTRAINT_PAIRS = 8  # per constraint (GrantConstraints in the KMS API reference)
MAX_CONSTRAINT_CHARS = 384  # keys and values of one constraint together
_ANY_KEY_OPS = frozenset({"CreateGrant", "DescribeKey", "RetireGrant"})
_SYMMETRIC_OPS = _ANY_KEY_OPS | {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                                 "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom",
                                 "ReEncryptTo"}
_USAGE_OPS = {  # asymmetric and HMAC keys, by KeyUsage ("Grant operations" in the KMS developer guide)
    "ENCRYPT_DECRYPT": _ANY_KEY_OPS | {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"},
    "SIGN_VERIFY": _ANY_KEY_OPS | {"Sign", "Verify", "GetPublicKey"},
    "KEY_AGREEMENT": _ANY_KEY_OPS | {"DeriveSharedSecret", "GetPublicKey"},
    "GENERATE_VERIFY_MAC": _ANY_KEY_OPS | {"GenerateMac", "VerifyMac"},
}
_GRANT_PRINCIPAL_KINDS = ("root", "user", "role", "session", "federated")


def grant_operations_for_key(key_spec: str | None, key_usage: str | None) -> frozenset[str] | None:
    """The operations a grant on a key of this spec and usage may list (None: unknown key type).
    A symmetric encryption key takes the data-key operations; an asymmetric or HMAC key only what its
    KeyUsage supports, so Sign on a symmetric key or Encrypt on a signing key is rejected as KMS does."""
    if key_spec == "SYMMETRIC_DEFAULT":
        return frozenset(_SYMMETRIC_OPS)
    if key_usage is None and key_spec and key_spec.startswith("HMAC_"):
        key_usage = "GENERATE_VERIFY_MAC"
    ops = _USAGE_OPS.get(key_usage or "")
    return frozenset(ops) if ops is not None else None


def check_grant_principal(value: Any, field: str, *, service: bool = False) -> str | None:
    """Why CreateGrant rejects this principal, or None. A grantee or retiring principal is the ARN of an
    account (its root), IAM user, IAM role, assumed-role session or federated user; the *ServicePrincipal
    fields take a service principal (e.g. logs.amazonaws.com)."""
    if not isinstance(value, str) or not value:
        return f"{field} must be a non-empty string"
    caller = parse_caller(value)
    if service:
        return None if caller.kind == "service" else f"{field} '{value}' is not a service principal (e.g. logs.amazonaws.com)"
    tail = value.split(":", 5)[-1]
    if not value.startswith("arn:") or caller.kind not in _GRANT_PRINCIPAL_KINDS or tail.endswith("/"):
        return (f"{field} '{value}' is not a principal ARN KMS accepts (arn:aws:iam::ACCOUNT:root, :user/NAME, "
                ":role/NAME, arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION or :federated-user/NAME)")
    return None


def _constraint_problems(cons: Any) -> list[str]:
    if not isinstance(cons, dict):
        return ["Constraints must be an object"]
    problems = []
    for k, v in cons.items():
        if k == "SourceArn":
            continue
        if k not in CONSTRAINT_KEYS:
            problems.append(f"unknown constraint '{k}' (use {' or '.join(CONSTRAINT_KEYS)})")
        elif not isinstance(v, dict) or not all(isinstance(a, str) and isinstance(b, str) for a, b in v.items()):
            problems.append(f"Constraints.{k} must map strings to strings")
        elif len(v) > MAX_CONSTRAINT_PAIRS:
            problems.append(f"Constraints.{k} has {len(v)} pairs; a constraint takes at most {MAX_CONSTRAINT_PAIRS}")
        elif sum(len(a) + len(b) for a, b in v.items()) > MAX_CONSTRAINT_CHARS:
            problems.append(f"Constraints.{k} is longer than {MAX_CONSTRAINT_CHARS} characters (keys and values together)")
    return problems


def validate_grant_request(body: dict[str, Any], key_spec: str | None = None,
                           key_usage: str | None = None) -> list[str]:
    """What CreateGrant rejects with ValidationException (empty list: acceptable). With the key's spec and
    usage, also operations the key type does not support and constraints on any key but a symmetric
    encryption key (asymmetric and HMAC operations take no encryption context)."""
    problems = []
    ops = body.get("Operations")
    if not ops or not isinstance(ops, list):
        problems.append("Operations must be a non-empty list")
        ops = []
    else:
        bad = [o for o in ops if o not in GRANT_OPERATION_SET]
        if bad:
            problems.append(f"operations {bad} cannot be granted (allowed: {', '.join(GRANT_OPERATIONS)})")
    if not body.get("GranteePrincipal") and not body.get("GranteeServicePrincipal"):
        problems.append("GranteePrincipal is required")
    for field in ("GranteePrincipal", "RetiringPrincipal", "GranteeServicePrincipal", "RetiringServicePrincipal"):
        if body.get(field) is not None:
            why = check_grant_principal(body[field], field, service=field.endswith("ServicePrincipal"))
            if why:
                problems.append(why)
    name = body.get("Name")
    if name is not None and (not isinstance(name, str) or not re.match(GRANT_NAME_RE, name)):
        problems.append("Name must be 1-256 of letters, digits and :/_-")
    cons = body.get("Constraints")
    if cons:
        problems += _constraint_problems(cons)
    if key_spec is not None or key_usage is not None:
        allowed = grant_operations_for_key(key_spec, key_usage)
        kind = f"{key_spec or ''}{' ' if key_spec and key_usage else ''}{key_usage or ''}"
        if allowed is not None:
            unsupported = [o for o in ops if o in GRANT_OPERATION_SET and o not in allowed]
            if unsupported:
                problems.append(f"operations {unsupported} are not supported by this key ({kind}); a grant on it "
                                f"may list {', '.join(o for o in GRANT_OPERATIONS if o in allowed)}")
        if cons and key_spec != "SYMMETRIC_DEFAULT" and any(cons.get(k) for k in CONSTRAINT_KEYS):
            problems.append(f"encryption context constraints are only for symmetric encryption keys, not {kind} "
                            "(its operations take no encryption context); drop Constraints")
    return problems


def _allowed_contexts(cons: dict | None) -> tuple[dict | None, dict]:
    """A constraint as (exact context or None, required pairs)."""
    cons = cons or {}
    return cons.get("EncryptionContextEquals"), dict(cons.get("EncryptionContextSubset") or {})


def constraints_at_least_as_strict(child: dict | None, parent: dict | None) -> tuple[bool, str]:
    """Every context the child's constraints accept must be accepted by the parent's."""
    p_eq, p_sub = _allowed_contexts(parent)
    c_eq, c_sub = _allowed_contexts(child)
    if p_eq is None and not p_sub:
        return True, "the parent grant has no constraints"
    if c_eq is not None:
        if any(_fold(c_eq).get(k.lower()) != v for k, v in c_sub.items()):
            return True, "the child's constraints accept no context at all"
        ok, _ = constraints_hold(parent, c_eq)
        return ok, ("the child's EncryptionContextEquals satisfies the parent's constraints" if ok else
                    f"the child's EncryptionContextEquals {c_eq} is not accepted by the parent's constraints {parent}")
    if p_eq is not None:
        return False, ("the parent has EncryptionContextEquals; the child must use EncryptionContextEquals with "
                       "the same pairs" if c_sub else "the child drops the parent's EncryptionContextEquals constraint")
    missing = {k: v for k, v in p_sub.items() if _fold(c_sub).get(k.lower()) != v}
    if missing:
        return False, (f"the child's constraints do not require the parent's pairs {missing}" if c_sub else
                       "the child drops the parent's EncryptionContextSubset constraint")
    return True, "the child's EncryptionContextSubset includes every pair of the parent's"


def check_create_grant(grant_request: dict[str, Any], parent_grant: dict[str, Any] | None = None,
                       key_spec: str | None = None, key_usage: str | None = None) -> tuple[bool, str]:
    """Is this CreateGrant body acceptable (for a key of this spec and usage, when given), and (when the
    caller's CreateGrant permission comes from `parent_grant`) within the parent's limits: operations a
    subset, constraints at least as strict?"""
    problems = validate_grant_request(grant_request, key_spec, key_usage)
    if problems:
        return False, "; ".join(problems)
    if parent_grant is None:
        return True, "valid CreateGrant request"
    parent_ops = set(parent_grant.get("Operations") or [])
    if "CreateGrant" not in parent_ops:
        return False, "the parent grant does not allow CreateGrant"
    extra = [o for o in grant_request["Operations"] if o not in parent_ops]
    if extra:
        return False, f"operations {extra} are not in the parent grant's operations {sorted(parent_ops)}"
    return constraints_at_least_as_strict(grant_request.get("Constraints"), parent_grant.get("Constraints"))


def can_retire_grant(grant: dict[str, Any], principal: str | Caller, caller_account: str | None = None) -> tuple[bool, str]:
    """RetireGrant rules of the grant itself (explicit denies are evaluate()'s job): the retiring principal;
    the grantee if the grant lists RetireGrant; the root of the account that issued the grant."""
    caller = principal if isinstance(principal, Caller) else parse_caller(principal, caller_account)
    if principal_matches(grant.get("RetiringPrincipal"), caller):
        return True, "the caller is the grant's retiring principal"
    grantee = principal_matches(grant.get("GranteePrincipal"), caller) or \
        principal_matches(grant.get("GranteeServicePrincipal"), caller)
    if grantee and "RetireGrant" in (grant.get("Operations") or []):
        return True, "the caller is the grantee and the grant lists RetireGrant"
    issuing = _account_of(grant.get("IssuingAccount")) or _account_of(grant.get("KeyId"))
    if caller.is_root and issuing and caller.account == issuing:
        return True, f"the caller is the root of the issuing account {issuing}"
    if grantee:
        return False, "the caller is the grantee but the grant does not list RetireGrant"
    return False, "the caller is neither the retiring principal, a grantee allowed to retire, nor the issuing account"


class GrantSet:
    """Grants of one key, indexed by grantee."""

    def __init__(self, grants: Iterable[dict[str, Any]]) -> None:
        self.grants = [g for g in grants if isinstance(g, dict)]
        self.by_id: dict[str, dict] = {}
        self._exact: dict[str, list[dict]] = {}
        self._roles: dict[tuple[str | None, str | None], list[dict]] = {}
        for g in self.grants:
            if g.get("GrantId"):
                self.by_id[g["GrantId"]] = g
            for field in ("GranteePrincipal", "GranteeServicePrincipal"):
                named = g.get(field)
                if not named:
                    continue
                self._exact.setdefault(named, []).append(g)
                other = parse_caller(named)
                if other.kind == "role":
                    self._roles.setdefault((other.account, other.role_name), []).append(g)
                elif other.kind == "service" and other.arn != named:
                    self._exact.setdefault(other.arn, []).append(g)

    def __len__(self) -> int:
        return len(self.grants)

    def for_caller(self, caller: Caller) -> list[dict]:
        """The grants whose grantee is the caller (exact ARN, its role, its service, its root)."""
        out = list(self._exact.get(caller.arn, ()))
        if caller.kind == "session" or (caller.kind == "role" and caller.arn not in self._exact):
            out.extend(g for g in self._roles.get((caller.account, caller.role_name), ()) if g not in out)
        return out


def grant_decision(gs: GrantSet, caller: Caller, op: str, key_arn: str | None, context: dict[str, str],
                   grant_request: dict | None, record: list | None = None) -> dict | None:
    """The first grant that allows `op` for the caller, or None. With `record`, append one entry per
    grant examined (see docs/authz-trace.md). A grant is on one key: a request naming no key (or another
    key) is never allowed by it; a grant given without a KeyId is taken to be on the request's key."""
    if op not in GRANT_OPERATION_SET:
        return None
    want_key = _key_id(key_arn)
    for g in gs.for_caller(caller):
        entry: dict[str, Any] | None = {"grant_id": g.get("GrantId"), "grantee": g.get("GranteePrincipal") or
                                         g.get("GranteeServicePrincipal"), "operations": g.get("Operations"),
                                         "constraints": g.get("Constraints")} if record is not None else None
        ok, why = _grant_allows(g, op, want_key, context, grant_request)
        if entry is not None:
            invalid = [o for o in g.get("Operations") or [] if o not in GRANT_OPERATION_SET]
            if invalid:
                entry["invalid_operations"] = invalid
            entry.update(result=ok, why=why)
            record.append(entry)
        if ok:
            return g
    return None


def _grant_allows(g: dict, op: str, want_key: str | None, context: dict[str, str],
                  grant_request: dict | None) -> tuple[bool, str]:
    if not want_key:
        return False, "the request names no key, and a grant applies only to requests on its own key"
    gkey = _key_id(g.get("KeyId"))
    if gkey and gkey != want_key:
        return False, f"the grant is for key {gkey}, not this key"
    ops = g.get("Operations") or []
    if op not in ops:
        return False, f"{op} is not among the grant's operations"
    if op in CONTEXT_OPERATIONS:
        ok, why = constraints_hold(g.get("Constraints"), context)
        if not ok:
            return False, why
    if op == "CreateGrant":
        if grant_request is None:
            return True, "the grant allows CreateGrant (no grant_request given, so the subset rule was not checked)"
        ok, why = check_create_grant(grant_request, g)
        return ok, why if not ok else f"CreateGrant within the grant's limits: {why}"
    return True, f"the grant allows {op}" + ("" if op not in CONTEXT_OPERATIONS or not g.get("Constraints")
                                              else " and its constraints hold")
