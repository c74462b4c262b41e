"""The core's command modules, registered through the same hook a plugin uses."""

from __future__ import annotations

import importlib

from kmstui.hookspecs import hookimpl

# Each module has register(registry). Listed here so a newcomer sees the whole core surface at once.
MODULES = (
    "kmstui.commands.meta",      # help, plugins, config, completion, version
    "kmstui.commands.backends",  # backend list
    "kmstui.commands.hsm",       # hsm init/unseal/seal/status/change-passphrase/backup/restore
    "kmstui.commands.keys",      # key ...
    "kmstui.commands.aliases",   # alias ...
    "kmstui.commands.crypto",    # encrypt, decrypt, re-encrypt, data-key, random, sign, verify, mac
    "kmstui.commands.policy",    # policy get/put
    "kmstui.commands.audit",     # audit show/verify
    "kmstui.commands.iam",       # iam put-policy/get-policy/list-policies/delete-policy (local HSM)
    "kmstui.commands.org",       # org create-organization/create-policy/attach-policy/... (local HSM)
    "kmstui.commands.themes",    # theme list/use
    "kmstui.commands.serve",     # serve (the AWS KMS wire protocol; kmstui/server/)
)


@hookimpl
def register_commands(registry):
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        module.register(registry)

