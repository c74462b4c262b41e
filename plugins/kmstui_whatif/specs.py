"""Specs of the whatif plugin's commands (`whatif`, `policy test|matrix|lint|diff`): arguments, summaries and
help, which parsing, help and completion need.

Handlers are named by string and live in commands.py, matrix.py and lintdiff.py, which (with kmstui.authz
behind them) are imported only when one of these commands runs.
"""

from __future__ import annotations

from kmstui.commands.args import CONTEXT, GRANT_TOKENS
from kmstui.commands.registry import Arg

KEY_ID = Arg("--key-id", "read the key policy and grants of this key from its backend (opens the backend)",
             complete="key", metavar="KEY")
KEY_POLICY = Arg("--key-policy", "key policy JSON file (no backend is opened)", complete="file", metavar="FILE")
KEY_ARN = Arg("--key-arn", "key ARN to evaluate against when working from files (default: a key of the "
              "account the policy delegates to)", metavar="ARN")
IAM_POLICY = Arg("--iam-policy", "the caller's IAM identity policy JSON file (repeatable)", repeat=True,
                 complete="file", metavar="FILE")
LAYERS = Arg("--layers", "the organization, SCPs, RCPs, permissions boundary and session policy, as a JSON file with "
             "those scenario fields (docs/policy-layers.md; `policy pull` writes one)", complete="file",
             metavar="FILE")
GRANTS_FILE = Arg("--grants", "grants JSON file (ListGrants output or a list of grants)", complete="file",
                  metavar="FILE")


