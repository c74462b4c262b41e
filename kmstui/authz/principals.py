"""Who is calling, and whether a policy's Principal element names them.

A caller is parsed once from its ARN (or service name) into the forms AWS checks: the account, the role
behind an assumed-role session, the exact ARN. A Principal element compiles into sets, so matching is a few
set lookups. The match says *how* a statement names the caller, because KMS treats the two differently:
"direct" (the caller itself, its role, "*", its service) allows on its own in the key's account, while
"account" (the account root or 12-digit id) only lets that account's IAM policies hand the permission out.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

ACCOUNT_RE = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):(iam|sts)::(\d{12}):(.+)$")
_SERVICE_RE = r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$"  # compiled by `re` when first used (start-up)

DIRECT = "direct"
ACCOUNT = "account"


# A NamedTuple rather than a dataclass: it is defined at every command's start-up, for a fifth of the cost.
class Caller(NamedTuple):
    """A parsed caller. kind: root, user, role, session, federated, service or unknown."""

    arn: str
    kind: str
    account: str | None
    partition: str = "aws"
    name: str | None = None  # user name, session name or federated user name
    role_name: str | None = None  # the role behind a session (or the role itself)

    def __hash__(self) -> int:  # cheap: the ARN identifies the caller in practice
        return hash(self.arn)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @property
    def root_arn(self) -> str | None:
        return f"arn:{self.partition}:iam::{self.account}:root" if self.account else None

    @property
    def role_arn(self) -> str | None:
        """The role ARN behind a session (no path: a session ARN does not carry it)."""
        if self.role_name and self.account:
            return f"arn:{self.partition}:iam::{self.account}:role/{self.role_name}"
        return None

    @property
    def principal_arn(self) -> str | None:
        """aws:PrincipalArn: the role ARN for a role session, the caller's ARN otherwise."""
        if self.kind == "service":
            return None
        if self.kind == "session":
            return self.role_arn
        return self.arn


@lru_cache(maxsize=4096)
def parse_caller(principal: str, caller_account: str | None = None) -> Caller:
    """Parse a caller ARN, a bare account id (its root) or a service principal."""
    p = principal.strip()
    if ACCOUNT_RE.match(p):
        return Caller(f"arn:aws:iam::{p}:root", "root", p)
    m = _IAM_ARN.match(p)
    if m:
        partition, svc, account, res = m.groups()
        if svc == "iam" and res == "root":
            return Caller(p, "root", account, partition)
        if svc == "iam" and res.startswith("user/"):
            return Caller(p, "user", account, partition, name=res.rsplit("/", 1)[-1])
        if svc == "iam" and res.startswith("role/"):
            return Caller(p, "role", account, partition, role_name=res.rsplit("/", 1)[-1])
        if svc == "sts" and res.startswith("assumed-role/"):
            parts = res.split("/")
            if len(parts) >= 3:
                return Caller(p, "session", account, partition, name=parts[-1], role_name=parts[1])
        if svc == "sts" and res.startswith("federated-user/"):
            return Caller(p, "federated", account, partition, name=res.split("/", 1)[1])
        return Caller(p, "unknown", account, partition)
    if re.match(_SERVICE_RE, p.lower()):
        return Caller(p.lower(), "service", None)
    return Caller(p, "unknown", caller_account)


def _role_key(arn: str) -> tuple[str, str, str] | None:
    m = _IAM_ARN.match(arn)
    if m and m.group(2) == "iam" and m.group(4).startswith("role/"):
        return m.group(1), m.group(3), m.group(4).rsplit("/", 1)[-1]
    return None


def principal_values(element: Any) -> list[tuple[str, str]]:
    """A Principal element as (type, value) pairs: "*" -> [("AWS", "*")]."""
    if element == "*":
        return [("AWS", "*")]
    out: list[tuple[str, str]] = []
    if isinstance(element, dict):
        for ptype, vals in element.items():
            for v in vals if isinstance(vals, list) else [vals]:
                out.append((str(ptype), v if isinstance(v, str) else repr(v)))
    return out


