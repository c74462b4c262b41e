"""The names aws CLI users type: `aws kms` operation names as commands (`kmstui list-keys` is `key list`), and
every option of those operations as a flag of the kmstui command.

`OPERATIONS` maps each operation kmstui implements to its command (and fixed words: `enable-key-rotation`
is `key rotation --enable`); `UNIMPLEMENTED` names the other KMS operations and what to do instead, so
`kmstui create-custom-key-store` says why it is not there rather than "unknown command". `AWS_OPTIONS` is
each implemented operation's aws CLI options (botocore's service model: member names in kebab case;
tests/commands/test_aws_names.py checks the table against the installed botocore). An option the kmstui
command spells the same, or lists as an alias, is that argument; an option kmstui does not implement is
still recognised and refused with the reason (`REFUSED`), never reported as unknown.
"""

from __future__ import annotations

import argparse
from typing import Any

from kmstui.errors import UsageError

# operation (aws CLI spelling) -> (kmstui command words, fixed words added after them)
OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cancel-key-deletion": ("key cancel-deletion", ()),
    "create-alias": ("alias create", ()),
    "create-grant": ("grant create", ()),
    "create-key": ("key create", ()),
    "decrypt": ("decrypt", ()),
    "delete-alias": ("alias delete", ()),
    "delete-imported-key-material": ("key delete-imported-material", ()),
    "describe-key": ("key describe", ()),
    "disable-key": ("key disable", ()),
    "disable-key-rotation": ("key rotation", ("--disable",)),
    "enable-key": ("key enable", ()),
    "enable-key-rotation": ("key rotation", ("--enable",)),
    "encrypt": ("encrypt", ()),
    "generate-data-key": ("data-key generate", ()),
    "generate-data-key-without-plaintext": ("data-key generate-without-plaintext", ()),
    "generate-mac": ("mac generate", ()),
    "generate-random": ("random", ()),
    "get-key-policy": ("policy get", ()),
    "get-key-rotation-status": ("key rotation", ()),
    "get-parameters-for-import": ("key import-parameters", ()),
    "get-public-key": ("key public-key", ()),
    "import-key-material": ("key import-material", ()),
    "list-aliases": ("alias list", ()),
    "list-grants": ("grant list", ()),
    "list-key-policies": ("policy list", ()),
    "list-key-rotations": ("key rotations", ()),
    "list-keys": ("key list", ()),
    "list-resource-tags": ("key tags", ()),
    "list-retirable-grants": ("grant list-retirable", ()),
    "put-key-policy": ("policy put", ()),
    "re-encrypt": ("re-encrypt", ()),
    "retire-grant": ("grant retire", ()),
    "revoke-grant": ("grant revoke", ()),
    "rotate-key-on-demand": ("key rotate", ()),
    "schedule-key-deletion": ("key schedule-deletion", ()),
    "sign": ("sign", ()),
    "tag-resource": ("key tag", ()),
    "untag-resource": ("key untag", ()),
    "update-alias": ("alias update", ()),
    "update-key-description": ("key update-description", ()),
    "verify": ("verify", ()),
    "verify-mac": ("mac verify", ()),
}

_CUSTOM_STORES = "custom key stores (CloudHSM, external) are not supported by kmstui; use a pkcs11 profile for a token"
_MULTI_REGION = "multi-Region keys are not supported by kmstui"
UNIMPLEMENTED: dict[str, str] = {
    "connect-custom-key-store": _CUSTOM_STORES,
    "create-custom-key-store": _CUSTOM_STORES,
    "delete-custom-key-store": _CUSTOM_STORES,
    "describe-custom-key-stores": _CUSTOM_STORES + " ('backend list' shows kmstui's key stores)",
    "disconnect-custom-key-store": _CUSTOM_STORES,
    "update-custom-key-store": _CUSTOM_STORES,
    "replicate-key": _MULTI_REGION,
    "update-primary-region": _MULTI_REGION,
    "generate-data-key-pair": "data key pairs are not implemented; 'key create --key-spec RSA_2048' makes an "
                              "asymmetric KMS key",
    "generate-data-key-pair-without-plaintext": "data key pairs are not implemented",
    "derive-shared-secret": "key agreement (DeriveSharedSecret) is not implemented",
    "encapsulate": "key encapsulation (ML-KEM) is not implemented",
    "decapsulate": "key encapsulation (ML-KEM) is not implemented",
    "get-key-last-usage": "key last-usage tracking is not implemented; 'audit show' lists a local key's uses",
}

