"""Scenario files: policy unit tests, like `opa test`.

A file holds one scenario object or a list of them::

    {"name": "...", "key_policy": {...} | "relative/path.json", "iam_policies": [...], "grants": [...],
     "request": {"principal": ARN, "caller_account": "111122223333" | null, "action": "kms:Decrypt",
                 "key_arn": ARN, "encryption_context": {...}, "grant_request": {...}, "target_grant_id": "...",
                 "context": {condition key: value or list}, "grant_tokens": [...]},
     "expected": "ALLOW" | "DENY"}

Everything but key_policy and request is optional; a policy given as a string is a path relative to the
scenario file, so scenarios can share policy files. Condition keys not in `context` are derived from the
request (kms:CallerAccount, aws:PrincipalArn, kms:EncryptionContext:k, kms:GrantOperations, ...).

The layers around the key (issue 14; docs/policy-layers.md), all optional, absent = today's answers:
    "organization": {"id", "management_account", "member_accounts": [...],
                     "ous": [{"name", "parent", "accounts": [...]}], "external_accounts": {ACCOUNT: ORG_ID | null}},
    "scps": [{"target": "root" | "ou:NAME" | "account:ID", "PolicyName", "PolicyDocument"}], "rcps": [same],
    "permissions_boundary": POLICY, "session_policy": POLICY (or a list: inline plus managed session policies),
and in "request": "principal_role_arn", "service_linked", "key_aliases", "request_alias", "key_tags",
"request_tags", "key_manager" ("CUSTOMER" | "AWS"), and "parameters" (the KMS request parameters, e.g.
{"EncryptionAlgorithm": ...}; kmstui's addition).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmstui.authz.engine import evaluate
from kmstui.authz.model import Decision, PolicyError, Request
from kmstui.authz.org import Layers, Organization, OrganizationError, make_layers
from kmstui.authz.policy import too_deep

SUFFIX = ".scenario.json"
_REQUEST_FIELDS = {"principal", "caller_account", "action", "key_arn", "encryption_context", "grant_request",
                   "target_grant_id", "context", "grant_tokens", "principal_role_arn", "service_linked",
                   "key_aliases", "request_alias", "key_tags", "request_tags", "key_manager", "parameters"}
_SCENARIO_FIELDS = {"name", "description", "key_policy", "iam_policies", "grants", "request", "expected",
                    "organization", "scps", "rcps", "permissions_boundary", "session_policy"}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file, the scenario and the field."""


@dataclass
class Scenario:
    name: str
    source: str
    key_policy: Any
    request: Request
    iam_policies: list[Any] = field(default_factory=list)
    grants: list[dict] = field(default_factory=list)
    expected: str | None = None
    layers: Layers | None = None  # organization (SCPs, RCPs), permissions boundary, session policies


MAX_FILE_BYTES = 8 << 20  # a scenario file (or a policy or grants file it names) larger than this is refused
MAX_DEPTH = 40  # scenarios nest a policy (5 levels) a few levels down; JSON itself has no limit
MAX_WALK_DIRS = 20_000  # `policy test DIR` gives up past this many folders (e.g. `policy test /`)
MAX_WALK_FILES = 10_000  # ... or this many scenario files
_SKIP_DIRS = {"node_modules", "__pycache__"}


def _read_json(path: Path, what: str) -> Any:
    try:
        if not path.is_file():
            raise ScenarioError(f"{what}: {path}: " + ("is a folder, not a file" if path.is_dir() else
                                                       "no such file" if not path.exists() else
                                                       "not a regular file"))
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError(f"{what}: {path}: larger than {MAX_FILE_BYTES >> 20} MiB; a scenario file is never "
                                "that large")
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{what}: {path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{what}: {path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ScenarioError(f"{what}: {path}: the JSON nests too deeply (more than {MAX_DEPTH} levels)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{what}: {path}: cannot read ({exc})") from None
    if too_deep(data, MAX_DEPTH):
        raise ScenarioError(f"{what}: {path}: the JSON nests too deeply (more than {MAX_DEPTH} levels)")
    return data


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _want(value: Any, types: tuple, where: str, what: str) -> Any:
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool) and int in types):
        raise ScenarioError(f"{where} must be {what}, not {_type_name(value)}")
    return value


