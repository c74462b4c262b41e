"""Where the what-if commands get their policies, grants and requests: files, or a live backend.

File work never touches a key store. With --key-id the command reads the key policy (GetKeyPolicy), the
grants (ListGrants, when the backend has grants) and the caller's identity policies (local HSM only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmstui.authz import PolicyError, Request, compile_policy
from kmstui.authz.grants import GrantSet
from kmstui.authz.policy import load_document, too_deep
from kmstui.authz.principals import parse_caller
from kmstui.backends.base import ALIASES, GRANTS, IAM_POLICIES, TAGS
from kmstui.commands.values import MAX_INPUT_BYTES, read_bounded
from kmstui.errors import UsageError

DEFAULT_REGION = "us-east-1"
PLACEHOLDER_KEY_ID = "00000000-0000-0000-0000-000000000000"
MAX_JSON_DEPTH = 40


def read_json(path: str, flag: str) -> Any:
    try:  # bounded: `--key-policy /dev/zero` must not grow until killed
        text = read_bounded(None, path, f"{flag} {path}", MAX_INPUT_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{flag} {path}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} {path}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        data = None
    if data is None and text.strip() != "null" or too_deep(data, MAX_JSON_DEPTH):
        raise UsageError(f"{flag} {path}: the JSON nests more than {MAX_JSON_DEPTH} levels deep; no policy, grant "
                         "list or request needs that")
    return data


def read_policy(path: str, flag: str, kind: str = "key"):
    """A compiled policy from a file; UsageError naming the file, statement and element when AWS would
    reject it. Accepts a bare document or GetKeyPolicy output ({"Policy": "<json text>"})."""
    doc = read_json(path, flag)
    if isinstance(doc, dict) and isinstance(doc.get("Policy"), str):
        doc = doc["Policy"]
    if isinstance(doc, dict) and "PolicyDocument" in doc and "Statement" not in doc:
        doc = doc["PolicyDocument"]
    try:
        return compile_policy(doc, kind, Path(path).name if kind == "iam" else "key-policy")
    except PolicyError as exc:
        raise UsageError(f"{flag} {path}: {exc}") from None


def read_grants(path: str | None) -> list[dict]:
    if not path:
        return []
    data = read_json(path, "--grants")
    if isinstance(data, dict) and isinstance(data.get("Grants"), list):
        data = data["Grants"]
    if not isinstance(data, list) or not all(isinstance(g, dict) for g in data):
        raise UsageError("--grants must hold a list of grants or ListGrants output ({\"Grants\": [...]})")
    return data


def parse_conditions(items: list[str] | None) -> dict[str, Any]:
    """`--condition key=value`; a value starting with `[` is a JSON list (multivalued keys)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--condition '{item}' needs KEY=VALUE, e.g. --condition kms:ViaService=s3.us-east-1.amazonaws.com")
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                raise UsageError(f"--condition {key}: the value starts with '[' but is not a JSON list") from None
            if not isinstance(parsed, list):
                raise UsageError(f"--condition {key}: expected a JSON list")
            out[key.strip()] = [str(v) for v in parsed]
        else:
            out[key.strip()] = value
    return out


def placeholder_key_arn(policy, account: str | None = None) -> str:
    """A key ARN for file-only work: the account the policy delegates to, or the given one."""
    if account is None and policy is not None:
        accounts = sorted({a for s in policy.statements if s.principal and not s.not_principal
                           for a in s.principal.accounts})
        account = accounts[0] if len(accounts) == 1 else None
    return f"arn:aws:kms:{DEFAULT_REGION}:{account or '111122223333'}:key/{PLACEHOLDER_KEY_ID}"


@dataclass
class KeyInputs:
    """The key policy, grants and key ARN a command works on."""

    policy: Any
    key_arn: str
    grants: list[dict] = field(default_factory=list)
    backend: Any = None
    source: str = ""
    key: dict[str, Any] | None = None  # DescribeKey metadata (kms:KeySpec, kms:KeyUsage, kms:KeyOrigin, ...)
    aliases: list[str] | None = None  # kms:ResourceAliases
    tags: dict[str, str] | None = None  # aws:ResourceTag/*
    key_ref: str | None = None  # the key as the request names it (an alias fills kms:RequestAlias)

    def grant_set(self) -> GrantSet:
        return GrantSet(self.grants)


def from_backend(session, key_ref: str) -> KeyInputs:
    """Read a key's policy and grants from its backend (GetKeyPolicy, ListGrants)."""
    backend, key = session.key_ref(key_ref)
    meta = backend.describe_key(KeyId=key)["KeyMetadata"]
    key_arn = meta.get("Arn") or meta["KeyId"]
    text = backend.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"]
    try:
        policy = compile_policy(load_document(text), "key", "key-policy")
    except PolicyError as exc:
        raise UsageError(f"the key policy of {key_arn} does not parse: {exc}") from None
    grants: list[dict] = []
    if backend.supports(GRANTS):
        marker = None
        while True:
            kw = {"KeyId": meta["KeyId"]}
            if marker:
                kw["Marker"] = marker
            page = backend.list_grants(**kw)
            grants.extend(page.get("Grants", []))
            marker = page.get("NextMarker")
            if not page.get("Truncated") or not marker:
                break
    aliases = tags = None
    if backend.supports(ALIASES):
        aliases = [a["AliasName"] for a in _pages(backend.list_aliases, "Aliases", KeyId=meta["KeyId"])]
    if backend.supports(TAGS):
        tags = {t["TagKey"]: t["TagValue"] for t in _pages(backend.list_resource_tags, "Tags", KeyId=meta["KeyId"])}
    return KeyInputs(policy, key_arn, grants, backend, source=key_arn, key=meta, aliases=aliases, tags=tags,
                     key_ref=key)


