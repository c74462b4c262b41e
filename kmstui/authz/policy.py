"""Policy documents: parsed, validated and compiled in one pass.

`compile_policy` turns a key policy or IAM identity policy into statements whose Action, Resource, Principal
and Condition elements are ready-made predicates, plus a per-action index, so evaluating a request touches
only the statements that can apply to its action. `validate_policy` reports what AWS would reject (errors,
naming the statement and element) and what AWS accepts but is risky or inert (warnings).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from kmstui.authz import actions as A
from kmstui.authz.conditions import Condition, compile_block, template_parts
from kmstui.authz.context import MULTIVALUED, RequestContext
from kmstui.authz.model import Finding, PolicyError
from kmstui.authz.patterns import glob, like_template
from kmstui.authz.principals import PrincipalSpec, check_principal_value, principal_values

VERSIONS = ("2012-10-17", "2008-10-17")
TOP_KEYS = {"Version", "Id", "Statement"}
STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                  "Condition"}
MAX_KEY_POLICY_BYTES = 32768
# IAM quotas ("IAM and AWS STS quotas"): "User policy size cannot exceed 2,048 characters. Role policy size
# cannot exceed 10,240 characters." (the sum of a principal's inline policies), a managed policy 6,144
# characters, and "IAM does not count white space when calculating the size of a policy".
MAX_USER_INLINE_CHARS = 2048
MAX_ROLE_INLINE_CHARS = 10240
MAX_MANAGED_POLICY_CHARS = 6144
MAX_IDENTITY_POLICY_CHARS = MAX_ROLE_INLINE_CHARS  # no single identity policy can be larger
MAX_ORG_POLICY_CHARS = 5120  # SCP and RCP document size (AWS Organizations quotas)
# Policy kinds: key policies and RCPs name principals; identity policies (also boundaries and session
# policies) and SCPs must not.
KINDS = ("key", "iam", "scp", "rcp")
_NAMES_PRINCIPALS = ("key", "rcp")
_VAR_KEY = r"\$\{([^},]+)"  # compiled by `re` when first used (start-up)
_KNOWN_SINGLE = ("kms:calleraccount", "kms:viaservice", "kms:encryptioncontext:", "aws:sourceip",
                 "aws:principalarn", "kms:granteeprincipal", "kms:retiringprincipal", "aws:principalaccount",
                 "kms:grantisforawsresource", "aws:principalorgid", "aws:requesttag/")


class Statement:
    """A compiled statement. `label` names it in findings and traces: Statement[2] (Sid "Admins")."""

    __slots__ = ("index", "sid", "label", "effect", "is_allow", "actions", "not_action", "resources",
                 "not_resource", "principal", "not_principal", "conditions", "raw", "_action_memo",
                 "_action_matchers", "_resource_matchers", "_templated_resources", "inert", "_any_resource")

    def __init__(self, index: int, raw: dict, variables: bool, conditions: list[Condition]) -> None:
        self.index = index
        self.raw = raw
        sid = raw.get("Sid")
        self.sid = sid if isinstance(sid, str) else None
        self.label = f"Statement[{index}]" + (f' (Sid "{self.sid}")' if self.sid else "")
        self.effect = raw.get("Effect")
        self.is_allow = self.effect == "Allow"
        self.not_action = "NotAction" in raw
        self.actions = _str_list(raw.get("NotAction" if self.not_action else "Action"))
        self.not_resource = "NotResource" in raw
        self.resources = _str_list(raw.get("NotResource" if self.not_resource else "Resource"))
        self.not_principal = "NotPrincipal" in raw
        pel = raw.get("NotPrincipal" if self.not_principal else "Principal")
        self.principal = PrincipalSpec(pel) if pel is not None else None
        self.conditions = conditions
        self.inert = not self.actions or not self.resources
        self._action_memo: dict[str, bool] = {}
        self._action_matchers = [glob(a, True) for a in self.actions]
        self._templated_resources = variables and any("${" in r for r in self.resources)
        self._resource_matchers = [glob(r) for r in self.resources]
        self._any_resource = "*" in self.resources and not self.not_resource

    def matches_action(self, action: str) -> bool:
        """`action` is "kms:Decrypt" (any case)."""
        hit = self._action_memo.get(action)
        if hit is None:
            hit = any(m(action) for m in self._action_matchers) != self.not_action
            if self.inert:
                hit = False
            if len(self._action_memo) < 1024:
                self._action_memo[action] = hit
        return hit

    def matches_resource(self, resource: str, ctx: RequestContext | None = None) -> bool:
        if self._any_resource:
            return True
        if self._templated_resources and ctx is not None:
            hit = False
            for r in self.resources:
                if "${" not in r:
                    hit = glob(r)(resource)
                else:  # substituted values and the ${*} ${?} ${$} escapes are literal, not wildcards
                    parts = template_parts(r, ctx)
                    hit = parts is not None and like_template(parts)(resource)
                if hit:
                    break
        else:
            hit = any(m(resource) for m in self._resource_matchers)
        return hit != self.not_resource


class CompiledPolicy:
    """A policy ready for evaluation. Compile once, evaluate many times; instances are immutable in use."""

    def __init__(self, doc: dict, kind: str, name: str, statements: list[Statement], findings: list[Finding]) -> None:
        self.doc = doc
        self.kind = kind
        self.name = name
        self.statements = statements
        self.findings = findings
        self.version = doc.get("Version")
        self._index: dict[str, tuple[tuple[Statement, ...], tuple[Statement, ...]]] = {}
        # Every condition key the policy reads (lower-cased), also inside policy variables: callers that
        # memoise decisions key them on exactly these request values.
        keys = {c.lkey for st in statements for c in st.conditions}
        text = json.dumps(doc) if any("${" in json.dumps(st.raw) for st in statements) else ""
        keys.update(m.group(1).strip().lower() for m in (re.finditer(_VAR_KEY, text) if text else ()))
        self.condition_keys = frozenset(keys)
        self.has_allow = any(st.is_allow for st in statements)

    def for_action(self, action: str) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        """(Deny statements, Allow statements) whose Action element matches `action`."""
        hit = self._index.get(action)
        if hit is None:
            st = [s for s in self.statements if s.matches_action(action)]
            hit = (tuple(s for s in st if not s.is_allow), tuple(s for s in st if s.is_allow))
            if len(self._index) < 1024:
                self._index[action] = hit
        return hit

    def __repr__(self) -> str:
        return f"CompiledPolicy({self.kind}, {self.name!r}, {len(self.statements)} statements)"


def _str_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, str)]
    return []


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError(f"duplicate key '{k}'")
        seen[k] = v
    return seen


MAX_DEPTH = 32  # a policy needs 5 levels (Statement, statement, Condition, operator, values); JSON allows any
MAX_TEXT = 1 << 20  # no policy type AWS stores exceeds 128 KiB of text; refuse anything past 1 MiB unparsed


def too_deep(obj: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed JSON value nests deeper than `limit` (iterative: never a RecursionError)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items = value.values()
        elif isinstance(value, list):
            items = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((v, depth + 1) for v in items if isinstance(v, (dict, list)))
    return False


def _deep_error() -> PolicyError:
    return PolicyError([Finding("error", "TooDeep", f"the document nests more than {MAX_DEPTH} levels deep; a "
                                "policy needs about 5 (Statement, statement, Condition, operator, values)")])


def load_document(doc: Any) -> dict:
    """A policy document from a dict, JSON text or bytes; PolicyError when it is not a JSON object, is larger
    than any policy AWS stores (1 MiB, refused before parsing) or nests deeper than MAX_DEPTH."""
    if isinstance(doc, (bytes, bytearray)):
        doc = doc.decode("utf-8", errors="replace")
    if isinstance(doc, str):
        if len(doc) > MAX_TEXT:
            raise PolicyError([Finding("error", "TooLarge", f"the document is {len(doc)} characters; no AWS policy "
                                       f"may exceed {MAX_KEY_POLICY_BYTES} bytes (key policy) or 10,240 "
                                       "characters (identity policy)")])
        try:
            doc = json.loads(doc, object_pairs_hook=lambda p: _no_duplicates(p))
        except json.JSONDecodeError as exc:
            raise PolicyError([Finding("error", "InvalidJson", f"not valid JSON ({exc.msg} at line {exc.lineno} "
                                       f"column {exc.colno})")]) from None
        except RecursionError:
            raise _deep_error() from None
        except ValueError as exc:
            raise PolicyError([Finding("error", "DuplicateKey", f"{exc}; JSON object keys must be unique")]) from None
    if not isinstance(doc, dict):
        raise PolicyError([Finding("error", "NotAnObject", "a policy document must be a JSON object")])
    if too_deep(doc):
        raise _deep_error()
    return doc


def _parse(doc: Any, kind: str) -> tuple[dict, list[Statement], list[Finding]]:
    text_size = len(doc.encode()) if isinstance(doc, str) else None
    doc = load_document(doc)
    findings: list[Finding] = []

    def err(code: str, msg: str, st: str = "", el: str = "", fix: str = "") -> None:
        findings.append(Finding("error", code, msg, st, el, fix))

    def warn(code: str, msg: str, st: str = "", el: str = "", fix: str = "") -> None:
        findings.append(Finding("warning", code, msg, st, el, fix))

    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r} (one of {', '.join(KINDS)})")
    if kind == "key":
        size = text_size if text_size is not None else len(json.dumps(doc).encode())
        if size > MAX_KEY_POLICY_BYTES:  # nothing more is read: a huge document costs nothing further
            err("TooLarge", f"key policy is {size} bytes; KMS allows at most {MAX_KEY_POLICY_BYTES}")
            return doc, [], findings
    elif kind in ("scp", "rcp"):
        size = identity_policy_size(doc)
        if size > MAX_ORG_POLICY_CHARS:
            err("TooLarge", f"{kind.upper()} is {size} characters; AWS Organizations allows at most "
                f"{MAX_ORG_POLICY_CHARS}")
            return doc, [], findings
    else:
        size = identity_policy_size(doc)
        if size > MAX_IDENTITY_POLICY_CHARS:
            err("TooLarge", f"identity policy is {size} characters (whitespace not counted); IAM allows at most "
                f"{MAX_IDENTITY_POLICY_CHARS} (role inline policies, all together), 6,144 (a managed policy), "
                "2,048 (user inline policies, all together)")
            return doc, [], findings
    for k in doc:
        if k not in TOP_KEYS:
            err("UnknownElement", f"unknown top-level element '{k}' (allowed: Version, Id, Statement)", el=k)
    version = doc.get("Version")
    if version is None:
        warn("NoVersion", "no Version: AWS uses 2008-10-17, where policy variables are literal text",
             el="Version", fix='add "Version": "2012-10-17"')
    elif version not in VERSIONS:
        err("BadVersion", f"Version '{version}' is not 2012-10-17 or 2008-10-17", el="Version")
    variables = version == "2012-10-17"
    raw_statements = doc.get("Statement")
    if raw_statements is None:
        err("NoStatement", "the policy has no Statement element", el="Statement")
        raw_statements = []
    elif isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    elif not isinstance(raw_statements, list):
        err("BadStatement", "Statement must be an object or a list of objects", el="Statement")
        raw_statements = []
    elif not raw_statements:
        err("NoStatement", "Statement is an empty list", el="Statement")

    statements: list[Statement] = []
    sids: dict[str, int] = {}
    for i, raw in enumerate(raw_statements):
        label = f"Statement[{i}]"
        if not isinstance(raw, dict):
            err("BadStatement", "each statement must be a JSON object", label)
            continue
        sid = raw.get("Sid")
        if isinstance(sid, str):
            label += f' (Sid "{sid}")'
            if sid in sids:
                warn("DuplicateSid", f"Sid also used by Statement[{sids[sid]}]", label, "Sid", "give every statement its own Sid")
            sids.setdefault(sid, i)
        elif sid is not None:
            err("BadSid", "Sid must be a string", label, "Sid")
        for k in raw:
            if k not in STATEMENT_KEYS:
                err("UnknownElement", f"unknown element '{k}'", label, k,
                    "allowed: Sid, Effect, Principal/NotPrincipal, Action/NotAction, Resource/NotResource, Condition")
        if raw.get("Effect") not in ("Allow", "Deny"):
            err("BadEffect", f"Effect must be \"Allow\" or \"Deny\", got {raw.get('Effect')!r}", label, "Effect")
        for a, b in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
            if a in raw and b in raw:
                err("Conflict", f"has both {a} and {b}; use one", label, b)
        _check_actions(raw, label, err, warn)
        _check_resources(raw, label, kind, err, warn)
        _check_principal(raw, label, kind, err, warn)
        conds: list[Condition] = []
        if "Condition" in raw:
            conds, problems = compile_block(raw["Condition"], variables)
            for el, msg in problems:
                err("BadCondition", msg, label, el)
            _check_condition_keys(conds, raw.get("Effect"), label, warn)
        if not any(f.severity == "error" and f.statement == label for f in findings):
            statements.append(Statement(i, raw, variables, conds))
    return doc, statements, findings


def _check_actions(raw: dict, label: str, err, warn) -> None:
    el = "NotAction" if "NotAction" in raw else "Action"
    if el not in raw:
        warn("NoAction", "has no Action or NotAction, so it has no effect (KMS accepts it silently)", label, "Action")
        return
    value = raw[el]
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(a, str) for a in items):
        err("BadAction", f"{el} must be a string or a list of strings", label, el)
        return
    for a in items:
        if a == "*":
            continue
        service, sep, name = a.partition(":")
        if not sep or not service or not name:
            err("BadAction", f"'{a}' is not service:Action (e.g. kms:Decrypt)", label, el)
            continue
        if service.lower() == "kms" and not any(glob(name, True)(x) for x in A.ALL_ACTIONS):
            hint = " (the permissions are kms:ReEncryptFrom and kms:ReEncryptTo; write kms:ReEncrypt*)" \
                if name.lower() == "reencrypt" else ""
            warn("UnknownAction", f"'{a}' matches no KMS action{hint}", label, el, "check the spelling against "
                 "the KMS permissions reference")


def _check_resources(raw: dict, label: str, kind: str, err, warn) -> None:
    el = "NotResource" if "NotResource" in raw else "Resource"
    if el not in raw:
        warn("NoResource", "has no Resource or NotResource, so it has no effect (KMS accepts it silently)",
             label, "Resource", 'add "Resource": "*"')
        return
    value = raw[el]
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(r, str) for r in items):
        err("BadResource", f"{el} must be a string or a list of strings", label, el)
        return
    for r in items:
        if r != "*" and not r.startswith("arn:"):
            err("BadResource", f"'{r}' is not \"*\" or an ARN (key ids and alias names are not valid here)", label, el)
        elif kind == "key" and r != "*":
            warn("KeyPolicyResource", f"'{r}': in a key policy Resource is \"*\" (this key)", label, el,
                 'use "Resource": "*"')
    if kind == "key" and el == "NotResource":
        warn("Undocumented", "NotResource in a key policy is not documented by KMS", label, el)


def _check_principal(raw: dict, label: str, kind: str, err, warn) -> None:
    el = "NotPrincipal" if "NotPrincipal" in raw else "Principal"
    if kind == "rcp":
        _check_rcp(raw, label, err, warn)
        return
    if el not in raw:
        if kind == "key":
            err("NoPrincipal", "a key policy statement needs a Principal", label, "Principal",
                'name who it applies to, e.g. "Principal": {"AWS": "arn:aws:iam::111122223333:root"}')
        return
    if kind == "iam":
        err("PrincipalInIdentityPolicy", f"an IAM identity policy cannot have {el}", label, el,
            "remove it: an identity policy applies to the identity it is attached to")
        return
    if kind == "scp":
        err("PrincipalInScp", f"an SCP cannot have {el} (it applies to the principals of the accounts it is "
            "attached to)", label, el, "remove it; narrow with a Condition on aws:PrincipalArn instead")
        return
    value = raw[el]
    if value != "*" and not (isinstance(value, dict) and value):
        err("BadPrincipal", f"{el} must be \"*\" or an object such as {{\"AWS\": [...]}}", label, el)
        return
    if isinstance(value, dict):
        for ptype, vals in value.items():
            items = vals if isinstance(vals, list) else [vals]
            if not items or not all(isinstance(v, str) for v in items):
                err("BadPrincipal", f"{el}.{ptype} must be a string or a list of strings", label, el)
                return
    for ptype, v in principal_values(value):
        problem = check_principal_value(ptype, v, key_policy=kind == "key")
        if problem:
            err("BadPrincipal", problem, label, f"{el}.{ptype}")
    if el == "NotPrincipal":
        warn("NotPrincipal", "NotPrincipal is not documented for key policies and easy to get wrong", label, el,
             "use Principal \"*\" with a Condition on aws:PrincipalArn (ArnNotEquals / ArnNotLike)")
    if "NotAction" in raw and kind == "key":
        warn("Undocumented", "NotAction in a key policy is not documented by KMS", label, "NotAction")


def _check_rcp(raw: dict, label: str, err, warn) -> None:
    """RCP syntax: "You can only specify "*" in the Principal element of an RCP", "The following elements
    are not supported in RCPs: NotPrincipal, NotAction", and customer RCPs must be Deny (RCPFullAWSAccess,
    the only Allow, is attached everywhere and cannot be detached) (AWS Organizations, RCP syntax)."""
    for el in ("NotPrincipal", "NotAction"):
        if el in raw:
            err("UnsupportedInRcp", f"{el} is not supported in RCPs", label, el)
    if "Principal" not in raw:
        err("NoPrincipal", "an RCP statement needs \"Principal\": \"*\"", label, "Principal")
    elif raw["Principal"] not in ("*", {"AWS": "*"}):
        err("RcpPrincipal", "the Principal of an RCP can only be \"*\"", label, "Principal",
            "use \"Principal\": \"*\" and narrow with a Condition (e.g. aws:PrincipalOrgID)")
    if raw.get("Effect") == "Allow":
        warn("AllowInRcp", "RCPs you create must be Deny; the only Allow is RCPFullAWSAccess, which AWS keeps "
             "attached everywhere, so this Allow changes nothing", label, "Effect")


def _check_condition_keys(conds: Iterable[Condition], effect: Any, label: str, warn) -> None:
    for c in conds:
        el = f"Condition.{c.op.name}.{c.key}"
        multi = c.lkey in MULTIVALUED
        if c.op.set_op and not multi and c.lkey.startswith(_KNOWN_SINGLE):
            warn("SetOperatorOnSingleValuedKey", f"{c.op.set_op} used with the single-valued key {c.key}", label, el,
                 f"drop the {c.op.set_op}: prefix")
        if multi and c.op.set_op is None and c.op.base != "Null":
            warn("MultivaluedWithoutSetOperator", f"{c.key} is multivalued; {c.op.name} without ForAnyValue/"
                 "ForAllValues is ambiguous", label, el, f"use ForAnyValue:{c.op.name} or ForAllValues:{c.op.name}")
        if c.op.set_op == "ForAllValues" and effect == "Allow" and not c.op.negated:
            warn("ForAllValuesFailsOpen", f"ForAllValues is true when {c.key} is absent or empty, so this Allow "
                 "also applies to requests without it", label, el,
                 f"add a Null condition on {c.key} (\"false\") or a ForAnyValue condition")


def compile_policy(doc: Any, kind: str = "key", name: str | None = None) -> CompiledPolicy:
    """Compile a key policy (kind="key") or IAM identity policy (kind="iam"). Raises PolicyError listing
    every error AWS would reject the document for; warnings are kept on `.findings`."""
    if isinstance(doc, CompiledPolicy):
        return doc
    parsed, statements, findings = _parse(doc, kind)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise PolicyError(errors)
    return CompiledPolicy(parsed, kind, name or ("key-policy" if kind == "key" else kind), statements, findings)


def validate_policy(doc: Any, kind: str = "key") -> list[Finding]:
    """Every finding for a document: errors (AWS rejects it with MalformedPolicyDocumentException) and
    warnings. Never raises for content; use `[f for f in findings if f.severity == "error"]`."""
    try:
        _doc, _st, findings = _parse(doc, kind)
    except PolicyError as exc:
        return exc.findings
    return findings


def identity_policy_size(doc: Any) -> int:
    """A policy's size as IAM counts it against its quotas: characters, white space not counted."""
    text = doc if isinstance(doc, str) else json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return len(text) - sum(text.count(c) for c in " \t\n\r")