def _condition_value(v: Any) -> bool:
    scalar = (str, int, float, bool)
    return isinstance(v, scalar) or (isinstance(v, list) and all(isinstance(x, scalar) for x in v))


def _resolve(value: Any, base: Path | None, where: str) -> Any:
    if isinstance(value, str) and base is not None:
        return _read_json(base / value, where)
    return value


def request_from_dict(d: Any, where: str = "request") -> Request:
    if not isinstance(d, dict):
        raise ScenarioError(f"{where} must be an object")
    unknown = set(d) - _REQUEST_FIELDS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)} (allowed: {sorted(_REQUEST_FIELDS)})")
    for req_field in ("principal", "action"):
        if not isinstance(d.get(req_field), str) or not d[req_field]:
            raise ScenarioError(f"{where}.{req_field} is required (a string)")
    ec = d.get("encryption_context") or {}
    if not isinstance(ec, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in ec.items()):
        raise ScenarioError(f"{where}.encryption_context must be an object of strings")
    ctx = d.get("context") or {}
    if not isinstance(ctx, dict) or not all(_condition_value(v) for v in ctx.values()):
        raise ScenarioError(f"{where}.context must be an object of condition key -> string, number, boolean or a "
                            "list of them")
    for opt in ("key_arn", "caller_account", "target_grant_id"):
        if d.get(opt) is not None and not isinstance(d[opt], str):
            raise ScenarioError(f"{where}.{opt} must be a string or null")
    tokens = d.get("grant_tokens")
    if tokens is not None and not (isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)):
        raise ScenarioError(f"{where}.grant_tokens must be a list of strings")
    gr = d.get("grant_request")
    if gr is not None and not isinstance(gr, dict):
        raise ScenarioError(f"{where}.grant_request must be a CreateGrant body object")
    for opt in ("principal_role_arn", "request_alias"):
        if d.get(opt) is not None and not isinstance(d[opt], str):
            raise ScenarioError(f"{where}.{opt} must be a string or null")
    if d.get("request_alias") is not None and not d["request_alias"].startswith("alias/"):
        raise ScenarioError(f"{where}.request_alias must be an alias name (alias/NAME)")
    if d.get("service_linked") is not None and not isinstance(d["service_linked"], bool):
        raise ScenarioError(f"{where}.service_linked must be true or false")
    if d.get("key_manager") is not None and d["key_manager"] not in ("CUSTOMER", "AWS"):
        raise ScenarioError(f"{where}.key_manager must be \"CUSTOMER\" or \"AWS\"")
    aliases = d.get("key_aliases")
    if aliases is not None and not (isinstance(aliases, list) and all(isinstance(a, str) for a in aliases)):
        raise ScenarioError(f"{where}.key_aliases must be a list of alias names")
    for opt in ("key_tags", "request_tags"):
        tags = d.get(opt)
        if tags is not None and not (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())):
            raise ScenarioError(f"{where}.{opt} must be an object of tag key -> string value")
    params = d.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise ScenarioError(f"{where}.parameters must be an object of KMS request parameters")
    return Request(principal=d["principal"], action=d["action"], key_arn=d.get("key_arn"),
                   caller_account=d.get("caller_account"), encryption_context=dict(ec), grant_request=gr,
                   target_grant_id=d.get("target_grant_id"), context=dict(ctx),
                   grant_tokens=list(d.get("grant_tokens") or []), parameters=params,
                   key_aliases=list(aliases) if aliases is not None else None,
                   key_tags=dict(d["key_tags"]) if d.get("key_tags") is not None else None,
                   request_alias=d.get("request_alias"),
                   request_tags=dict(d["request_tags"]) if d.get("request_tags") is not None else None,
                   principal_role_arn=d.get("principal_role_arn"), service_linked=bool(d.get("service_linked")),
                   key_manager=d.get("key_manager"))