def register(registry) -> None:
    registry.command("whatif", "Would AWS KMS allow this request? The decision and its full trace", [
        KEY_ID, KEY_POLICY, KEY_ARN, IAM_POLICY, GRANTS_FILE, LAYERS,
        Arg("--principal", "the caller: IAM ARN or service principal", complete="principal", metavar="ARN"),
        Arg("--action", "the KMS action, e.g. kms:Decrypt", metavar="ACTION"),
        Arg("--caller-account", "the caller's account when the principal does not show it", metavar="ACCOUNT"),
        CONTEXT.replace(help="the request's encryption context KEY=VALUE (repeatable, or a JSON object): what "
                        "the kms:EncryptionContext:KEY and kms:EncryptionContextKeys conditions see"),
        Arg("--condition", "another condition key KEY=VALUE (repeatable; VALUE may be a JSON list), e.g. "
            "kms:ViaService=s3.us-east-1.amazonaws.com or aws:SourceIp=10.0.0.1", repeat=True, metavar="K=V"),
        Arg("--grant-request", "CreateGrant body (JSON text or file) when --action is kms:CreateGrant",
            metavar="JSON|FILE"),
        Arg("--target-grant-id", "the grant a RetireGrant/RevokeGrant names", metavar="GRANT_ID"),
        GRANT_TOKENS,
        Arg("--encryption-algorithm", "the request's EncryptionAlgorithm (kms:EncryptionAlgorithm; default "
            "SYMMETRIC_DEFAULT)", metavar="ALG"),
        Arg("--signing-algorithm", "the request's SigningAlgorithm (kms:SigningAlgorithm)", metavar="ALG"),
        Arg("--mac-algorithm", "the request's MacAlgorithm (kms:MacAlgorithm)", metavar="ALG"),
        Arg("--parameters", "other KMS request parameters as JSON text or a file, e.g. {\"KeySpec\": "
            "\"RSA_2048\"} for CreateKey (they fill kms:KeySpec, aws:RequestTag/*, ...)", metavar="JSON|FILE"),
        Arg("--scenario", "evaluate the scenarios in FILE instead (repeatable)", repeat=True, complete="file",
            metavar="FILE"),
        Arg("--cloudtrail", "take the request from a CloudTrail record of a KMS call (a record, or a log file "
            "with --event-id) and compare with what AWS recorded", complete="file", metavar="EVENT.json"),
        Arg("--event-id", "the eventID of the record to use when the --cloudtrail file holds several",
            metavar="ID"),
        Arg("--exit-code", "exit 1 when the decision is DENY (with --scenario: when any is), so a script can "
            "branch on it", flag=True),
        Arg("--request-id", "explain a request already decided (e.g. by 'kmstui serve'): the decision and trace "
            "kept in the local HSM's audit log", metavar="ID"),
    ], needs_backend=False, examples=[
        "whatif --key-id alias/app --principal arn:aws:iam::111122223333:role/ci --action kms:Decrypt --exit-code",
        "whatif --key-policy policy.json --principal arn:aws:iam::111122223333:role/App --action kms:Decrypt "
        "--context app=web",
        "whatif --key-id alias/app --principal arn:aws:iam::111122223333:user/bob --action kms:Encrypt",
        "whatif --scenario samples/policies/default-key-policy.scenario.json --output json",
        "whatif --request-id 0f7c3a52-4b1e-4c55-9d0e-1b2c3d4e5f60",
    ], description="Decide a request exactly as AWS KMS would (key policy, identity policies, grants, "
                   "cross-account rules, conditions) and show why. File-only use never opens a key store.",
       handler="kmstui_whatif.commands:cmd_whatif")
    registry.command("policy test", "Run scenario files (*.scenario.json) as policy unit tests; exit 1 on failure", [
        Arg("paths", "scenario files or folders (every *.scenario.json below)", nargs="+", complete="file",
            metavar="PATH"),
        Arg("--verbose", "also list passing scenarios", flag=True, aliases=("-v",)),
    ], needs_backend=False, examples=["policy test samples/", "policy test my.scenario.json --output json"],
       handler="kmstui_whatif.commands:cmd_test")
    registry.command("policy matrix", "Who can do what with a key: principals x KMS actions (conditional marked)", [
        KEY_ID, KEY_POLICY, KEY_ARN, GRANTS_FILE, LAYERS,
        Arg("--principal", "also evaluate this principal (repeatable)", repeat=True, complete="principal",
            metavar="ARN"),
        Arg("--actions", "only these actions, comma-separated (e.g. Decrypt,Encrypt,PutKeyPolicy)", metavar="LIST"),
    ], needs_backend=False, examples=["policy matrix --key-policy policy.json", "policy matrix --key-id alias/app"],
       handler="kmstui_whatif.matrix:cmd_matrix")
    registry.command("policy lint", "Find risky patterns in a key policy (with explanation and fix); exit 1 on errors", [
        Arg("file", "key policy JSON file", nargs="?", complete="file", metavar="FILE"),
        KEY_ID, GRANTS_FILE, LAYERS,
        Arg("--key-account", "the key's account (default: from the key, or the policy's root statement)",
            metavar="ACCOUNT"),
        Arg("--principal", "who will set the policy, for the lockout check (default: the account root)",
            complete="principal", metavar="ARN"),
        Arg("--fail-on", "exit 1 on errors only, or on warnings too", choices=("error", "warning"), default="error"),
    ], needs_backend=False, examples=["policy lint policy.json", "policy lint --key-id alias/app"],
       handler="kmstui_whatif.lintdiff:cmd_lint")
    registry.command("policy pull", "Read a live account's key policies, grants, aliases, tags, IAM policies, "
                     "boundaries, SCPs and RCPs into scenario files for offline what-if", [
        Arg("--out", "the folder to write (must be empty or absent; --force replaces it)", required=True,
            complete="dir", metavar="DIR"),
        Arg("--keys", "only these keys (key ids, ARNs or aliases; comma-separated or repeatable; default: all)",
            repeat=True, metavar="KEYS"),
        Arg("--principal", "also read this IAM user or role's identity policies and permissions boundary "
            "(repeatable)", repeat=True, complete="principal", metavar="ARN"),
        Arg("--force", "replace a non-empty --out folder", flag=True),
    ], examples=["policy pull --profile aws-prod --out pulled/",
                 "policy pull --profile aws-prod --keys alias/app --principal arn:aws:iam::111122223333:role/App "
                 "--out pulled/"],
       description="Reads through the profile's backend (KMS) and, for aws profiles, IAM and Organizations. A "
                   "read the caller may not make is reported and skipped (docs/policy-pull.md).",
       handler="kmstui_whatif.pull:cmd_pull")
    registry.command("policy diff", "Replay recorded requests against a proposed policy; list decisions that change", [
        Arg("--proposed", "the proposed key policy JSON file", required=True, complete="file", metavar="FILE"),
        KEY_ID, KEY_POLICY, KEY_ARN, IAM_POLICY, GRANTS_FILE,
        Arg("--requests", "'audit' (the local HSM audit log) or files of CloudTrail events / log files / "
            "scenarios", nargs=None, repeat=True, metavar="audit|FILE"),
        Arg("--fail-on-change", "exit 1 when any decision changes (for CI)", flag=True),
    ], needs_backend=False, examples=[
        "policy diff --proposed new.json --key-id alias/app --requests audit",
        "policy diff --proposed new.json --key-policy current.json --requests cloudtrail.json.gz",
    ], handler="kmstui_whatif.lintdiff:cmd_diff")
