"""The root key and the slots that wrap it.

A random 256-bit root key seals all key material. It is stored only wrapped, once per unseal slot:

* passphrase slot: KEK = scrypt(passphrase, salt, n, r, p) with the parameters kept beside it, so they can
  be raised later without breaking old files;
* keyring slot: KEK = HKDF(a random 32-byte secret kept in the OS keyring under the file's id).

Each slot is AES-256-GCM(KEK, root key) with AAD naming the slot kind and the file id, so slots cannot be
moved between files. Changing the passphrase rewraps one slot; no key material is touched. Subkeys for row
MACs, material sealing and the audit chain are HKDF expansions of the root key, one label each.
"""

from __future__ import annotations

import base64
import hmac
import os
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kmstui.errors import ConfigError, SealedError

# Strong default: n=2**17, r=8 -> 128 MiB and roughly half a second. KMSTUI_KDF_COST (log2 n) lowers it for
# tests only; the parameters used are stored in the slot, so a file always opens with what made it.
DEFAULT_LOG2_N = 17
KEYRING_SERVICE = "kmstui-hsm"
# What a slot read from a file may ask for. The parameters are not authenticated (they are needed to derive
# the key that would check them), so a damaged or hostile file must not make us allocate gigabytes or spin
# for hours: scrypt needs 128 * r * n * p bytes of work memory.
MAX_LOG2_N, MAX_R, MAX_P, MAX_MEMORY = 22, 32, 16, 1 << 32


def kdf_params() -> dict[str, Any]:
    cost = os.environ.get("KMSTUI_KDF_COST")
    log2n = DEFAULT_LOG2_N
    if cost:
        try:
            log2n = int(cost)
        except ValueError:
            raise ConfigError(f"KMSTUI_KDF_COST must be an integer (log2 of scrypt's n), not {cost!r}") from None
        if not 4 <= log2n <= MAX_LOG2_N:
            raise ConfigError(f"KMSTUI_KDF_COST must be between 4 and {MAX_LOG2_N}")
    return {"kdf": "scrypt", "log2n": log2n, "r": 8, "p": 1, "salt": _b64(os.urandom(16))}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def check_kdf_params(params: dict[str, Any]) -> tuple[bytes, int, int, int]:
    """(salt, n, r, p) of a stored passphrase slot; ConfigError when they are missing or out of range."""
    if params.get("kdf") != "scrypt":
        raise ConfigError(f"unknown KDF {params.get('kdf')!r} in the HSM file's passphrase slot")
    try:
        log2n, r, p = int(params["log2n"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(params["salt"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise ConfigError("the HSM file's passphrase slot is damaged (scrypt parameters missing or malformed); "
                          "restore the file from a backup") from None
    if not (4 <= log2n <= MAX_LOG2_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P and len(salt) >= 16
            and 128 * r * (1 << log2n) * p <= MAX_MEMORY):
        raise ConfigError(f"the HSM file's passphrase slot has out-of-range scrypt parameters (log2 n={log2n}, "
                          f"r={r}, p={p}, {len(salt)}-byte salt); the file is damaged or was altered")
    return salt, 1 << log2n, r, p


def _derive_passphrase_kek(passphrase: str, params: dict[str, Any]) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt  # not needed when the agent unseals

    salt, n, r, p = check_kdf_params(params)
    kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
    return kdf.derive(passphrase.encode("utf-8"))


def _hkdf(secret: bytes, label: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"kmstui/" + label).derive(secret)


def _aad(kind: str, file_id: str) -> bytes:
    return f"kmstui-slot\0{kind}\0{file_id}".encode()


def _wrap(kek: bytes, root: bytes, kind: str, file_id: str) -> dict[str, str]:
    nonce = os.urandom(12)
    return {"nonce": _b64(nonce), "wrapped": _b64(AESGCM(kek).encrypt(nonce, root, _aad(kind, file_id)))}


def _unwrap(kek: bytes, slot: dict[str, Any], kind: str, file_id: str) -> bytes | None:
    try:
        return AESGCM(kek).decrypt(_unb64(slot["nonce"]), _unb64(slot["wrapped"]), _aad(kind, file_id))
    except (InvalidTag, KeyError, TypeError, ValueError):
        return None


def passphrase_slot(root: bytes, passphrase: str, file_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    params = params or kdf_params()
    slot = {"type": "passphrase", **params}
    slot.update(_wrap(_derive_passphrase_kek(passphrase, params), root, "passphrase", file_id))
    return slot


def open_passphrase_slot(slot: dict[str, Any], passphrase: str, file_id: str) -> bytes | None:
    """The root key, or None when the passphrase is wrong."""
    return _unwrap(_derive_passphrase_kek(passphrase, slot), slot, "passphrase", file_id)


def _keyring():
    import keyring
    import keyring.errors

    return keyring, keyring.errors


def keyring_slot(root: bytes, file_id: str) -> dict[str, Any]:
    """Store a random secret in the OS keyring and wrap the root key under it."""
    keyring, errors = _keyring()
    secret = os.urandom(32)
    try:
        keyring.set_password(KEYRING_SERVICE, file_id, _b64(secret))
    except errors.NoKeyringError:
        raise ConfigError("no OS keyring is available on this machine (no Secret Service / Keychain); "
                          "create the HSM without --keyring and use the passphrase or the agent") from None
    except errors.KeyringError as exc:
        raise ConfigError(f"the OS keyring refused to store the HSM secret ({exc})") from None
    return {"type": "keyring", "service": KEYRING_SERVICE, **_wrap(_hkdf(secret, b"keyring-slot"), root, "keyring", file_id)}


def open_keyring_slot(slot: dict[str, Any], file_id: str) -> tuple[bytes | None, str | None]:
    """(root key, None) or (None, why not). A missing keyring backend is a reason, never a crash."""
    keyring, errors = _keyring()
    try:
        stored = keyring.get_password(slot.get("service", KEYRING_SERVICE), file_id)
    except errors.NoKeyringError:
        return None, "no OS keyring is available here"
    except errors.KeyringError as exc:
        return None, f"the OS keyring failed ({exc})"
    if not stored:
        return None, "the OS keyring holds no secret for this HSM file"
    root = _unwrap(_hkdf(_unb64(stored), b"keyring-slot"), slot, "keyring", file_id)
    return (root, None) if root else (None, "the OS keyring secret does not open this HSM file")


# A NamedTuple rather than a dataclass: it is defined at every command's start-up, for a fifth of the cost.
class RootKeys(NamedTuple):
    """Subkeys derived from the root key; the root key itself is kept only to hand to the agent."""

    root: bytes
    mac: bytes
    material: bytes
    audit: bytes
    check: bytes

    @classmethod
    def derive(cls, root: bytes) -> "RootKeys":
        okm = _hkdf(root, b"subkeys", 128)
        return cls(root, okm[:32], okm[32:64], okm[64:96], okm[96:112])

    def verify_check(self, stored: bytes) -> None:
        if not hmac.compare_digest(self.check, stored):
            raise SealedError("the root key offered does not belong to this HSM file")