# Every option of each implemented operation (botocore's model, kebab case). "!" marks a boolean (the aws CLI
# also accepts --no-NAME for it).
AWS_OPTIONS: dict[str, tuple[str, ...]] = {
    "cancel-key-deletion": ("--key-id",),
    "create-alias": ("--alias-name", "--target-key-id"),
    "create-grant": ("--key-id", "--grantee-principal", "--retiring-principal", "--operations", "--constraints",
                     "--grant-tokens", "--name", "--dry-run!", "--grantee-service-principal",
                     "--retiring-service-principal"),
    "create-key": ("--policy", "--description", "--key-usage", "--customer-master-key-spec", "--key-spec", "--origin",
                   "--custom-key-store-id", "--bypass-policy-lockout-safety-check!", "--tags", "--multi-region!",
                   "--xks-key-id"),
    "decrypt": ("--ciphertext-blob", "--encryption-context", "--grant-tokens", "--key-id", "--encryption-algorithm",
                "--recipient", "--dry-run!", "--dry-run-modifiers"),
    "delete-alias": ("--alias-name",),
    "delete-imported-key-material": ("--key-id", "--key-material-id"),
    "describe-key": ("--key-id", "--grant-tokens"),
    "disable-key": ("--key-id",),
    "disable-key-rotation": ("--key-id",),
    "enable-key": ("--key-id",),
    "enable-key-rotation": ("--key-id", "--rotation-period-in-days"),
    "encrypt": ("--key-id", "--plaintext", "--encryption-context", "--grant-tokens", "--encryption-algorithm",
                "--dry-run!"),
    "generate-data-key": ("--key-id", "--encryption-context", "--number-of-bytes", "--key-spec", "--grant-tokens",
                          "--recipient", "--dry-run!"),
    "generate-data-key-without-plaintext": ("--key-id", "--encryption-context", "--key-spec", "--number-of-bytes",
                                            "--grant-tokens", "--dry-run!"),
    "generate-mac": ("--message", "--key-id", "--mac-algorithm", "--grant-tokens", "--dry-run!"),
    "generate-random": ("--number-of-bytes", "--custom-key-store-id", "--recipient"),
    "get-key-policy": ("--key-id", "--policy-name"),
    "get-key-rotation-status": ("--key-id",),
    "get-parameters-for-import": ("--key-id", "--wrapping-algorithm", "--wrapping-key-spec"),
    "get-public-key": ("--key-id", "--grant-tokens"),
    "import-key-material": ("--key-id", "--import-token", "--encrypted-key-material", "--valid-to",
                            "--expiration-model", "--import-type", "--key-material-description",
                            "--key-material-id"),
    "list-aliases": ("--key-id", "--limit", "--marker"),
    "list-grants": ("--limit", "--marker", "--key-id", "--grant-id", "--grantee-principal",
                    "--grantee-service-principal"),
    "list-key-policies": ("--key-id", "--limit", "--marker"),
    "list-key-rotations": ("--key-id", "--include-key-material", "--limit", "--marker"),
    "list-keys": ("--limit", "--marker", "--resource-owners"),
    "list-resource-tags": ("--key-id", "--limit", "--marker"),
    "list-retirable-grants": ("--limit", "--marker", "--retiring-principal", "--retiring-service-principal"),
    "put-key-policy": ("--key-id", "--policy-name", "--policy", "--bypass-policy-lockout-safety-check!"),
    "re-encrypt": ("--ciphertext-blob", "--source-encryption-context", "--source-key-id", "--destination-key-id",
                   "--destination-encryption-context", "--source-encryption-algorithm",
                   "--destination-encryption-algorithm", "--grant-tokens", "--dry-run!", "--dry-run-modifiers"),
    "retire-grant": ("--grant-token", "--key-id", "--grant-id", "--dry-run!"),
    "revoke-grant": ("--key-id", "--grant-id", "--dry-run!"),
    "rotate-key-on-demand": ("--key-id",),
    "schedule-key-deletion": ("--key-id", "--pending-window-in-days"),
    "sign": ("--key-id", "--message", "--message-type", "--grant-tokens", "--signing-algorithm", "--dry-run!"),
    "tag-resource": ("--key-id", "--tags"),
    "untag-resource": ("--key-id", "--tag-keys"),
    "update-alias": ("--alias-name", "--target-key-id"),
    "update-key-description": ("--key-id", "--description"),
    "verify": ("--key-id", "--message", "--message-type", "--signature", "--signing-algorithm", "--grant-tokens",
               "--dry-run!"),
    "verify-mac": ("--message", "--key-id", "--mac-algorithm", "--mac", "--grant-tokens", "--dry-run!"),
}

