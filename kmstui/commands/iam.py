"""`iam put-policy|get-policy|list-policies|delete-policy`: identity (IAM) policies kept by a local HSM.

A real KMS decision also depends on the caller's IAM policies. The local HSM stores them per principal of
its account so it can answer exactly as AWS would for any `--as` principal; the documents are checked
with the same parser the authorization engine uses, so a policy AWS would reject is refused before it is
stored, with the statement and element named. Other backends refuse with a clear 'not supported'.
"""

from __future__ import annotations

import json
from typing import Any

from kmstui.backends.base import IAM_POLICIES
from kmstui.commands.args import FORCE, OUT, write_output
from kmstui.commands.registry import Arg, Result, TableHint
from kmstui.commands.values import DOCUMENT
from kmstui.errors import UsageError

PRINCIPAL = Arg("--principal", "IAM principal ARN the policy is attached to (user, role, ...)", required=True,
                complete="principal", metavar="ARN")
NAME = Arg("--name", "policy name (1-128 of letters, digits and +=,.@_-)", required=True, metavar="NAME",
           aliases=("--policy-name",))
LIST_TABLE = TableHint(rows="Policies", columns=[("Principal", "PrincipalArn"), ("PolicyName", "PolicyName")])


def check_identity_policy(text: str, where: str) -> str:
    """The policy text, after checking it parses as an IAM identity policy (UsageError naming the problem)."""
    from kmstui.authz import PolicyError, compile_policy

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    try:
        compile_policy(doc, "iam", where)
    except PolicyError as exc:
        raise UsageError(f"{where}: not a valid identity policy: {exc}") from None
    return text


def _backend(session):
    backend = session.backend()
    backend.require(IAM_POLICIES)
    return backend


def _principal_arn(arn: str) -> str:
    if not arn.startswith("arn:"):
        raise UsageError(f"--principal needs an IAM principal ARN (arn:aws:iam::ACCOUNT:role/NAME), not '{arn}'")
    return arn


def _attachable(arn: str) -> str:
    """An ARN an identity policy can be attached to: an IAM user or role. A policy stored for a group, an
    account root or a role session would never be read when deciding (group membership is not modelled,
    the root has no identity policies, a session takes its role's), so it is refused rather than ignored."""
    from kmstui.authz.principals import parse_caller

    kind = parse_caller(_principal_arn(arn)).kind
    if kind not in ("user", "role"):
        hint = {"session": "attach it to the session's role (arn:aws:iam::ACCOUNT:role/NAME)",
                "root": "the account root needs no identity policy"}.get(kind, "give an IAM user or role ARN")
        raise UsageError(f"--principal: identity policies attach to IAM users and roles, not '{arn}'; {hint}")
    return arn


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except (TypeError, ValueError):
        return str(text)


def cmd_put(session, args) -> Result:
    principal = _attachable(args.principal)
    text = check_identity_policy(args.file, "--file")  # the Arg's kind read PATH, file://PATH or inline JSON
    _backend(session).put_identity_policy(PrincipalArn=principal, PolicyName=args.name, PolicyDocument=text)
    return Result(message=f"stored identity policy '{args.name}' for {principal}")


def cmd_get(session, args) -> Result:
    principal = _principal_arn(args.principal)
    response = _backend(session).get_identity_policy(PrincipalArn=principal, PolicyName=args.name)
    data: dict[str, Any] = {"PrincipalArn": response.get("PrincipalArn", principal),
                            "PolicyName": response.get("PolicyName", args.name),
                            "PolicyDocument": response["PolicyDocument"]}
    if args.out:
        note = write_output(session, args.out, (_pretty(data["PolicyDocument"]) + "\n").encode("utf-8"), args.force)
        return Result(message=note)
    return Result(data=data, text=_pretty(data["PolicyDocument"]))


def cmd_list(session, args) -> Result:
    kw = {"PrincipalArn": _principal_arn(args.principal)} if args.principal else {}
    response = _backend(session).list_identity_policies(**kw)
    return Result(data={"Policies": list(response.get("Policies", []))}, table=LIST_TABLE)


def cmd_delete(session, args) -> Result:
    principal = _principal_arn(args.principal)
    _backend(session).delete_identity_policy(PrincipalArn=principal, PolicyName=args.name)
    return Result(message=f"deleted identity policy '{args.name}' of {principal}")


# -- permissions boundaries ------------------------------------------------------------------------------
def _boundary_target(session, args) -> str:
    """The principal ARN from --user-name / --role-name (AWS's commands) or --principal (`iam put-boundary`)."""
    backend = _backend(session)
    if getattr(args, "principal", None):
        return _attachable(args.principal)
    if getattr(args, "user_name", None):
        return backend.user_arn(args.user_name)
    return backend.role_arn(args.role_name)