def check_principal_value(ptype: str, value: str, *, key_policy: bool) -> str | None:
    """Why AWS rejects this principal value, or None when it is acceptable."""
    if ptype not in ("AWS", "Service", "Federated", "CanonicalUser"):
        return f"unknown principal type '{ptype}' (use AWS, Service, Federated or CanonicalUser)"
    if value == "*":
        return None if ptype == "AWS" else "'*' is only allowed as {\"AWS\": \"*\"} or the bare string \"*\""
    if "*" in value or "?" in value:
        return f"'{value}': partial wildcards are not allowed in Principal; use \"*\" with a condition on aws:PrincipalArn"
    if ptype == "Service":
        if re.match(_SERVICE_RE, value.lower()):
            return None
        return f"'{value}' is not a service principal (e.g. ec2.amazonaws.com)"
    if ptype != "AWS":
        return None
    if ACCOUNT_RE.match(value):
        return None
    m = _IAM_ARN.match(value)
    if not m:
        if re.match(r"^A[A-Z0-9]{15,}$", value):
            return None  # unique id of a deleted principal: AWS keeps it, it never matches
        return f"'{value}' is not an account id or IAM principal ARN"
    res = m.group(4)
    if m.group(2) == "iam" and res.startswith("group/"):
        return f"'{value}': IAM groups cannot be principals; name the users or roles, or delegate to the account"
    if m.group(2) == "iam" and (res == "root" or res.startswith(("user/", "role/"))):
        return None
    if m.group(2) == "sts" and (res.startswith("assumed-role/") or res.startswith("federated-user/")):
        return None
    return f"'{value}' is not a principal KMS accepts (account, user, role, assumed-role session)"


class PrincipalSpec:
    """A compiled Principal / NotPrincipal element."""

    __slots__ = ("wildcard", "accounts", "_account_keys", "exact", "roles", "services", "values", "_memo")

    def __init__(self, element: Any) -> None:
        self.wildcard = False
        self.accounts: set[str] = set()  # account ids named (any partition), for lint and the matrix
        # (partition, account): a bare 12-digit id is None, i.e. the key's own partition (callers of another
        # partition are refused before any statement is read); an ARN names its partition's account only.
        self._account_keys: set[tuple[str | None, str]] = set()
        self.exact: set[str] = set()
        self.roles: set[tuple[str, str, str]] = set()  # (partition, account, role name)
        self.services: set[str] = set()
        self.values = principal_values(element)
        self._memo: dict[Any, str | None] = {}
        for ptype, v in self.values:
            if ptype == "AWS":
                if v == "*":
                    self.wildcard = True
                elif ACCOUNT_RE.match(v):
                    self.accounts.add(v)
                    self._account_keys.add((None, v))
                else:
                    m = _IAM_ARN.match(v)
                    if m and m.group(2) == "iam" and m.group(4) == "root":
                        self.accounts.add(m.group(3))
                        self._account_keys.add((m.group(1), m.group(3)))
                    elif (rk := _role_key(v)) is not None:
                        self.roles.add(rk)
                        self.exact.add(v)
                    else:
                        self.exact.add(v)
            elif ptype == "Service":
                self.services.add(v.lower())
            else:
                self.exact.add(v)

    def match(self, caller: Caller) -> str | None:
        """DIRECT, ACCOUNT or None (see module docstring)."""
        key = caller.arn if caller.kind != "unknown" else (caller.arn, caller.account)
        try:
            return self._memo[key]
        except KeyError:
            pass
        result = self._match(caller)
        if len(self._memo) < 4096:
            self._memo[key] = result
        return result

    def _match(self, c: Caller) -> str | None:
        if self.wildcard:
            return DIRECT
        if c.kind == "service":
            return DIRECT if c.arn in self.services else None
        if c.arn in self.exact:
            return DIRECT
        if c.role_name and c.account and (c.partition, c.account, c.role_name) in self.roles:
            return DIRECT
        if (None, c.account) in self._account_keys or (c.partition, c.account) in self._account_keys:
            return DIRECT if c.is_root else ACCOUNT
        return None

    def names_account(self, c: Caller) -> bool:
        return (None, c.account) in self._account_keys or (c.partition, c.account) in self._account_keys

    def forms_listed(self, c: Caller) -> tuple[int, int]:
        """(how many of the caller's identity forms are listed, how many forms it has), for NotPrincipal.
        Forms: account; role (sessions); the exact ARN (users, sessions, federated users); the service."""
        if c.kind == "service":
            return (1 if c.arn in self.services else 0), 1
        forms = 0
        listed = 0
        if c.account:
            forms += 1
            listed += self.names_account(c)
        if c.kind == "session":
            forms += 1
            listed += (c.partition, c.account, c.role_name) in self.roles
        if c.kind not in ("root",):
            forms += 1
            listed += c.arn in self.exact or (c.kind == "role" and (c.partition, c.account, c.role_name) in self.roles)
        return listed, forms

    def named_principals(self) -> list[str]:
        """Every principal this element names, for the access matrix."""
        return [v for _t, v in self.values]