_DRY_RUN = ("DryRun is not supported by kmstui commands; 'whatif --key-id KEY --principal ARN --action kms:ACTION' "
            "answers whether a request would be allowed")
# Options of implemented operations that kmstui does not implement, and why.
REFUSED: dict[str, str] = {
    "--dry-run": _DRY_RUN,
    "--dry-run-modifiers": _DRY_RUN,
    "--recipient": "Nitro Enclaves attestation (Recipient) is not supported by kmstui",
    "--custom-key-store-id": _CUSTOM_STORES,
    "--xks-key-id": _CUSTOM_STORES,
    "--multi-region": _MULTI_REGION,
    "--grantee-service-principal": "service principals as grantees are not supported by kmstui; give "
                                   "--grantee-principal ARN",
    "--retiring-service-principal": "service principals as retiring principals are not supported by kmstui; give "
                                    "--retiring-principal ARN",
    "--resource-owners": "kmstui lists the keys of its own store; --resource-owners is not supported",
    "--include-key-material": "--include-key-material is not supported: every rotation is listed",
    "--import-type": "kmstui imports one key material per key (ImportType EXISTING_KEY_MATERIAL)",
    "--key-material-description": "key material descriptions are not supported by kmstui",
    "--key-material-id": "kmstui keys hold one imported key material; --key-material-id is not needed",
}


def command_of(name: str) -> tuple[list[str], str] | None:
    """The words an aws operation name stands for, with the note to show; None when it is not one."""
    if name in OPERATIONS:
        path, fixed = OPERATIONS[name]
        return [*path.split(), *fixed], ""
    return None


def operations_of(path: tuple[str, ...]) -> list[str]:
    """The aws operations a kmstui command implements (`key rotation`: enable/disable/get-...-status)."""
    words = " ".join(path)
    return [op for op, (cmd, _fixed) in OPERATIONS.items() if cmd == words]


class _Refuse(argparse.Action):
    """An aws CLI option kmstui recognises but does not implement: refuse with the reason."""

    def __init__(self, option_strings, dest, reason: str = "", **kw: Any) -> None:
        self.reason = reason
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        raise UsageError(f"{parser.prog}: {option_string}: {self.reason}")


def add_aws_options(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
    """Complete a command's parser with the aws CLI spellings of its operations: `--no-NAME` for a boolean
    the command has as `--NAME`, and every option kmstui does not implement as a refusal naming the reason."""
    known = set(parser._option_string_actions)
    for op in operations_of(path):
        for option in AWS_OPTIONS.get(op, ()):
            boolean = option.endswith("!")
            name = option.rstrip("!")
            negative = f"--no-{name[2:]}"
            if boolean and name in known and negative not in known:
                parser.add_argument(negative, dest=parser._option_string_actions[name].dest, action="store_false",
                                    default=argparse.SUPPRESS, help=argparse.SUPPRESS)
                known.add(negative)
                continue
            spellings = [s for s in ((name, f"--no-{name[2:]}") if boolean else (name,)) if s not in known]
            if not spellings or name not in REFUSED:
                continue  # spelled by the command itself (tests check that every other option is)
            reason = REFUSED[name]
            parser.add_argument(*spellings, action=_Refuse, reason=reason, nargs=0 if boolean else "*",
                                dest=f"_aws_{name[2:].replace('-', '_')}", default=argparse.SUPPRESS,
                                help=argparse.SUPPRESS)
            known.update(spellings)


def unknown_hint(name: str) -> str | None:
    """A one-line answer for an aws operation name kmstui does not implement."""
    if name in UNIMPLEMENTED:
        return f"'{name}' (aws kms) is not available in kmstui: {UNIMPLEMENTED[name]}"
    return None