def from_dict(d: Any, source: str = "<scenario>", base: Path | None = None) -> Scenario:
    if not isinstance(d, dict):
        raise ScenarioError(f"{source}: a scenario must be a JSON object")
    unknown = set(d) - _SCENARIO_FIELDS
    if unknown:
        raise ScenarioError(f"{source}: unknown field(s) {sorted(unknown)} (allowed: {sorted(_SCENARIO_FIELDS)})")
    if "request" not in d:
        raise ScenarioError(f"{source}: 'request' is required")
    for opt in ("name", "description"):
        if d.get(opt) is not None:
            _want(d[opt], (str,), f"{source}: {opt}", "a string")
    if d.get("key_policy") is not None:
        _want(d["key_policy"], (dict, str), f"{source}: key_policy", "a policy object or a file path")
    expected = d.get("expected")
    if expected is not None:
        if not isinstance(expected, str) or expected.upper() not in ("ALLOW", "DENY"):
            raise ScenarioError(f"{source}: expected must be \"ALLOW\" or \"DENY\"")
        expected = expected.upper()
    iam = d.get("iam_policies") or []
    grants = _resolve(d.get("grants") or [], base, f"{source}.grants")
    if isinstance(grants, dict) and "Grants" in grants:
        grants = grants["Grants"]
    if not isinstance(iam, list) or not isinstance(grants, list):
        raise ScenarioError(f"{source}: iam_policies and grants must be lists")
    for i, p in enumerate(iam):
        _want(p, (dict, str), f"{source}: iam_policies[{i}]", "a policy object or a file path")
    for i, g in enumerate(grants):
        _want(g, (dict,), f"{source}: grants[{i}]", "a grant object (as ListGrants returns it)")
        for name in ("GrantId", "GranteePrincipal", "RetiringPrincipal", "KeyId", "Name", "IssuingAccount"):
            if g.get(name) is not None:
                _want(g[name], (str,), f"{source}: grants[{i}].{name}", "a string")
        ops = g.get("Operations")
        if ops is not None and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
            raise ScenarioError(f"{source}: grants[{i}].Operations must be a list of operation names")
        cons = g.get("Constraints")
        if cons is not None:
            _want(cons, (dict,), f"{source}: grants[{i}].Constraints", "an object")
            for cname, pairs in cons.items():
                if not isinstance(pairs, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in pairs.items()):
                    raise ScenarioError(f"{source}: grants[{i}].Constraints.{cname} must be an object of strings")
    layers = _layers(d, base, source)
    return Scenario(
        layers=layers,
        name=str(d.get("name") or source), source=source,
        key_policy=_resolve(d.get("key_policy"), base, f"{source}.key_policy"),
        request=request_from_dict(d["request"], f"{source}.request"),
        iam_policies=[_resolve(p, base, f"{source}.iam_policies[{i}]") for i, p in enumerate(iam)],
        grants=grants, expected=expected)


