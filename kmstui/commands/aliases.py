"""`alias ...`: friendly names (`alias/NAME`) for keys. The backend enforces KMS's alias rules (prefix,
characters, the reserved `alias/aws/`); these commands only resolve profiles and shape the output."""

from __future__ import annotations

from kmstui.commands.args import KEY_ID, after_change, optional, resolved_key
from kmstui.commands.keys import all_pages
from kmstui.commands.paging import PAGING_ARGS, paginate
from kmstui.commands.registry import Arg, Result, TableHint
from kmstui.errors import UsageError

ALIAS = Arg("alias_name", "alias name, alias/NAME (prefix 'PROFILE:' for another profile's backend; or give it "
            "as --alias-name alias/NAME)", complete="alias", metavar="alias/NAME", aliases=("--alias-name",))
TABLE = TableHint(rows="Aliases", columns=[("Alias", "AliasName"), ("KeyId", "TargetKeyId"),
                                           ("Created", "CreationDate"), ("Updated", "LastUpdatedDate")])


def _alias_and_key(session, args):
    """The backend both references point at (they must agree), the alias name and the key reference."""
    alias_profile, alias = session.split_key_ref(args.alias_name)
    key_profile, key = session.split_key_ref(args.key_id)
    if alias_profile and key_profile and alias_profile != key_profile:
        raise UsageError(f"the alias ({alias_profile}) and the key ({key_profile}) are in different profiles; "
                         "an alias can only name a key in its own backend")
    # The target goes to the backend as given: an alias naming an alias is refused there, as KMS refuses it.
    return session.backend(alias_profile or key_profile), alias, key


def _one(backend, alias: str) -> dict:
    for item in all_pages(backend.list_aliases, "Aliases")["Aliases"]:
        if item.get("AliasName") == alias:
            return item
    return {"AliasName": alias}


def cmd_create(session, args) -> Result:
    backend, alias, key = _alias_and_key(session, args)
    backend.create_alias(AliasName=alias, TargetKeyId=key)
    return after_change(session, lambda: Result(data={"Aliases": [_one(backend, alias)]}, table=TABLE),
                        f"{alias} -> {args.key_id}")


def cmd_update(session, args) -> Result:
    backend, alias, key = _alias_and_key(session, args)
    backend.update_alias(AliasName=alias, TargetKeyId=key)
    return after_change(session, lambda: Result(data={"Aliases": [_one(backend, alias)]}, table=TABLE),
                        f"{alias} -> {args.key_id}")


def cmd_delete(session, args) -> Result:
    profile, alias = session.split_key_ref(args.alias_name)
    session.backend(profile).delete_alias(AliasName=alias)
    return Result(message=f"deleted {alias} (the key itself is unchanged)")


def cmd_list(session, args) -> Result:
    if args.key_id:
        backend, key = resolved_key(session, args.key_id)  # ListAliases filters on a key id or ARN only
        data = paginate(backend.list_aliases, "Aliases", args, KeyId=key)
    else:
        data = paginate(session.backend().list_aliases, "Aliases", args)
    if not args.all:
        data["Aliases"] = [a for a in data["Aliases"] if not a.get("AliasName", "").startswith("alias/aws/")]
    return Result(data=data, table=TABLE)


def register(registry) -> None:
    registry.describe_group("alias", "friendly names (alias/NAME) for keys")
    target = Arg("key_id", "the key it names: a key id or key ARN (as in KMS, not an alias); prefix 'PROFILE:' for another profile's backend (or give it as --target-key-id KEY)", complete="key",
                 metavar="KEY", aliases=("--target-key-id",))
    registry.command("alias create", "Create an alias for a key", [ALIAS, target], mutates=True,
                     examples=["alias create alias/app 1234abcd-12ab-34cd-56ef-1234567890ab"])(cmd_create)
    registry.command("alias update", "Point an existing alias at another key", [ALIAS, target],
                     mutates=True)(cmd_update)
    registry.command("alias delete", "Delete an alias (the key stays)", [ALIAS], mutates=True,
                     confirm="alias_name")(cmd_delete)
    registry.command("alias list", "List aliases, optionally only those of one key", [
        optional(KEY_ID), Arg("--all", "include AWS-managed aliases (alias/aws/...)", flag=True), *PAGING_ARGS,
    ])(cmd_list)