def _check_boundary(text: str, where: str) -> str:
    """The boundary text after checking it parses as an identity policy (one line naming the problem)."""
    return check_identity_policy(text, where)


def cmd_put_boundary(session, args) -> Result:
    principal = _boundary_target(session, args)
    text = _check_boundary(args.permissions_boundary, "--permissions-boundary")
    _backend(session).put_permissions_boundary(PrincipalArn=principal, PolicyDocument=text)
    return Result(message=f"set the permissions boundary of {principal}")


def cmd_get_boundary(session, args) -> Result:
    principal = _boundary_target(session, args)
    response = _backend(session).get_permissions_boundary(PrincipalArn=principal)
    return Result(data=response, text=_pretty(response["PermissionsBoundary"]))


def cmd_delete_boundary(session, args) -> Result:
    principal = _boundary_target(session, args)
    _backend(session).delete_permissions_boundary(PrincipalArn=principal)
    return Result(message=f"deleted the permissions boundary of {principal}")


# -- access keys and roles (what `kmstui serve` authenticates) -----------------------------------------
USER = Arg("--user-name", "the IAM user (without it: the account root, which AWS advises against)", metavar="NAME")
KEYS_TABLE = TableHint(rows="AccessKeyMetadata", columns=[("UserName", "UserName"), ("AccessKeyId", "AccessKeyId"),
                                                          ("Status", "Status"), ("Created", "CreateDate"),
                                                          ("ViaService", "ViaService")])
ROLES_TABLE = TableHint(rows="Roles", columns=[("RoleName", "RoleName"), ("Arn", "Arn"),
                                               ("MaxSessionDuration", "MaxSessionDuration")])


def _identities(session):
    backend = session.backend()
    if not hasattr(backend, "create_access_key"):
        from kmstui.errors import UnsupportedOperationException

        raise UnsupportedOperationException(f"access keys and roles for 'kmstui serve' are kept by the local HSM, not "
                                            f"by {backend.kind} backends")
    return backend


def cmd_create_access_key(session, args) -> Result:
    kw = {k: v for k, v in (("UserName", args.user_name), ("ViaService", args.via_service)) if v is not None}
    response = _identities(session).create_access_key(**kw)
    note = None
    if args.user_name is None:
        note = ("warning: this access key belongs to the account root, which may do anything; AWS advises against "
                "root access keys: prefer --user-name NAME and identity policies (iam put-policy)")
    return Result(data=response, message=note)


def cmd_list_access_keys(session, args) -> Result:
    kw: dict[str, Any] = {"UserName": args.user_name} if args.user_name else {}
    if args.all:
        if args.user_name:
            raise UsageError("--all lists every user's keys; leave out --user-name")
        kw["AllUsers"] = True
    return Result(data=_identities(session).list_access_keys(**kw), table=KEYS_TABLE)


def cmd_delete_access_key(session, args) -> Result:
    kw = {"AccessKeyId": args.access_key_id, **({"UserName": args.user_name} if args.user_name else {})}
    _identities(session).delete_access_key(**kw)
    return Result(message=f"deleted access key {args.access_key_id}")


def cmd_put_role_trust_policy(session, args) -> Result:
    kw: dict[str, Any] = {"RoleName": args.role_name, "PolicyDocument": args.file}  # the Arg's kind read it
    if args.max_session_duration is not None:
        kw["MaxSessionDuration"] = args.max_session_duration
    return Result(data=_identities(session).put_role_trust_policy(**kw))


def cmd_get_role(session, args) -> Result:
    return Result(data=_identities(session).get_role(RoleName=args.role_name))


def cmd_list_roles(session, args) -> Result:
    return Result(data=_identities(session).list_roles(), table=ROLES_TABLE)


def cmd_delete_role(session, args) -> Result:
    _identities(session).delete_role(RoleName=args.role_name)
    return Result(message=f"deleted role {args.role_name}")