def _layers(d: dict, base: Path | None, source: str) -> Layers | None:
    """The organization, boundary and session policies of a scenario (policies may be file paths)."""
    def policy(value: Any, where: str) -> Any:
        value = _resolve(value, base, where)
        if not isinstance(value, dict):
            raise ScenarioError(f"{where} must be a policy object or a file path")
        return value

    org = None
    if d.get("organization") is not None or d.get("scps") or d.get("rcps"):
        if d.get("organization") is None:
            raise ScenarioError(f"{source}: scps and rcps need an 'organization' to attach them to")
        attached = {}
        for kind in ("scps", "rcps"):
            items = d.get(kind)
            if items is not None and not isinstance(items, list):
                raise ScenarioError(f"{source}: {kind} must be a list of {{target, PolicyName, PolicyDocument}}")
            attached[kind] = [{**a, "PolicyDocument": policy(a.get("PolicyDocument"), f"{source}.{kind}[{i}].PolicyDocument")}
                              if isinstance(a, dict) else a for i, a in enumerate(items or [])]
        try:
            org = Organization.from_dict(_resolve(d["organization"], base, f"{source}.organization"),
                                         attached["scps"], attached["rcps"],
                                         where=f"{source}: organization")
        except OrganizationError as exc:
            raise ScenarioError(str(exc) if str(exc).startswith(source) else f"{source}: {exc}") from None
    boundary = None
    if d.get("permissions_boundary") is not None:
        boundary = policy(d["permissions_boundary"], f"{source}.permissions_boundary")
    sessions = d.get("session_policy")
    if sessions is not None:
        items = sessions if isinstance(sessions, list) else [sessions]
        sessions = [policy(p, f"{source}.session_policy[{i}]") for i, p in enumerate(items)]
    try:
        return make_layers(org, boundary, sessions)
    except PolicyError as exc:
        raise ScenarioError(f"{source}: permissions_boundary / session_policy: {exc}") from None


LAYER_FIELDS = ("organization", "scps", "rcps", "permissions_boundary", "session_policy")


def load_layers(path: str | Path) -> Layers | None:
    """A layers file: the scenario's layer fields alone ({"organization", "scps", "rcps",
    "permissions_boundary", "session_policy"}; `policy pull` writes one), for whatif/matrix/lint --layers."""
    p = Path(path)
    data = _read_json(p, "layers")
    if not isinstance(data, dict):
        raise ScenarioError(f"layers: {p}: must be an object with {', '.join(LAYER_FIELDS)}")
    unknown = set(data) - set(LAYER_FIELDS)
    if unknown:
        raise ScenarioError(f"layers: {p}: unknown field(s) {sorted(unknown)} (allowed: {', '.join(LAYER_FIELDS)})")
    return _layers(data, p.parent, str(p))


def load(path: str | Path) -> list[Scenario]:
    """Every scenario in one file (object or list)."""
    p = Path(path)
    data = _read_json(p, "scenario")
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        src = f"{p}" if not isinstance(data, list) else f"{p}[{i}]"
        out.append(from_dict(item, src, p.parent))
    return out


def discover(paths: list[str | Path]) -> list[Path]:
    """Files named directly, plus every *.scenario.json under each folder (sorted). The walk is bounded: it
    never follows symbolic links to folders, skips hidden folders (.git, .venv, ...), node_modules and
    __pycache__, and stops with a ScenarioError past MAX_WALK_DIRS folders or MAX_WALK_FILES files (so
    `policy test /` says to name a smaller folder instead of walking the whole filesystem)."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(_walk(p))
        elif p.exists():
            files.append(p)
        else:
            raise ScenarioError(f"{p}: no such file or folder")
    return files


def _walk(top: Path) -> list[Path]:
    found: list[Path] = []
    dirs = 0
    for folder, subdirs, names in os.walk(top, followlinks=False, onerror=None):
        dirs += 1
        if dirs > MAX_WALK_DIRS:
            raise ScenarioError(f"{top}: more than {MAX_WALK_DIRS} folders below it; name the folder that holds "
                                "your *.scenario.json files (e.g. policy test samples/)")
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d not in _SKIP_DIRS)
        found.extend(Path(folder) / n for n in sorted(names) if n.endswith(SUFFIX))
        if len(found) > MAX_WALK_FILES:
            raise ScenarioError(f"{top}: more than {MAX_WALK_FILES} scenario files below it; name a smaller folder")
    return sorted(found)


def run(scenario: Scenario | dict) -> Decision:
    """Evaluate one scenario."""
    if isinstance(scenario, dict):
        scenario = from_dict(scenario)
    return evaluate(scenario.key_policy, scenario.iam_policies, scenario.grants, scenario.request,
                    layers=scenario.layers)
