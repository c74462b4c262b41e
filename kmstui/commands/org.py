"""`org ...`: the AWS organization the local HSM's account belongs to, with its SCPs and RCPs, shaped like the
AWS CLI's `aws organizations` commands (create-organization, create-organizational-unit, create-policy,
attach-policy, ...). Local calls are then decided with them, by the same engine `whatif` uses.

The local HSM keeps them (kmstui/backends/local/organization.py); other backends refuse with a clear
'not supported': an AWS account's organization is AWS's to decide.
"""

from __future__ import annotations

import json
from typing import Any

from kmstui.commands.registry import Arg, Result, TableHint
from kmstui.commands.values import DOCUMENT, TEXT
from kmstui.errors import UnsupportedOperationException, UsageError

SCP, RCP = "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"
POLICIES_TABLE = TableHint(rows="Policies", columns=[("Id", "Id"), ("Name", "Name"), ("Type", "Type"),
                                                     ("AwsManaged", "AwsManaged"), ("Description", "Description")])
OUS_TABLE = TableHint(rows="OrganizationalUnits", columns=[("Id", "Id"), ("Name", "Name"), ("Arn", "Arn")])
ROOTS_TABLE = TableHint(rows="Roots", columns=[("Id", "Id"), ("Name", "Name"), ("Arn", "Arn")])
TARGETS_TABLE = TableHint(rows="Targets", columns=[("TargetId", "TargetId"), ("Name", "Name"), ("Type", "Type")])


def _org(session):
    backend = session.backend()
    if not hasattr(backend, "organization_state"):
        raise UnsupportedOperationException(f"the organization model is kept by the local HSM, not by {backend.kind} "
                                            "backends (an AWS account's organization is managed in AWS Organizations)")
    return backend


def _target(value: str) -> dict[str, str]:
    """The AWS CLI's shorthand `Id=111122223333,Type=ACCOUNT` (or its JSON form)."""
    if value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--target: invalid JSON: {exc.msg}") from None
        if isinstance(parsed, dict):
            return {str(k): str(v) for k, v in parsed.items()}
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if not sep or key.strip() not in ("Id", "Type"):
            raise UsageError("--target takes Id=ACCOUNT_ID,Type=ACCOUNT")
        out[key.strip()] = val.strip()
    return out


def cmd_create_organization(session, args) -> Result:
    kw: dict[str, Any] = {"FeatureSet": args.feature_set}
    if args.management_account:
        kw["ManagementAccountId"] = args.management_account
    return Result(data=_org(session).create_organization(**kw))


def cmd_describe_organization(session, args) -> Result:
    return Result(data=_org(session).describe_organization())


def cmd_delete_organization(session, args) -> Result:
    _org(session).delete_organization()
    return Result(message="deleted the organization")


def cmd_list_roots(session, args) -> Result:
    return Result(data=_org(session).list_roots(), table=ROOTS_TABLE)


def cmd_invite(session, args) -> Result:
    return Result(data=_org(session).invite_account(Target=_target(args.target)))


def cmd_remove_account(session, args) -> Result:
    _org(session).remove_account(AccountId=args.account_id)
    return Result(message=f"removed account {args.account_id} from the organization")


def cmd_create_ou(session, args) -> Result:
    return Result(data=_org(session).create_organizational_unit(ParentId=args.parent_id, Name=args.name))


def cmd_delete_ou(session, args) -> Result:
    _org(session).delete_organizational_unit(OrganizationalUnitId=args.organizational_unit_id)
    return Result(message=f"deleted OU {args.organizational_unit_id}")


def cmd_list_ous(session, args) -> Result:
    return Result(data=_org(session).list_organizational_units_for_parent(ParentId=args.parent_id), table=OUS_TABLE)


def cmd_move_account(session, args) -> Result:
    _org(session).move_account(AccountId=args.account_id, SourceParentId=args.source_parent_id,
                               DestinationParentId=args.destination_parent_id)
    return Result(message=f"moved account {args.account_id} to {args.destination_parent_id}")


def cmd_create_policy(session, args) -> Result:
    return Result(data=_org(session).create_org_policy(Content=args.content, Description=args.description or "",
                                                       Name=args.name, Type=args.type))


def cmd_describe_policy(session, args) -> Result:
    return Result(data=_org(session).describe_org_policy(PolicyId=args.policy_id))


def cmd_list_policies(session, args) -> Result:
    return Result(data=_org(session).list_org_policies(Filter=args.filter), table=POLICIES_TABLE)


def cmd_list_targets(session, args) -> Result:
    return Result(data=_org(session).list_targets_for_policy(PolicyId=args.policy_id), table=TARGETS_TABLE)


def cmd_attach_policy(session, args) -> Result:
    _org(session).attach_org_policy(PolicyId=args.policy_id, TargetId=args.target_id)
    return Result(message=f"attached {args.policy_id} to {args.target_id}")


def cmd_detach_policy(session, args) -> Result:
    _org(session).detach_org_policy(PolicyId=args.policy_id, TargetId=args.target_id)
    return Result(message=f"detached {args.policy_id} from {args.target_id}")