def register(registry) -> None:
    registry.describe_group("iam", "identity (IAM) policies kept by the local HSM, for exact --as decisions")
    c = registry.command
    c("iam put-policy", "Attach (or replace) an identity policy of a principal", [
        PRINCIPAL, NAME, Arg("--file", "the policy document: a JSON file PATH ('-' standard input), file://PATH or "
                             "the JSON text", required=True, complete="file", metavar="PATH|-", kind=DOCUMENT),
    ], mutates=True, description=(
        "Store an IAM identity policy for a principal of the local HSM's account. The local backend then "
        "decides that principal's requests (--as ARN) with the key policy, these policies and the grants, "
        "as AWS KMS would. This is fidelity for testing policies, not a security boundary against the "
        "file's owner."),
      examples=["iam put-policy --principal arn:aws:iam::111122223333:role/app --name use-app-key "
                "--file app-policy.json"])(cmd_put)
    c("iam get-policy", "Show a principal's identity policy", [PRINCIPAL, NAME, OUT, FORCE])(cmd_get)
    c("iam list-policies", "List identity policies (of one principal, or all)", [
        Arg("--principal", "only this principal's policies", complete="principal", metavar="ARN"),
    ])(cmd_list)
    c("iam delete-policy", "Delete a principal's identity policy (asks for confirmation)", [PRINCIPAL, NAME],
      mutates=True, confirm="name")(cmd_delete)
    boundary = Arg("--permissions-boundary", "the boundary policy: a JSON file PATH ('-' standard input), "
                   "file://PATH or the JSON text (AWS takes a managed policy's ARN; the local HSM keeps the "
                   "document itself)", required=True, complete="file", metavar="DOC", kind=DOCUMENT,
                   aliases=("--file",))
    b_user = Arg("--user-name", "the IAM user of the HSM's account", required=True, metavar="NAME")
    b_role = Arg("--role-name", "the IAM role of the HSM's account", required=True, metavar="NAME")
    what = ("A permissions boundary sets the most the principal's identity policies can grant: a call is allowed "
            "only when an identity policy and the boundary both allow it (explicit denies in either win). Local "
            "calls made --as the principal (or a session of the role) are decided with it by the same engine "
            "whatif uses.")
    c("iam put-user-permissions-boundary", "Set (or replace) an IAM user's permissions boundary",
      [b_user, boundary], mutates=True, description=what,
      examples=["iam put-user-permissions-boundary --user-name alice --permissions-boundary file://boundary.json"]
      )(cmd_put_boundary)
    c("iam put-role-permissions-boundary", "Set (or replace) an IAM role's permissions boundary",
      [b_role, boundary], mutates=True, description=what,
      examples=["iam put-role-permissions-boundary --role-name app --permissions-boundary file://boundary.json"]
      )(cmd_put_boundary)
    c("iam put-boundary", "Set a principal's permissions boundary (same as put-user/role-permissions-boundary)",
      [PRINCIPAL, boundary], mutates=True, description=what)(cmd_put_boundary)
    c("iam get-boundary", "Show a principal's permissions boundary", [PRINCIPAL])(cmd_get_boundary)
    c("iam delete-user-permissions-boundary", "Remove an IAM user's permissions boundary", [b_user],
      mutates=True)(cmd_delete_boundary)
    c("iam delete-role-permissions-boundary", "Remove an IAM role's permissions boundary", [b_role],
      mutates=True)(cmd_delete_boundary)
    role = Arg("--role-name", "the role's name", required=True, metavar="NAME")
    c("iam create-access-key", "Issue an access key for 'kmstui serve' (the secret is shown only now)", [
        USER, Arg("--via-service", "requests made with this key act as service S calling KMS on the user's behalf "
                  "(kms:ViaService=S, aws:ViaAWSService=true)", metavar="S"),
    ], mutates=True, description=(
        "Shaped like IAM's CreateAccessKey: AccessKey.AccessKeyId and AccessKey.SecretAccessKey. The secret is "
        "sealed in the HSM file and shown only in this answer; use it with any AWS SDK or the aws CLI against "
        "'kmstui serve'. A user has at most 2 access keys, as in IAM."),
      examples=["iam create-access-key --user-name alice",
                "iam create-access-key --user-name app --via-service s3.us-east-1.amazonaws.com"])(cmd_create_access_key)
    c("iam list-access-keys", "List access keys (of a user, of the root without --user-name, or --all)", [
        USER, Arg("--all", "every user's keys", flag=True),
    ])(cmd_list_access_keys)
    c("iam delete-access-key", "Delete an access key (asks for confirmation)", [
        Arg("--access-key-id", "the key to delete", required=True, metavar="AKID"), USER,
    ], mutates=True, confirm="access_key_id")(cmd_delete_access_key)
    c("iam put-role-trust-policy", "Create a role (or replace its trust policy) for STS AssumeRole via 'kmstui serve'", [
        role, Arg("--file", "the trust policy: a JSON file PATH ('-' standard input), file://PATH or the JSON text",
                  required=True, complete="file", metavar="PATH|-", kind=DOCUMENT,
                  aliases=("--assume-role-policy-document", "--policy-document")),
        Arg("--max-session-duration", "longest session in seconds (3600-43200, default 3600)", type=int, metavar="S"),
    ], mutates=True, examples=["iam put-role-trust-policy --role-name app --file trust.json"])(cmd_put_role_trust_policy)
    c("iam get-role", "Show a role and its trust policy", [role])(cmd_get_role)
    c("iam list-roles", "List the roles kept by the local HSM", [])(cmd_list_roles)
    c("iam delete-role", "Delete a role (asks for confirmation)", [role], mutates=True, confirm="role_name")(cmd_delete_role)