def _pages(call, field_name: str, **kw) -> list[dict]:
    out: list[dict] = []
    marker = None
    for _ in range(10_000):  # bounded: a backend that never stops paging is refused, not followed forever
        page = call(**kw, **({"Marker": marker} if marker else {}))
        out.extend(page.get(field_name, []))
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            return out
    raise UsageError(f"the backend kept paging {field_name}; giving up")


def identity_policies(backend, principal: str) -> list:
    """The caller's identity policies kept by the backend (`iam put-policy` on a local HSM): those of the
    principal itself and, for a role session, those of its role. Backends without them: none."""
    if backend is None or not backend.supports(IAM_POLICIES):
        return []
    caller = parse_caller(principal)
    names = [principal] + ([caller.role_arn] if caller.kind == "session" and caller.role_arn else [])
    out = []
    for arn in names:
        for item in backend.list_identity_policies(PrincipalArn=arn).get("Policies", []):
            name = item["PolicyName"]
            text = backend.get_identity_policy(PrincipalArn=arn, PolicyName=name)["PolicyDocument"]
            try:
                out.append(compile_policy(load_document(text), "iam", name))
            except PolicyError as exc:
                raise UsageError(f"identity policy '{name}' of {arn} does not parse: {exc}") from None
    return out


def parse_parameters(args) -> dict[str, Any]:
    """The request's API parameters: --parameters JSON (text or file) plus the algorithm flags."""
    params: dict[str, Any] = {}
    raw = getattr(args, "parameters", None)
    if raw:
        data = _json_arg(raw, "--parameters")
        if not isinstance(data, dict):
            raise UsageError("--parameters must be a JSON object of KMS request parameters, e.g. "
                             "{\"EncryptionAlgorithm\": \"RSAES_OAEP_SHA_256\"}")
        params.update(data)
    for flag, name in (("encryption_algorithm", "EncryptionAlgorithm"), ("signing_algorithm", "SigningAlgorithm"),
                       ("mac_algorithm", "MacAlgorithm")):
        value = getattr(args, flag, None)
        if value:
            params[name] = value
    return params


def _json_arg(raw: str, flag: str) -> Any:
    if raw.lstrip().startswith(("{", "[")):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{flag}: invalid JSON: {exc.msg} at column {exc.colno}") from None
        except RecursionError:
            raise UsageError(f"{flag}: the JSON is nested too deeply") from None
    return read_json(raw, flag)


def build_request(args, key_arn: str, ki: "KeyInputs | None" = None) -> Request:
    """The request as AWS would see it: the flags, plus what the key inputs know about the key (its
    metadata, aliases and tags) and the alias the request names (--key-id alias/x fills kms:RequestAlias)."""
    from kmstui.commands.args import parse_context
    from kmstui.authz.requestkeys import KEY_PARAM

    if not args.principal or not args.action:
        raise UsageError("give --principal ARN and --action kms:OPERATION (or --scenario FILE)")
    grant_request = None
    if getattr(args, "grant_request", None):
        raw = args.grant_request
        if raw.lstrip().startswith("{"):
            try:
                grant_request = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--grant-request: invalid JSON: {exc.msg} at column {exc.colno}") from None
        else:
            grant_request = read_json(raw, "--grant-request")
        if not isinstance(grant_request, dict):
            raise UsageError("--grant-request must be a CreateGrant body object")
    params = parse_parameters(args)
    if ki is not None and ki.key_ref is not None:
        from kmstui.authz.engine import _action

        op = _action(args.action)[1]
        params.setdefault(KEY_PARAM.get(op, "KeyId"), ki.key_ref)
    return Request(principal=args.principal, action=args.action, key_arn=key_arn,
                   caller_account=getattr(args, "caller_account", None),
                   encryption_context=parse_context(args.context), grant_request=grant_request,
                   target_grant_id=getattr(args, "target_grant_id", None),
                   context=parse_conditions(args.condition), grant_tokens=list(getattr(args, "grant_token", None) or []),
                   parameters=params or None, key=ki.key if ki else None, key_aliases=ki.aliases if ki else None,
                   key_tags=ki.tags if ki else None)


def stored_layers(backend, principal: str | None):
    """The layers a backend keeps for the caller (the local HSM's organization with its SCPs and RCPs, and
    the caller's permissions boundary): what local enforcement applies, so `whatif --key-id` answers as the
    call would. None when the backend keeps none."""
    if backend is None or not principal:
        return None
    from kmstui.authz.org import make_layers

    org_of, boundary_of = getattr(backend, "organization_state", None), getattr(backend, "boundary_for", None)
    state = org_of() if org_of is not None else None
    boundary = boundary_of(principal) if boundary_of is not None else None
    try:
        return make_layers(state[1] if state else None, boundary)
    except PolicyError as exc:
        raise UsageError(f"the stored permissions boundary of {principal} does not parse: {exc}") from None


def read_layers(path: str | None):
    """--layers FILE: kmstui.authz.org.Layers (None without the flag); UsageError naming what is wrong."""
    if not path:
        return None
    from kmstui.authz.scenarios import ScenarioError, load_layers

    try:
        return load_layers(Path(path).expanduser())
    except ScenarioError as exc:
        raise UsageError(f"--layers {exc}") from None
