"""Wrapping keys ("keyrings"): the Keyring interface, and backend keys through the kmstui Backend interface.
The SDK's raw AES and raw RSA keyrings (offline escrow and interop) are in rawkeys.py, loaded only when a
command names a --raw-key (they need the cryptography serialization package, a dozen modules).

Provider ids written into encrypted data keys (EDKs):
  aws-kms        AWS backend. provider info = key ARN returned by KMS, ciphertext = the CiphertextBlob
                 byte for byte (what aws-encryption-sdk-cli reads and writes).
  kmstui-local   local HSM backend; kmstui-pkcs11: PKCS#11 backend. Same layout as aws-kms (key ARN,
                 backend ciphertext blob), so one code path serves every backend.
  <namespace>    raw AES / raw RSA keys (framework/raw-aes-keyring.md, raw-rsa-keyring.md): namespace and
                 key name chosen by the user, exactly as the SDK's raw keyrings expect.
Every backend call goes through `calls`, so commands can report how many they made.
"""

from __future__ import annotations

import os
from typing import Any

from kmstui.errors import KMSError, UsageError
from kmstui_envelope.header import EncryptedDataKey
from kmstui_envelope.suites import Suite

PROVIDER_BY_KIND = {"aws": "aws-kms", "local": "kmstui-local", "pkcs11": "kmstui-pkcs11"}
BACKEND_PROVIDERS = frozenset(PROVIDER_BY_KIND.values())


def wipe(buf: bytearray | None) -> None:
    """Overwrite a plaintext data key held in a mutable buffer."""
    if buf is not None:
        buf[:] = bytes(len(buf))


class Counter:
    """Backend calls made by one command (shown in its summary line)."""

    def __init__(self) -> None:
        self.calls = 0


class Keyring:
    label = "key"

    def generate(self, suite: Suite, context: dict[str, str]) -> tuple[bytearray, EncryptedDataKey]:
        """A fresh data key and its EDK under this key."""
        data_key = bytearray(os.urandom(suite.key_len))
        return data_key, self.wrap(data_key, context)

    def wrap(self, data_key: bytearray, context: dict[str, str]) -> EncryptedDataKey:
        raise NotImplementedError

    def matches(self, edk: EncryptedDataKey) -> bool:
        raise NotImplementedError

    def unwrap(self, edk: EncryptedDataKey, context: dict[str, str]) -> bytearray:
        """The plaintext data key; raises KMSError (or ValueError) when this key cannot open `edk`."""
        raise NotImplementedError


# -- backend keys ----------------------------------------------------------------------------------------
class BackendKeyring(Keyring):
    """A key in a kmstui backend (local HSM, PKCS#11 token, AWS KMS), addressed as the user wrote it."""

    def __init__(self, backend: Any, key_id: str, counter: Counter, ref: str | None = None) -> None:
        self.backend = backend
        self.key_id = key_id
        self.counter = counter
        self.ref = ref or key_id
        self.provider_id = PROVIDER_BY_KIND.get(getattr(backend, "kind", ""), f"kmstui-{backend.kind}")
        self.label = f"{backend.kind} key {self.ref}"
        self.arn: str | None = key_id if key_id.startswith("arn:") and ":key/" in key_id else None

    def _ctx(self, context: dict[str, str]) -> dict[str, Any]:
        return {"EncryptionContext": dict(context)} if context else {}

    def generate(self, suite, context):
        self.counter.calls += 1
        resp = self.backend.generate_data_key(KeyId=self.key_id, NumberOfBytes=suite.key_len, **self._ctx(context))
        data_key = bytearray(resp["Plaintext"])
        del resp["Plaintext"]
        self.arn = resp.get("KeyId") or self.arn
        return data_key, EncryptedDataKey(self.provider_id, (self.arn or self.key_id).encode(), resp["CiphertextBlob"])

    def wrap(self, data_key, context):
        self.counter.calls += 1
        resp = self.backend.encrypt(KeyId=self.key_id, Plaintext=bytes(data_key), **self._ctx(context))
        self.arn = resp.get("KeyId") or self.arn
        return EncryptedDataKey(self.provider_id, (self.arn or self.key_id).encode(), resp["CiphertextBlob"])

    def resolve_arn(self) -> str:
        """The key ARN (aliases and ids resolved with one DescribeKey), used to match EDKs strictly."""
        if self.arn is None:
            self.counter.calls += 1
            self.arn = self.backend.describe_key(KeyId=self.key_id)["KeyMetadata"]["Arn"]
        return self.arn

    def matches(self, edk):
        return edk.provider_id == self.provider_id and edk.provider_info.decode("utf-8", "replace") == self.resolve_arn()

    def unwrap(self, edk, context):
        self.counter.calls += 1
        resp = self.backend.decrypt(CiphertextBlob=edk.ciphertext, KeyId=edk.provider_info.decode("utf-8"),
                                    **self._ctx(context))
        if resp.get("KeyId") and resp["KeyId"] != edk.provider_info.decode("utf-8", "replace"):
            raise KMSError(f"backend answered with key {resp['KeyId']}, not the key named in the data key")
        key = bytearray(resp["Plaintext"])
        del resp["Plaintext"]
        return key


class DiscoveryKeyring(BackendKeyring):
    """Decrypt-only: any EDK of this backend's provider id, with the key ARN the EDK names. The backend
    (its key policies, the caller's rights) decides; `allow` (ARNs), when given, limits which keys are tried."""

    def __init__(self, backend: Any, counter: Counter, allow: frozenset[str] | None = None) -> None:
        super().__init__(backend, "*", counter, ref="(discovery)")
        self.allow = allow
        self.label = f"{backend.kind} backend (discovery)"

    def matches(self, edk):
        if edk.provider_id != self.provider_id:
            return False
        return self.allow is None or edk.provider_info.decode("utf-8", "replace") in self.allow

    def generate(self, suite, context):
        raise UsageError("discovery mode only decrypts; name a key with --key-id to encrypt")

    wrap = generate  # type: ignore[assignment]