def cmd_delete_policy(session, args) -> Result:
    _org(session).delete_org_policy(PolicyId=args.policy_id)
    return Result(message=f"deleted policy {args.policy_id}")


def register(registry) -> None:
    registry.describe_group("org", "the organization of the local HSM's account: OUs, SCPs and RCPs, enforced on "
                                   "local calls (shaped like 'aws organizations')")
    c = registry.command
    policy_id = Arg("--policy-id", "the policy's id (p-...; FullAWSAccess is p-FullAWSAccess)", required=True,
                    metavar="ID")
    target_id = Arg("--target-id", "a root (r-...), OU (ou-...) or account (12 digits) id", required=True, metavar="ID")
    parent_id = Arg("--parent-id", "the root (r-..., see 'org list-roots') or an OU (ou-...)", required=True,
                    metavar="ID")
    account_id = Arg("--account-id", "a 12-digit account id", required=True, metavar="ID")
    c("org create-organization", "Create the organization (the HSM's account is its member or management account)", [
        Arg("--feature-set", "ALL (SCPs and RCPs need all features)", choices=["ALL"], default="ALL"),
        Arg("--management-account", "kmstui's addition: another account as the management account; the HSM's "
            "account is then a member and SCPs apply to its calls (default: the HSM's account, as AWS does "
            "for the caller, and SCPs never apply to a management account)", metavar="ID"),
    ], mutates=True, description=(
        "Shaped like AWS Organizations' CreateOrganization. The SCP and RCP policy types are enabled at once, "
        "and AWS's FullAWSAccess SCP is attached to the root, every OU and every account until detached."),
      examples=["org create-organization --management-account 999999999999"])(cmd_create_organization)
    c("org describe-organization", "Show the organization", [])(cmd_describe_organization)
    c("org delete-organization", "Delete the organization (it must have no member accounts left)", [],
      mutates=True)(cmd_delete_organization)
    c("org list-roots", "Show the organization's root (its id is a target and a parent)", [])(cmd_list_roots)
    c("org invite-account-to-organization", "Add an account to the organization (accepted at once)", [
        Arg("--target", "Id=ACCOUNT_ID,Type=ACCOUNT", required=True, metavar="Id=ID,Type=ACCOUNT"),
    ], mutates=True)(cmd_invite)
    c("org remove-account-from-organization", "Remove a member account", [account_id],
      mutates=True)(cmd_remove_account)
    c("org create-organizational-unit", "Create an OU under the root or another OU", [
        parent_id, Arg("--name", "the OU's name (unique in the organization here)", required=True, metavar="NAME"),
    ], mutates=True, examples=["org create-organizational-unit --parent-id r-abcd --name Finance"])(cmd_create_ou)
    c("org delete-organizational-unit", "Delete an empty OU", [
        Arg("--organizational-unit-id", "the OU (ou-...)", required=True, metavar="ID"),
    ], mutates=True)(cmd_delete_ou)
    c("org list-organizational-units-for-parent", "List the OUs directly under a root or OU", [parent_id])(cmd_list_ous)
    c("org move-account", "Move an account to another OU or the root", [
        account_id, Arg("--source-parent-id", "where the account is now", required=True, metavar="ID"),
        Arg("--destination-parent-id", "where it goes", required=True, metavar="ID"),
    ], mutates=True)(cmd_move_account)
    c("org create-policy", "Create an SCP or RCP (attach it with 'org attach-policy')", [
        Arg("--name", "the policy's name", required=True, metavar="NAME"),
        Arg("--type", "the policy type", required=True, choices=[SCP, RCP]),
        Arg("--content", "the policy: file://PATH, a JSON text, or a PATH (at most 5,120 characters)", required=True,
            complete="file", metavar="DOC", kind=DOCUMENT),
        Arg("--description", "a description", metavar="TEXT", kind=TEXT),
    ], mutates=True, examples=["org create-policy --name DenyDecrypt --type SERVICE_CONTROL_POLICY "
                               "--content file://deny-decrypt.json"])(cmd_create_policy)
    c("org describe-policy", "Show a policy and its content", [policy_id])(cmd_describe_policy)
    c("org list-policies", "List the policies of one type", [
        Arg("--filter", "the policy type", required=True, choices=[SCP, RCP]),
    ])(cmd_list_policies)
    c("org list-targets-for-policy", "List where a policy is attached", [policy_id])(cmd_list_targets)
    c("org attach-policy", "Attach a policy to the root, an OU or an account", [policy_id, target_id],
      mutates=True, examples=["org attach-policy --policy-id p-abcd1234 --target-id ou-abcd-12345678"])(cmd_attach_policy)
    c("org detach-policy", "Detach a policy (a target keeps at least one SCP)", [policy_id, target_id],
      mutates=True)(cmd_detach_policy)
    c("org delete-policy", "Delete a policy that is attached nowhere", [policy_id], mutates=True)(cmd_delete_policy)
