"""The AWS Encryption SDK's raw keyrings, for offline escrow and interop: raw AES keys (AES-GCM wrapping,
framework/raw-aes-keyring.md) and raw RSA keys (framework/raw-rsa-keyring.md), with the namespace and key
name chosen by the user exactly as the SDK's raw keyrings expect, and --raw-key file loading.

A module of its own so that commands without --raw-key never load it (nor the serialization package).
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

from kmstui.errors import UsageError
from kmstui_envelope.header import EncryptedDataKey, serialize_context
from kmstui_envelope.keyrings import Keyring

RAW_DEFAULT_NAMESPACE = "kmstui-raw"
RSA_PADDINGS = ("pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512")


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
