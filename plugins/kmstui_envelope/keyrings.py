"""Wrapping keys ("keyrings"): backend keys through the kmstui Backend interface, and the SDK's raw AES and
raw RSA keyrings for offline escrow and interop.

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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui.errors import KMSError, UsageError
from kmstui_envelope.header import EncryptedDataKey, serialize_context
from kmstui_envelope.suites import Suite

PROVIDER_BY_KIND = {"aws": "aws-kms", "local": "kmstui-local", "pkcs11": "kmstui-pkcs11"}
BACKEND_PROVIDERS = frozenset(PROVIDER_BY_KIND.values())
RAW_DEFAULT_NAMESPACE = "kmstui-raw"
RSA_PADDINGS = ("pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512")


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


# -- raw keys --------------------------------------------------------------------------------------------
@dataclass
class RawAesKeyring(Keyring):
    namespace: str
    name: str
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) not in (16, 24, 32):
            raise UsageError(f"raw AES key '{self.name}' is {len(self.key)} bytes; use 16, 24 or 32")
        _check_namespace(self.namespace)
        self.label = f"raw AES key {self.namespace}/{self.name}"

    def wrap(self, data_key, context):
        iv = os.urandom(12)
        ct = AESGCM(self.key).encrypt(iv, bytes(data_key), serialize_context(context))
        info = self.name.encode() + (128).to_bytes(4, "big") + (12).to_bytes(4, "big") + iv
        return EncryptedDataKey(self.namespace, info, ct)

    def matches(self, edk):
        name = self.name.encode()
        info = edk.provider_info
        return (edk.provider_id == self.namespace and len(info) == len(name) + 20 and info.startswith(name)
                and info[len(name):len(name) + 8] == b"\0\0\0\x80\0\0\0\x0c")

    def unwrap(self, edk, context):
        iv = edk.provider_info[-12:]
        try:
            return bytearray(AESGCM(self.key).decrypt(iv, edk.ciphertext, serialize_context(context)))
        except InvalidTag:
            raise ValueError(f"{self.label} does not open this data key (wrong key or encryption context)") from None


@dataclass
class RawRsaKeyring(Keyring):
    namespace: str
    name: str
    public: Any
    private: Any = None
    padding_name: str = "oaep-sha256"

    def __post_init__(self) -> None:
        _check_namespace(self.namespace)
        if self.padding_name not in RSA_PADDINGS:
            raise UsageError(f"RSA padding '{self.padding_name}': use one of {', '.join(RSA_PADDINGS)}")
        self.label = f"raw RSA key {self.namespace}/{self.name} ({self.padding_name})"

    def _padding(self):
        if self.padding_name == "pkcs1":
            return padding.PKCS1v15()
        algo = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
                "sha512": hashes.SHA512}[self.padding_name.split("-")[1]]()
        return padding.OAEP(mgf=padding.MGF1(algo), algorithm=algo, label=None)

    def wrap(self, data_key, context):
        if self.public is None:
            raise UsageError(f"{self.label}: no public key to encrypt with")
        return EncryptedDataKey(self.namespace, self.name.encode(), self.public.encrypt(bytes(data_key), self._padding()))

    def matches(self, edk):
        return edk.provider_id == self.namespace and edk.provider_info == self.name.encode()

    def unwrap(self, edk, context):
        if self.private is None:
            raise UsageError(f"{self.label}: a private key is needed to decrypt (the file holds only the public key)")
        try:
            return bytearray(self.private.decrypt(edk.ciphertext, self._padding()))
        except ValueError:
            raise ValueError(f"{self.label} does not open this data key") from None


def _check_namespace(namespace: str) -> None:
    if namespace.startswith("aws-kms"):
        raise UsageError(f"raw key namespace '{namespace}' is reserved for AWS KMS keys; choose another")
    if not namespace.isascii():
        raise UsageError("raw key namespaces must be ASCII (older SDKs mis-encode other characters)")


# A raw key file is a few hundred bytes (an RSA-4096 PEM private key is about 3.3 KB): read no more than this.
MAX_KEY_FILE = 64 * 1024
KEY_FORMATS = ("raw", "hex", "base64")


def load_raw_key(spec: str) -> Keyring:
    """--raw-key PATH[,name=NAME][,namespace=NS][,padding=P][,format=raw|hex|base64]: a raw AES key
    (16/24/32 bytes: a binary file, or hex/base64 text) or an RSA key in PEM/DER (private: encrypt+decrypt;
    public: encrypt only)."""
    from kmstui.commands.values import read_bounded

    path_text, *opts = spec.split(",")
    options: dict[str, str] = {}
    for opt in opts:
        k, sep, v = opt.partition("=")
        if not sep or k.strip() not in ("name", "namespace", "padding", "format"):
            raise UsageError(f"--raw-key {spec}: options are name=, namespace=, padding= and format= (got '{opt}')")
        options[k.strip()] = v.strip()
    if options.get("format", "raw") not in KEY_FORMATS:
        raise UsageError(f"--raw-key {path_text}: format= is one of {', '.join(KEY_FORMATS)}")
    path = Path(path_text).expanduser()
    data = read_bounded(None, str(path), f"--raw-key {path}", MAX_KEY_FILE)
    name = options.get("name") or path.name
    namespace = options.get("namespace") or RAW_DEFAULT_NAMESPACE
    rsa_key = _load_rsa(data) if "format" not in options else None
    if rsa_key is not None:
        private = rsa_key if isinstance(rsa_key, rsa.RSAPrivateKey) else None
        public = private.public_key() if private is not None else rsa_key
        return RawRsaKeyring(namespace, name, public, private, options.get("padding", "oaep-sha256"))
    if "padding" in options:
        raise UsageError(f"--raw-key {path}: padding= applies to RSA keys; this file is not an RSA key")
    return RawAesKeyring(namespace, name, _aes_bytes(data, path, options.get("format")))


def _load_rsa(data: bytes) -> Any:
    loaders = (
        lambda d: serialization.load_pem_private_key(d, None),
        lambda d: serialization.load_pem_public_key(d),
        lambda d: serialization.load_der_private_key(d, None),
        lambda d: serialization.load_der_public_key(d),
    )
    for load in loaders:
        try:
            key = load(data)
        except (ValueError, TypeError, Exception):  # noqa: BLE001 - try the next encoding
            continue
        if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
            return key
    return None


_HEX = re.compile(rb"(?:[0-9A-Fa-f]{2})+")
_B64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


def _aes_bytes(data: bytes, path: Path, fmt: str | None) -> bytes:
    """The AES key in a key file. A text file (printable ASCII; surrounding whitespace ignored) is hex or
    base64 and never used as the key bytes themselves, so 32 hex digits are the 16-byte key they spell, not
    a 32-byte key of digit characters; a binary file is the key bytes. `format=` says it outright."""
    import base64

    text = data.strip()
    is_text = bool(text) and all(0x20 <= b <= 0x7E or b in b"\t\r\n" for b in text)
    fmt = fmt or ("text" if is_text else "raw")
    key = None
    if fmt == "raw":
        key = data
    elif fmt in ("hex", "text") and _HEX.fullmatch(text):
        key = bytes.fromhex(text.decode("ascii"))
    elif fmt in ("base64", "text") and _B64.fullmatch(text) and len(text) % 4 == 0:
        key = base64.b64decode(text, validate=True)
    if key is not None and len(key) in (16, 24, 32):
        return key
    if fmt == "raw":
        raise UsageError(f"--raw-key {path}: not an RSA key (PEM/DER) and not a 16/24/32-byte AES key "
                         f"(the file has {len(data)} bytes; a key as text must be hex or base64)")
    got = f"{len(key)} bytes" if key is not None else f"not {'hex or base64' if fmt == 'text' else fmt}"
    raise UsageError(f"--raw-key {path}: the file holds text ({got}); an AES key in text is 16/24/32 bytes in "
                     "hex or base64 (a binary key file holds the bytes themselves)")
