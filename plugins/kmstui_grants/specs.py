"""Specs of the `grant` commands: arguments, summaries and help, which parsing, help and completion need.

Handlers are named by string and live in commands.py, which (with kmstui.authz behind its parsing) is
imported only when a grant command runs.
"""

from __future__ import annotations

from kmstui.commands.args import GRANT_TOKENS, KEY_ID
from kmstui.commands.paging import PAGING_ARGS
from kmstui.commands.registry import Arg
from kmstui.commands.values import TEXT

GRANTEE = Arg("--grantee-principal", "principal ARN the grant gives permissions to (user, role, session, account)",
              complete="principal", metavar="ARN")
GRANT_ID = Arg("--grant-id", "grant id (as 'grant create' or 'grant list' print it)", metavar="GRANT_ID")


def register(registry) -> None:
    registry.describe_group("grant", "grants: revocable permissions for other principals")
    c = registry.command
    c("grant create", "Give a principal some operations on a key (prints GrantId and GrantToken)", [
        KEY_ID, GRANTEE.replace(required=True),
        Arg("--operations", "comma-separated grant operations, e.g. Decrypt,GenerateDataKey (repeatable)",
            required=True, repeat=True, metavar="OPS"),
        Arg("--retiring-principal", "principal ARN that may retire the grant", complete="principal", metavar="ARN"),
        Arg("--constraint", "encryption-context-equals|encryption-context-subset then KEY=VALUE pairs, or the "
            "aws CLI's JSON ({\"EncryptionContextSubset\": {...}}) inline or as file://PATH (repeatable; "
            "case-sensitive, as KMS compares them)", repeat=True, nargs="+", metavar="TYPE K=V",
            aliases=("--constraints",), kind=TEXT),
        Arg("--name", "grant name: creating the same grant with the same name again returns the first one",
            metavar="NAME"),
        GRANT_TOKENS.replace(secret=True),
    ], mutates=True, description=(
        "Create a grant (KMS CreateGrant). Grants may carry only grant operations (Decrypt, Encrypt, "
        "GenerateDataKey*, ReEncryptFrom/To, Sign, Verify, GenerateMac, VerifyMac, DescribeKey, GetPublicKey, "
        "CreateGrant, RetireGrant). A constraint binds the operations that take an encryption context: "
        "equals needs exactly these pairs, subset at least these. Give the GrantToken to the grantee to use "
        "the grant at once with --grant-token."),
      examples=["grant create --key-id alias/app --grantee-principal arn:aws:iam::111122223333:role/worker "
                "--operations Decrypt,GenerateDataKey --constraint encryption-context-equals app=web",
                "decrypt --in blob --context app=web --grant-token TOKEN --as arn:aws:iam::111122223333:role/worker"],
      handler="kmstui_grants.commands:cmd_create")
    c("grant list", "List a key's grants (ListGrants)", [
        KEY_ID, GRANT_ID, GRANTEE.replace(help="only grants to this principal"), *PAGING_ARGS,
    ], handler="kmstui_grants.commands:cmd_list")
    c("grant list-retirable", "List the grants a principal may retire (ListRetirableGrants)", [
        Arg("--retiring-principal", "the retiring principal's ARN", required=True, complete="principal",
            metavar="ARN"), *PAGING_ARGS,
    ], handler="kmstui_grants.commands:cmd_list_retirable")
    c("grant retire", "Retire a grant (by its token, or by key and grant id)", [
        Arg("--grant-token", "token of the grant to retire (a bearer value: never kept in history; "
            "file:///dev/stdin reads it from standard input)", metavar="TOKEN", secret=True, kind=TEXT),
        Arg("--key-id", KEY_ID.help, complete="key", metavar="KEY"), GRANT_ID,
    ], mutates=True, description="Retire a grant (KMS RetireGrant). Allowed for the grant's retiring "
                                 "principal, for the grantee when the grant lists RetireGrant, and for the "
                                 "account that created it.", handler="kmstui_grants.commands:cmd_retire")
    c("grant revoke", "Revoke a grant (key administrators; asks for confirmation)", [
        KEY_ID, Arg("--grant-id", GRANT_ID.help, required=True, metavar="GRANT_ID"),
    ], mutates=True, confirm="grant_id",
      description="Revoke a grant (KMS RevokeGrant): a key-policy permission, never given by a grant. "
                  "Asks you to type the grant id; --yes skips the question.", handler="kmstui_grants.commands:cmd_revoke")
