"""`policy get|put`: a key's key policy. What-if analysis (`policy test`, `policy lint`, ...) is the whatif
plugin's; these two only read and replace the stored document.

A policy is checked before it is sent: JSON syntax with line and column, and the shape KMS requires (a
Statement list whose entries have Effect, Principal and Action), so a typo costs no backend call and
never half-applies. An edit that fails the check is kept in a file, not lost.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from kmstui.commands.args import FORCE, KEY, OUT, resolved_key, write_output
from kmstui.commands.paging import PAGING_ARGS, paginate
from kmstui.commands.registry import Arg, Result
from kmstui.commands.values import DOCUMENT
from kmstui.errors import UsageError

POLICY_NAME = Arg("--policy-name", "policy name (KMS keys have one, 'default')", default="default",
                  choices=("default",))


def validate_policy_text(text: str, where: str) -> dict[str, Any]:
    """Parse a key policy; UsageError with one line naming the problem (and line/column for JSON errors)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: a key policy must be a JSON object with a \"Statement\" list")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise UsageError(f"{where}: the policy needs a non-empty \"Statement\" list")
    if "Version" in doc and doc["Version"] not in ("2012-10-17", "2008-10-17"):
        raise UsageError(f"{where}: \"Version\" must be \"2012-10-17\"")
    for n, st in enumerate(statements, 1):
        name = f"statement {n}" + (f" ({st['Sid']})" if isinstance(st, dict) and st.get("Sid") else "")
        if not isinstance(st, dict):
            raise UsageError(f"{where}: {name} is not a JSON object")
        if st.get("Effect") not in ("Allow", "Deny"):
            raise UsageError(f"{where}: {name} needs \"Effect\": \"Allow\" or \"Deny\"")
        if "Principal" not in st and "NotPrincipal" not in st:
            raise UsageError(f"{where}: {name} needs a \"Principal\" (key policies always name one)")
        if "Action" not in st and "NotAction" not in st:
            raise UsageError(f"{where}: {name} needs an \"Action\" (e.g. \"kms:Decrypt\")")
    return doc


def pretty(policy: str) -> str:
    try:
        return json.dumps(json.loads(policy), indent=2) + "\n"
    except json.JSONDecodeError:
        return policy


def cmd_get(session, args) -> Result:
    backend, key = resolved_key(session, args.key_id)
    response = backend.get_key_policy(KeyId=key, PolicyName=args.policy_name)
    data = {"Policy": response["Policy"], "PolicyName": response.get("PolicyName", args.policy_name)}
    if args.out:
        note = write_output(session, args.out, pretty(data["Policy"]).encode("utf-8"), args.force)
        return Result(data=None if args.out == "-" else {"PolicyName": data["PolicyName"], "File": args.out},
                      message=note)
    return Result(data=data, text=pretty(data["Policy"]).rstrip("\n"))


def _keep_failed_edit(session, text: str) -> str:
    folder = session.config.paths.state_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"policy-edit-{time.strftime('%Y%m%d-%H%M%S')}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return str(path)


def _edited_policy(session, backend, key: str, policy_name: str) -> str | None:
    """Open the current policy in the user's editor; None when nothing changed (UsageError when the editor
    gave nothing back)."""
    edit = getattr(session, "edit_text", None)
    if edit is None:
        raise UsageError("--edit needs a terminal (kmstui shell, or a command run on one); in scripts use --file PATH")
    current = pretty(backend.get_key_policy(KeyId=key, PolicyName=policy_name)["Policy"])
    edited = edit(current, ".json")
    if edited is None:
        raise UsageError("no policy came back from the editor (no $EDITOR, it failed, or the file was emptied); "
                         "nothing was changed")
    if edited.strip() == current.strip():
        return None
    try:
        validate_policy_text(edited, "edited policy")
    except UsageError as exc:
        saved = _keep_failed_edit(session, edited)
        raise UsageError(f"{exc}; nothing was changed, your edit is saved in {saved} "
                         f"(fix it and run 'policy put {key} --file {saved}')") from None
    return edited


def _confirm_bypass(session, key_ref: str) -> None:
    if session.options.yes:
        return
    if session.confirm is None:
        raise UsageError("--bypass-lockout-check can make the key unmanageable; re-run with --yes to accept that")
    if not session.confirm(f"--bypass-lockout-check may lock everyone out of {key_ref}: type 'bypass' to "
                           "confirm", "bypass"):
        raise UsageError("lockout check bypass not confirmed; nothing was changed")


def cmd_put(session, args) -> Result:
    if (args.file is None) == (not args.edit):
        raise UsageError("give the new policy with --file PATH or --edit (opens $EDITOR in the shell)")
    text = None
    if args.file is not None:
        text = args.file  # the document's text: the Arg's kind read PATH, file://PATH or inline JSON
        validate_policy_text(text, "--file")
    if args.bypass_lockout_check:
        _confirm_bypass(session, args.key_id)
    backend, key = resolved_key(session, args.key_id)
    if text is None:
        text = _edited_policy(session, backend, key, args.policy_name)
        if text is None:
            return Result(message="policy unchanged; nothing was sent")
    params = {"BypassPolicyLockoutSafetyCheck": True} if args.bypass_lockout_check else {}
    backend.put_key_policy(KeyId=key, PolicyName=args.policy_name, Policy=text, **params)
    # As `aws kms put-key-policy`: nothing on stdout, exit 0. No read-back: the new policy may deny the
    # caller GetKeyPolicy, and a failing read must not make the successful change look like a failure.
    return Result(message=f"replaced the key policy of {args.key_id} ('policy get {args.key_id}' shows it)")


def cmd_list(session, args) -> Result:
    backend, key = resolved_key(session, args.key_id)
    return Result(data=paginate(backend.list_key_policies, "PolicyNames", args, KeyId=key))


def register(registry) -> None:
    registry.describe_group("policy", "key policies")
    registry.command("policy list", "List a key's policy names (ListKeyPolicies: always 'default')",
                     [KEY, *PAGING_ARGS])(cmd_list)
    registry.command("policy get", "Show a key's key policy (--out saves it as a file to edit)", [
        KEY, POLICY_NAME,
        OUT.replace(help="write the policy as indented JSON to PATH (a file to edit and 'policy put'), or to "
                    "standard output with '-'"), FORCE,
    ], examples=["policy get alias/app --out app-policy.json"])(cmd_get)
    registry.command("policy put", "Replace a key's key policy (checked before it is sent)", [
        KEY,
        Arg("--file", "the policy: a JSON file PATH ('-' standard input), file://PATH or the JSON text",
            complete="file", metavar="PATH", kind=DOCUMENT, aliases=("--policy",)),
        Arg("--edit", "edit the current policy in $EDITOR (interactive shell only)", flag=True),
        Arg("--bypass-lockout-check", "skip the backend's check that the policy still lets you manage the key "
            "(dangerous; asks again)", flag=True, aliases=("--bypass-policy-lockout-safety-check",)),
        POLICY_NAME,
    ], mutates=True, confirm="key_id",
        examples=["policy put alias/app --file app-policy.json"])(cmd_put)
