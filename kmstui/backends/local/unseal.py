"""Creating an HSM file and finding its root key.

Unseal order: the per-user agent (no KDF), then KMSTUI_PASSPHRASE, then the OS-keyring slot if the file
has one, then a prompt through the face; with none of these, SealedError (exit 253) says how to unseal.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from kmstui.audit import GENESIS
from kmstui.backends.local import agent, seal
from kmstui.backends.local.store import Store
from kmstui.errors import ConfigError, SealedError, UsageError

DEFAULT_FILE = "hsm.kmstui"
DEFAULT_REGION = "us-east-1"
_REGION = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$|^local(-[a-z0-9]+)*$"  # compiled by `re` when first used
PASSPHRASE_ENV = "KMSTUI_PASSPHRASE"
MIN_PASSPHRASE = 8


def hsm_path(settings: dict[str, Any], data_dir: Path) -> Path:
    """The HSM file of a profile: its `path` setting (relative to the data dir) or data_dir/hsm.kmstui."""
    raw = settings.get("path")
    if not raw:
        return data_dir / DEFAULT_FILE
    path = Path(str(raw)).expanduser()
    return path if path.is_absolute() else data_dir / path


def check_identity(account_id: str | None, region: str | None) -> tuple[str, str]:
    import secrets  # here: secrets loads random, which an ordinary command's start-up skips

    account_id = str(account_id) if account_id else "".join(secrets.choice("0123456789") for _ in range(12))
    if not re.fullmatch(r"\d{12}", account_id):
        raise UsageError(f"account id must be 12 digits, not {account_id!r}")
    region = region or DEFAULT_REGION
    if not re.match(_REGION, region):
        raise UsageError(f"region {region!r} does not look like an AWS region name (e.g. us-east-1, eu-west-2)")
    return account_id, region


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the passphrase must be at least {MIN_PASSPHRASE} characters long")
    return passphrase


def ask_new_passphrase(prompt_secret: Callable[[str], str | None], what: str = "HSM passphrase") -> str | None:
    """KMSTUI_PASSPHRASE, else ask twice; None when neither is possible."""
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return check_new_passphrase(env)
    first = prompt_secret(f"New {what}: ")
    if first is None:
        return None
    check_new_passphrase(first)
    if prompt_secret(f"Repeat {what}: ") != first:
        raise UsageError("the two passphrases differ; nothing was created or changed")
    return first


def create_hsm(path: Path, passphrase: str, *, account_id: str | None = None, region: str | None = None,
               use_keyring: bool = False) -> tuple[Store, seal.RootKeys]:
    import uuid  # `hsm init` only: uuid loads `platform`, which other commands' start-up skips

    account_id, region = check_identity(account_id, region)
    file_id = str(uuid.uuid4())
    root = os.urandom(32)
    keys = seal.RootKeys.derive(root)
    slots = [seal.passphrase_slot(root, check_new_passphrase(passphrase), file_id)]
    if use_keyring:
        slots.append(seal.keyring_slot(root, file_id))
    store = Store.create(path, {"file_id": file_id.encode(), "slots": json.dumps(slots).encode(), "check": keys.check},
                         mac_key=keys.mac,
                         docs={"identity": {"AccountId": account_id, "Region": region, "Created": time.time(), "RowSets": 1, "Schema": 1},
                               "audit_head": {"seq": 0, "hash": GENESIS}})
    from kmstui.backends.local.core import audit_path

    log = Path(audit_path(path))
    if log.exists():  # a log left behind by a deleted HSM file: keep it, but start a fresh chain
        log.rename(log.with_name(f"{log.name}.orphaned-{int(time.time())}"))
    return store, keys


def _damaged(store: Store, what: str) -> ConfigError:
    """A row every HSM file has is missing or unreadable: say so, never 'wrong passphrase'."""
    return ConfigError(f"the HSM file {store.path} was modified outside kmstui: {what} missing or damaged (this "
                       "is not a wrong passphrase); restore the file from a backup")


def file_id(store: Store) -> str:
    raw = store.meta_raw("file_id")
    try:
        fid = raw.decode() if raw else ""
    except UnicodeDecodeError:
        fid = ""
    if not fid:
        raise _damaged(store, "the file id (meta row 'file_id')")
    return fid


def slots(store: Store) -> list[dict[str, Any]]:
    raw = store.meta_raw("slots")
    try:
        found = json.loads(raw) if raw is not None else None
    except ValueError:
        found = None
    if not isinstance(found, list) or not found or not all(
            isinstance(s, dict) and isinstance(s.get("type"), str) for s in found):
        raise _damaged(store, "the unseal slots (meta row 'slots')")
    return found


def check_value(store: Store) -> bytes:
    """The stored root-key check value; ConfigError when it is missing (so no key could ever match it)."""
    stored = store.meta_raw("check")
    if not stored:
        raise _damaged(store, "the root-key check value (meta row 'check')")
    return stored


def _checked(store: Store, root: bytes | None) -> seal.RootKeys | None:
    if root is None:
        return None
    keys = seal.RootKeys.derive(root)
    if keys.check != check_value(store):
        return None
    return keys


def _passphrase_slots(store: Store) -> list[dict[str, Any]]:
    found = [slot for slot in slots(store) if slot.get("type") == "passphrase"]
    if not found:
        raise _damaged(store, "the passphrase slot (in meta row 'slots')")
    return found


def with_passphrase(store: Store, passphrase: str) -> seal.RootKeys | None:
    """The root keys, or None when the passphrase is wrong (ConfigError when the slot or check row is gone)."""
    check_value(store)
    for slot in _passphrase_slots(store):
        keys = _checked(store, seal.open_passphrase_slot(slot, passphrase, file_id(store)))
        if keys:
            return keys
    return None


def unseal(store: Store, runtime_dir: Path, prompt_secret: Callable[[str], str | None], *,
           use_agent: bool = True) -> tuple[seal.RootKeys, str]:
    """The root keys and how they were found ("agent", "env", "keyring", "prompt"). Rows every file has
    (file id, slots, check value) are checked first, so their loss is never reported as a wrong passphrase."""
    fid = file_id(store)
    check_value(store)
    _passphrase_slots(store)
    if use_agent:
        keys = _checked(store, agent.get_key(runtime_dir, fid))
        if keys:
            return keys, "agent"
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        keys = with_passphrase(store, env)
        if keys is None:
            raise SealedError(f"{PASSPHRASE_ENV} does not unseal {store.path} (wrong passphrase)")
        return keys, "env"
    why_not_keyring = None
    for slot in slots(store):
        if slot.get("type") == "keyring":
            root, why_not_keyring = seal.open_keyring_slot(slot, fid)
            keys = _checked(store, root)
            if keys:
                return keys, "keyring"
    for attempt in range(3):
        # Every face shows the prompt's text (terminal, REPL, the TUI's dialog): a retry says why it asks again.
        answer = prompt_secret("HSM passphrase: " if attempt == 0 else
                               f"wrong passphrase, try again ({attempt + 1} of 3). HSM passphrase: ")
        if answer is None:
            break
        keys = with_passphrase(store, answer)
        if keys:
            return keys, "prompt"
        if attempt == 2:
            raise SealedError(f"wrong passphrase for {store.path} (3 attempts); nothing was unsealed")
    hint = f" (keyring slot: {why_not_keyring})" if why_not_keyring else ""
    raise SealedError(f"the HSM {store.path} is sealed{hint}: run 'kmstui hsm unseal' on a terminal, "
                      f"or set {PASSPHRASE_ENV}")
