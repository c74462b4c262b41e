"""Key specs and the cryptography behind them: generation, symmetric blobs, RSA/ECC signing and
encryption, HMAC, public keys. Private material is serialised as PKCS#8 DER (asymmetric) or raw bytes.

cryptography's asymmetric modules (ec, rsa, padding, serialization) are imported by the functions that use
them: the symmetric calls every command makes (Encrypt, GenerateDataKey, Decrypt) then start without them."""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui.backends.local import blob as blobfmt
from kmstui.errors import (InvalidCiphertextException, InvalidKeyUsageException, KMSInvalidMacException,
                           KMSInvalidSignatureException, ValidationException)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import padding

ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"

_HASHES = {"SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512, "SHA_1": hashes.SHA1}
_RSA_SIGN = [f"RSASSA_{kind}_{h}" for kind in ("PSS", "PKCS1_V1_5") for h in ("SHA_256", "SHA_384", "SHA_512")]
_RSA_ENC = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
_CURVE_HASH = {"ECC_NIST_P256": "SHA_256", "ECC_NIST_P384": "SHA_384", "ECC_NIST_P521": "SHA_512",
               "ECC_SECG_P256K1": "SHA_256"}  # each ECC key spec's signing hash


def _curve(name: str):
    """The cryptography curve class of an ECC key spec."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1, "ECC_NIST_P521": ec.SECP521R1,
            "ECC_SECG_P256K1": ec.SECP256K1}[name]


def material_id(doc: dict, version: int | None = None) -> str | None:
    """KMS's KeyMaterialId (64 lowercase hex digits) of one version of a symmetric encryption key's material,
    None when the key has none (PendingImport) or is not a symmetric encryption key (KMS lists the id only
    for those). An identifier, not a fingerprint of the secret: derived from the key id and version, or for
    imported material from its keyed fingerprint, so re-importing the same material keeps its id."""
    version = doc.get("Version") if version is None else version
    if doc.get("KeySpec") != "SYMMETRIC_DEFAULT" or doc.get("KeyUsage") != ENCRYPT_DECRYPT or not version:
        return None
    imported = doc.get("MaterialFingerprint") if doc.get("Origin") == "EXTERNAL" else None
    return _material_id(doc["KeyId"], version, imported or None)


@lru_cache(maxsize=4096)
def _material_id(key_id: str, version: int, fingerprint: str | None) -> str:
    if fingerprint:
        seed = f"kmstui-key-material/imported/{key_id}/{fingerprint}"
    else:
        seed = f"kmstui-key-material/{key_id}/{version}"
    return hashlib.sha256(seed.encode()).hexdigest()


# A NamedTuple rather than a dataclass: it is defined at every command's start-up, for a fifth of the cost.
class Spec(NamedTuple):
    name: str
    usages: tuple[str, ...]
    kind: str  # "aes", "hmac", "rsa", "ecc"
    size: int = 0  # bytes for aes/hmac, bits for rsa
    mac_algorithm: str | None = None

    def encryption_algorithms(self, usage: str) -> list[str]:
        if usage != ENCRYPT_DECRYPT:
            return []
        return ["SYMMETRIC_DEFAULT"] if self.kind == "aes" else _RSA_ENC if self.kind == "rsa" else []

    def signing_algorithms(self, usage: str) -> list[str]:
        if usage != SIGN_VERIFY:
            return []
        if self.kind == "rsa":
            return list(_RSA_SIGN)
        return [f"ECDSA_{_CURVE_HASH[self.name]}"] if self.kind == "ecc" else []

    def key_agreement_algorithms(self, usage: str) -> list[str]:
        return ["ECDH"] if usage == KEY_AGREEMENT else []

    def mac_algorithms(self) -> list[str]:
        return [self.mac_algorithm] if self.mac_algorithm else []


SPECS: dict[str, Spec] = {
    "SYMMETRIC_DEFAULT": Spec("SYMMETRIC_DEFAULT", (ENCRYPT_DECRYPT,), "aes", 32),
    "HMAC_224": Spec("HMAC_224", (GENERATE_VERIFY_MAC,), "hmac", 28, "HMAC_SHA_224"),
    "HMAC_256": Spec("HMAC_256", (GENERATE_VERIFY_MAC,), "hmac", 32, "HMAC_SHA_256"),
    "HMAC_384": Spec("HMAC_384", (GENERATE_VERIFY_MAC,), "hmac", 48, "HMAC_SHA_384"),
    "HMAC_512": Spec("HMAC_512", (GENERATE_VERIFY_MAC,), "hmac", 64, "HMAC_SHA_512"),
    **{f"RSA_{bits}": Spec(f"RSA_{bits}", (ENCRYPT_DECRYPT, SIGN_VERIFY), "rsa", bits) for bits in (2048, 3072, 4096)},
    # CreateKey: "For asymmetric KMS keys with NIST-standard elliptic curve key pairs, specify SIGN_VERIFY or
    # KEY_AGREEMENT. For asymmetric KMS keys with ECC_SECG_P256K1 key pairs, specify SIGN_VERIFY."
    **{name: Spec(name, (SIGN_VERIFY,) if name == "ECC_SECG_P256K1" else (SIGN_VERIFY, KEY_AGREEMENT), "ecc")
       for name in _CURVE_HASH},
}
_MAC_DIGEST = {"HMAC_SHA_224": "sha224", "HMAC_SHA_256": "sha256", "HMAC_SHA_384": "sha384", "HMAC_SHA_512": "sha512"}


def spec(name: str) -> Spec:
    try:
        return SPECS[name]
    except KeyError:
        raise ValidationException(f"KeySpec {name!r} is not supported; use one of {', '.join(SPECS)}") from None


def generate(s: Spec) -> bytes:
    if s.kind in ("aes", "hmac"):
        return os.urandom(s.size)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if s.kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=s.size)
    else:
        private = ec.generate_private_key(_curve(s.name)())
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@lru_cache(maxsize=4096)
def _aead(material: bytes) -> AESGCM:
    return AESGCM(material)


@lru_cache(maxsize=256)
def private_key(material: bytes):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(material, password=None)


def forget_cached() -> None:
    """Drop every cached AES and private key object (they hold key material) when a file is sealed."""
    _aead.cache_clear()
    private_key.cache_clear()


def public_key_der(s: Spec, material: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key(material).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- symmetric blobs -------------------------------------------------------------------------------
def seal_blob(material: bytes, key_id: str, version: int, plaintext: bytes, aad_context: bytes) -> bytes:
    iv = os.urandom(blobfmt.IV_LEN)
    header = blobfmt.pack_header(key_id, version, iv)
    return header + _aead(material).encrypt(iv, plaintext, header + aad_context)


def open_blob(material: bytes, parsed: blobfmt.Blob, aad_context: bytes) -> bytes:
    try:
        return _aead(material).decrypt(parsed.iv, parsed.body, parsed.header + aad_context)
    except InvalidTag:
        raise InvalidCiphertextException(
            "the ciphertext or its encryption context is wrong (authentication failed)") from None


# -- RSA encryption -------------------------------------------------------------------------------
def _oaep(algorithm: str) -> padding.OAEP:
    from cryptography.hazmat.primitives.asymmetric import padding

    h = _HASHES[algorithm.rsplit("OAEP_", 1)[1]]()
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def rsa_encrypt(material: bytes, algorithm: str, plaintext: bytes) -> bytes:
    key = private_key(material).public_key()
    limit = key.key_size // 8 - 2 * _oaep(algorithm).algorithm.digest_size - 2
    if len(plaintext) > limit:
        raise ValidationException(f"plaintext too long for {algorithm} with this key (at most {limit} bytes)")
    return key.encrypt(plaintext, _oaep(algorithm))


def rsa_decrypt(material: bytes, algorithm: str, ciphertext: bytes) -> bytes:
    try:
        return private_key(material).decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise InvalidCiphertextException("the ciphertext cannot be decrypted with this key and algorithm") from None


# -- signatures -----------------------------------------------------------------------------------
def _sig_parts(s: Spec, algorithm: str):
    if algorithm not in s.signing_algorithms(SIGN_VERIFY):
        raise InvalidKeyUsageException(
            f"SigningAlgorithm {algorithm} is not valid for {s.name} keys; use one of {', '.join(s.signing_algorithms(SIGN_VERIFY))}")
    return _HASHES[algorithm[-7:]]()


def _prehash(h, message: bytes, message_type: str):
    from cryptography.hazmat.primitives.asymmetric import utils

    if message_type == "DIGEST":
        if len(message) != h.digest_size:
            raise ValidationException(f"a DIGEST message for this algorithm must be {h.digest_size} bytes")
        return message, utils.Prehashed(h)
    if message_type != "RAW":
        raise ValidationException("MessageType must be RAW or DIGEST")
    return message, h


def _rsa_padding(algorithm: str, h):
    from cryptography.hazmat.primitives.asymmetric import padding

    if "PSS" in algorithm:
        return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
    return padding.PKCS1v15()


def sign(s: Spec, material: bytes, algorithm: str, message: bytes, message_type: str) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec

    h = _sig_parts(s, algorithm)
    message, alg = _prehash(h, message, message_type)
    key = private_key(material)
    if s.kind == "rsa":
        return key.sign(message, _rsa_padding(algorithm, h), alg)
    return key.sign(message, ec.ECDSA(alg))


def verify(s: Spec, material: bytes, algorithm: str, message: bytes, message_type: str, signature: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    h = _sig_parts(s, algorithm)
    message, alg = _prehash(h, message, message_type)
    key = private_key(material).public_key()
    try:
        if s.kind == "rsa":
            key.verify(signature, message, _rsa_padding(algorithm, h), alg)
        else:
            key.verify(signature, message, ec.ECDSA(alg))
    except InvalidSignature:
        raise KMSInvalidSignatureException("the signature does not verify for this key, message and algorithm") from None


# -- key agreement --------------------------------------------------------------------------------
def derive_shared_secret(s: Spec, material: bytes, peer_public_key: bytes) -> bytes:
    """ECDH between the key's private key and a peer's DER SubjectPublicKeyInfo on the same curve."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        peer = serialization.load_der_public_key(peer_public_key)
    except (ValueError, TypeError):
        raise ValidationException("PublicKey is not a DER-encoded X.509 public key (SubjectPublicKeyInfo); "
                                  "GetPublicKey returns one in that format") from None
    curve = _curve(s.name)
    if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(peer.curve, curve):
        raise ValidationException(f"PublicKey is not on the key's curve: both key pairs must use {s.name}")
    return private_key(material).exchange(ec.ECDH(), peer)


# -- HMAC -----------------------------------------------------------------------------------------
def _check_mac_alg(s: Spec, algorithm: str) -> str:
    if algorithm != s.mac_algorithm:
        raise InvalidKeyUsageException(f"MacAlgorithm {algorithm} is not valid for {s.name} keys; use {s.mac_algorithm}")
    return _MAC_DIGEST[algorithm]


def generate_mac(s: Spec, material: bytes, algorithm: str, message: bytes) -> bytes:
    return hmac.new(material, message, _check_mac_alg(s, algorithm)).digest()


def verify_mac(s: Spec, material: bytes, algorithm: str, message: bytes, mac: bytes) -> None:
    expected = hmac.new(material, message, _check_mac_alg(s, algorithm)).digest()
    if not hmac.compare_digest(expected, mac):
        raise KMSInvalidMacException("the MAC does not verify for this key and message")
