"""`grant create|list|list-retirable|retire|revoke`: KMS grants through the backend interface.

The commands only shape requests and responses (AWS CLI field names, the ListGrants shape); whether a
grant lets a caller do something is decided by the backend (the local HSM asks kmstui.authz, AWS asks
itself), so the plugin never second-guesses a decision. The command specs are in specs.py; this module
loads when a grant command runs.
"""

from __future__ import annotations

from typing import Any

from kmstui.backends.base import GRANTS
from kmstui.commands.args import is_alias
from kmstui.commands.paging import paginate
from kmstui.commands.registry import Result, TableHint
from kmstui.errors import AccessDeniedException, UsageError
from kmstui_grants.parsing import parse_constraints, parse_name, parse_operations, parse_principal

GRANTS_TABLE = TableHint(rows="Grants", columns=[
    ("GrantId", "GrantId"), ("Name", "Name"), ("Grantee", "GranteePrincipal"), ("Operations", "Operations"),
    ("Constraints", "Constraints"), ("RetiringPrincipal", "RetiringPrincipal"), ("Created", "CreationDate"),
])

def grant_key(session, ref: str) -> tuple[Any, str]:
    """Backend and key id for a grant operation. KMS grant APIs take a key id or ARN, not an alias, so an
    alias is looked up first; a backend without grants is refused before any other call."""
    backend, key = session.key_ref(ref)
    backend.require(GRANTS)
    if is_alias(key):
        key = _alias_target(backend, key)
    return backend, key


def _alias_target(backend, alias: str) -> str:
    """The key id an alias names. DescribeKey first; a caller whose only permission is a grant without
    DescribeKey (the usual grantee) may still list aliases; when neither is allowed, the error says to give
    the key id or ARN, which is what KMS's grant APIs take anyway."""
    try:
        return backend.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    except AccessDeniedException as denied:
        name = alias.split(":alias/", 1)[1] if alias.startswith("arn:") else alias.split("alias/", 1)[1]
        try:
            aliases = _all_pages(backend.list_aliases, key="Aliases")
        except AccessDeniedException:
            raise AccessDeniedException(
                f"cannot look up {alias}: the caller may neither DescribeKey the key nor ListAliases; give the "
                f"key id or key ARN (KMS grant operations take no alias). {denied}") from None
        for item in aliases:
            if item.get("AliasName") == f"alias/{name}" and item.get("TargetKeyId"):
                return item["TargetKeyId"]
        raise


def _all_pages(call, key: str = "Grants", **kw: Any) -> list[dict]:
    """Every item of a paginated answer (ListGrants, ListRetirableGrants, ListAliases)."""
    grants: list[dict] = []
    while True:
        page = call(**kw)
        grants.extend(page.get(key, []))
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            return grants
        kw["Marker"] = marker


def cmd_create(session, args) -> Result:
    operations = parse_operations(args.operations)
    constraints = parse_constraints(args.constraint)
    grantee = parse_principal(args.grantee_principal, "--grantee-principal")
    retiring = parse_principal(args.retiring_principal, "--retiring-principal")
    name = parse_name(args.name)
    backend, key = grant_key(session, args.key_id)
    params: dict[str, Any] = {"KeyId": key, "GranteePrincipal": grantee, "Operations": operations}
    if retiring:
        params["RetiringPrincipal"] = retiring
    if constraints:
        params["Constraints"] = constraints
    if name:
        params["Name"] = name
    if args.grant_token:
        params["GrantTokens"] = list(args.grant_token)
    response = backend.create_grant(**params)
    data = {"GrantToken": response["GrantToken"], "GrantId": response["GrantId"]}
    return Result(data=data, text=f"{data['GrantId']}\t{data['GrantToken']}")


def cmd_list(session, args) -> Result:
    grantee = parse_principal(args.grantee_principal, "--grantee-principal")
    backend, key = grant_key(session, args.key_id)
    kw: dict[str, Any] = {"KeyId": key}
    if args.grant_id:
        kw["GrantId"] = args.grant_id
    if grantee:
        kw["GranteePrincipal"] = grantee
    return Result(data=paginate(backend.list_grants, "Grants", args, **kw), table=GRANTS_TABLE)


def cmd_list_retirable(session, args) -> Result:
    retiring = parse_principal(args.retiring_principal, "--retiring-principal")
    backend = session.backend()
    backend.require(GRANTS)
    return Result(data=paginate(backend.list_retirable_grants, "Grants", args, RetiringPrincipal=retiring),
                  table=GRANTS_TABLE)


def cmd_retire(session, args) -> Result:
    if args.grant_token and (args.key_id or args.grant_id):
        raise UsageError("give either --grant-token, or --key-id and --grant-id, not both")
    if args.grant_token:
        backend = session.backend()
        backend.require(GRANTS)
        backend.retire_grant(GrantToken=args.grant_token)
        return Result(message="retired the grant named by the token")
    if not (args.key_id and args.grant_id):
        raise UsageError("give --grant-token TOKEN, or --key-id KEY and --grant-id GRANT_ID")
    backend, key = grant_key(session, args.key_id)
    backend.retire_grant(KeyId=key, GrantId=args.grant_id)
    return Result(message=f"retired grant {args.grant_id}")


def cmd_revoke(session, args) -> Result:
    backend, key = grant_key(session, args.key_id)
    backend.revoke_grant(KeyId=key, GrantId=args.grant_id)
    return Result(message=f"revoked grant {args.grant_id}")
