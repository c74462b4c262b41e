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
