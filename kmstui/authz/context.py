"""The request context: the condition keys a request carries, derived from the request when not given.

Keys are looked up by lower-cased name (condition-key names are case-insensitive), computed on first use and
cached, so a condition-free policy pays nothing for keys it never reads. Keys given in `Request.context` win
over derived ones. Absent keys are None; multivalued keys are lists.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

from kmstui.authz import requestkeys
from kmstui.authz.actions import GRANT_MANAGEMENT_ACTIONS
from kmstui.authz.model import Request
from kmstui.authz.principals import Caller

_MISSING = object()
_PRINCIPAL_TYPE = {"root": "Account", "user": "User", "session": "AssumedRole", "federated": "FederatedUser",
                   "role": "AssumedRole"}
MULTIVALUED = frozenset({"kms:encryptioncontextkeys", "kms:grantoperations", "kms:resourcealiases",
                         "aws:tagkeys", "aws:principalorgpaths", "aws:resourceorgpaths", "aws:calledvia"})

_VAR = r"\$\{([^}]*)\}"  # compiled by `re` when first used (start-up)
# The condition keys RequestContext derives itself (besides kms:EncryptionContext:* and requestkeys.KEYS).
DERIVED_KEYS = ("kms:encryptioncontextkeys", "kms:calleraccount", "aws:principalaccount", "aws:principalarn",
                "aws:principaltype", "aws:username", "aws:userid", "aws:principalisawsservice",
                "aws:principalservicename", "aws:securetransport", "aws:viaawsservice", "aws:currenttime",
                "aws:epochtime", "aws:requestedregion", "aws:resourceaccount", "kms:grantisforawsresource",
                "kms:grantoperations", "kms:granteeprincipal", "kms:retiringprincipal",
                "kms:granteeserviceprincipal", "kms:grantconstrainttype", "kms:grantconstraintsourcearn")


class RequestContext:
    __slots__ = ("request", "caller", "action_name", "key_account", "key_region", "_given", "_cache",
                 "_parameters", "_aliases", "_tags", "_request_tags", "organization")

    def __init__(self, request: Request, caller: Caller, action_name: str,
                 key_account: str | None, key_region: str | None) -> None:
        self.request = request
        self.caller = caller
        self.action_name = action_name
        self.key_account = key_account
        self.key_region = key_region
        given = request.context
        self._given = {k.lower(): v for k, v in given.items()} if given else {}
        self._cache: dict[str, Any] = {}
        self._parameters: Any = _MISSING
        self._aliases: Any = _MISSING
        self._tags: Any = _MISSING
        self._request_tags: Any = _MISSING
        self.organization: Any = None  # kmstui.authz.org.Organization when the request is evaluated with one

    @property
    def parameters(self) -> dict[str, Any]:
        """The request's API parameters by lower-cased name."""
        if self._parameters is _MISSING:
            p = self.request.parameters
            self._parameters = {str(k).lower(): v for k, v in p.items()} if isinstance(p, dict) else {}
        return self._parameters

    def key_aliases(self) -> list[str]:
        if self._aliases is _MISSING:
            a = self.request.key_aliases
            a = a() if callable(a) else a
            self._aliases = [x for x in a if isinstance(x, str)] if isinstance(a, (list, tuple)) else []
        return self._aliases

    def key_tags(self) -> dict[str, str]:
        if self._tags is _MISSING:
            t = self.request.key_tags
            self._tags = requestkeys.tags_dict(t() if callable(t) else t)
        return self._tags

    def request_tags(self) -> dict[str, str]:
        if self._request_tags is _MISSING:
            t = self.request.request_tags
            self._request_tags = requestkeys.tags_dict(t) if t is not None else \
                (requestkeys.request_tags_of(self.action_name, self.parameters) or {})
        return self._request_tags

    def get(self, key: str) -> Any:
        """The value of a condition key given its lower-cased name, or None when absent."""
        v = self._cache.get(key, _MISSING)
        if v is _MISSING:
            v = self._given.get(key, _MISSING)
            if v is _MISSING:
                v = self._derive(key)
            elif isinstance(v, tuple):
                v = list(v)
            self._cache[key] = v
        return v

    def given(self, key: str) -> bool:
        return key in self._given

    def _derive(self, key: str) -> Any:
        c = self.caller
        r = self.request
        if key.startswith("kms:encryptioncontext:"):
            want = key[len("kms:encryptioncontext:"):]
            for k, val in r.encryption_context.items():
                if k.lower() == want:
                    return val
            return None
        if key == "kms:encryptioncontextkeys":
            return list(r.encryption_context) or None
        if key in ("kms:calleraccount", "aws:principalaccount"):
            return c.account if c.kind != "service" else None
        if key == "aws:principalarn":
            if r.principal_role_arn and c.kind == "session":
                return r.principal_role_arn
            return c.principal_arn
        if key.startswith(("aws:principalorg", "aws:resourceorg")):
            return self._org_key(key)
        if key == "aws:principaltype":
            return _PRINCIPAL_TYPE.get(c.kind)
        if key == "aws:username":
            return c.name if c.kind == "user" else None
        if key == "aws:userid":
            return c.account if c.kind == "root" else None
        if key == "aws:principalisawsservice":
            return "true" if c.kind == "service" else "false"
        if key == "aws:principalservicename":
            return c.arn if c.kind == "service" else None
        if key == "aws:securetransport":
            return "true"
        if key == "aws:viaawsservice":  # always present: true when a service calls with the caller's credentials
            return "true" if c.kind != "service" and self.get("kms:viaservice") is not None else "false"
        if key == "aws:currenttime":
            return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if key == "aws:epochtime":
            return str(int(time.time()))
        if key == "aws:requestedregion":
            return self.key_region
        if key == "aws:resourceaccount":
            return self.key_account
        if key == "kms:grantisforawsresource":
            if self.action_name in GRANT_MANAGEMENT_ACTIONS:
                return "true" if self.get("kms:viaservice") is not None else "false"
            return None
        gr = r.grant_request
        if gr is not None and self.action_name == "CreateGrant":
            if key == "kms:grantoperations":
                return list(gr.get("Operations") or []) or None
            if key == "kms:granteeprincipal":
                return gr.get("GranteePrincipal")
            if key == "kms:retiringprincipal":
                return gr.get("RetiringPrincipal")
            if key == "kms:granteeserviceprincipal":
                return gr.get("GranteeServicePrincipal")
            if key == "kms:grantconstrainttype":
                cons = gr.get("Constraints") or {}
                types = [t for t in ("EncryptionContextEquals", "EncryptionContextSubset") if t in cons]
                return types[0] if len(types) == 1 else (types or None)
            if key == "kms:grantconstraintsourcearn":
                return (gr.get("Constraints") or {}).get("SourceArn")
        return requestkeys.derive(key, self)

    def _org_key(self, key: str) -> Any:
        """aws:PrincipalOrgID/Paths (the caller's account), aws:ResourceOrgID/Paths (the key's account): present
        only when that account is in an organization the request knows of ("This key is included in the
        request context only if the principal is a member of an organization", global condition keys)."""
        org = self.organization
        if org is None:
            return None
        principal = key.startswith("aws:principalorg")
        account = self.caller.account if principal else self.key_account
        if principal and self.caller.kind == "service":
            return None
        if key.endswith("orgid"):
            return org.org_id_of(account)
        if key.endswith("orgpaths"):
            return org.org_paths(account)
        return None

    def resolve(self, template: str) -> str | None:
        """Substitute policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'default'}`, `${*}`);
        None when a variable has no value and no default (AWS then never matches that value)."""
        failed = False

        def sub(m: re.Match) -> str:
            nonlocal failed
            body = m.group(1).strip()
            if body in ("*", "?", "$"):
                return body
            name, comma, default = body.partition(",")
            v = self.get(name.strip().lower())
            if isinstance(v, list):
                v = v[0] if len(v) == 1 else None
            if v is None or isinstance(v, (dict,)):
                if comma:
                    d = default.strip()
                    if len(d) >= 2 and d[0] == d[-1] == "'":
                        return d[1:-1]
                failed = True
                return ""
            return scalar_str(v)

        out = re.sub(_VAR, sub, template)
        return None if failed else out


def scalar_str(v: Any) -> str:
    """How a request value reads as a string: booleans as "true"/"false"."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def has_variable(value: str) -> bool:
    return "${" in value
