"""KMS key specs and signing algorithms mapped onto PKCS#11 mechanisms that SoftHSM2 (and most HSMs) have.

Tokens commonly lack hash-and-sign ECDSA (SoftHSM has only raw CKM_ECDSA) and differ in PSS defaults, so
kmstui always hashes on the client and hands the token a digest: CKM_ECDSA (raw r||s, converted to the DER
that KMS returns), CKM_RSA_PKCS over a DigestInfo, CKM_RSA_PKCS_PSS with the salt as long as the hash
(as KMS does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kmstui.backends import keyusage
from kmstui.errors import InvalidKeyUsageException, UnsupportedOperationException, ValidationException

SYMMETRIC = "SYMMETRIC_DEFAULT"


@dataclass(frozen=True)
class KeySpec:
    name: str
    kind: str  # "aes", "rsa", "ec"
    bits: int = 0
    curve: str = ""  # asn1crypto / OpenSSL curve name
    usages: tuple[str, ...] = ("SIGN_VERIFY",)


KEY_SPECS = {
    SYMMETRIC: KeySpec(SYMMETRIC, "aes", 256, usages=("ENCRYPT_DECRYPT",)),
    "RSA_2048": KeySpec("RSA_2048", "rsa", 2048, usages=("SIGN_VERIFY", "ENCRYPT_DECRYPT")),
    "RSA_3072": KeySpec("RSA_3072", "rsa", 3072, usages=("SIGN_VERIFY", "ENCRYPT_DECRYPT")),
    "RSA_4096": KeySpec("RSA_4096", "rsa", 4096, usages=("SIGN_VERIFY", "ENCRYPT_DECRYPT")),
    "ECC_NIST_P256": KeySpec("ECC_NIST_P256", "ec", 256, "secp256r1"),
    "ECC_NIST_P384": KeySpec("ECC_NIST_P384", "ec", 384, "secp384r1"),
    "ECC_NIST_P521": KeySpec("ECC_NIST_P521", "ec", 521, "secp521r1"),
    "ECC_SECG_P256K1": KeySpec("ECC_SECG_P256K1", "ec", 256, "secp256k1"),
    **{f"HMAC_{b}": KeySpec(f"HMAC_{b}", "hmac", b, usages=("GENERATE_VERIFY_MAC",)) for b in (224, 256, 384, 512)},
}

HASHES = {"SHA_256": hashlib.sha256, "SHA_384": hashlib.sha384, "SHA_512": hashlib.sha512}

# DER DigestInfo prefixes (RFC 8017 section 9.2, note 1) for RSASSA-PKCS1-v1_5 over a client-side digest.
DIGEST_INFO = {
    "SHA_256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "SHA_384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "SHA_512": bytes.fromhex("3051300d060960864801650304020305000440"),
}

RSA_SIGNING = [f"RSASSA_{pad}_{h}" for pad in ("PSS", "PKCS1_V1_5") for h in HASHES]
# KMS pairs each curve with one hash.
EC_SIGNING = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_SECG_P256K1": "ECDSA_SHA_256",
              "ECC_NIST_P384": "ECDSA_SHA_384", "ECC_NIST_P521": "ECDSA_SHA_512"}
RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1"]  # SoftHSM's OAEP accepts only SHA-1


def spec(name: str | None, usage: str | None) -> tuple[KeySpec, str]:
    """Validate KeySpec/KeyUsage for CreateKey; returns the spec and the effective usage."""
    ks = KEY_SPECS.get(name or SYMMETRIC)
    if ks is None:
        raise ValidationException(f"KeySpec {name!r} is not supported by pkcs11 backends "
                                  f"(supported: {', '.join(KEY_SPECS)})")
    if usage == keyusage.KEY_AGREEMENT and ks.kind == "ec":
        raise UnsupportedOperationException("KEY_AGREEMENT keys (DeriveSharedSecret) are not supported by pkcs11 "
                                            "backends; use the local or aws backend")
    return ks, keyusage.key_usage(ks.name, usage, ks.usages)


def mac_algorithm(ks: KeySpec, algorithm: str) -> str:
    """Check MacAlgorithm suits the HMAC key (KMS pairs each HMAC key spec with one); returns the hash bits."""
    expected = f"HMAC_SHA_{ks.bits}"
    if ks.kind != "hmac" or algorithm != expected:
        raise InvalidKeyUsageException(f"MacAlgorithm {algorithm} is not valid for a {ks.name} key"
                                       + (f" (use {expected})" if ks.kind == "hmac" else ""))
    return str(ks.bits)


def signing_algorithms(ks: KeySpec) -> list[str]:
    if ks.kind == "rsa":
        return list(RSA_SIGNING)
    if ks.kind == "ec":
        return [EC_SIGNING[ks.name]]
    return []


def digest_for(algorithm: str, ks: KeySpec, message: bytes, message_type: str | None) -> tuple[str, bytes]:
    """Check `algorithm` suits the key and return (hash name, digest of the message)."""
    if algorithm not in signing_algorithms(ks):
        raise InvalidKeyUsageException(f"signing algorithm {algorithm} is not valid for a {ks.name} key "
                                       f"(valid: {', '.join(signing_algorithms(ks))})")
    hash_name = algorithm[-7:]
    hasher = HASHES[hash_name]
    message_type = message_type or "RAW"
    if message_type == "RAW":
        if len(message) > 4096:
            raise ValidationException("Message must be at most 4096 bytes; sign a digest with MessageType DIGEST")
        return hash_name, hasher(message).digest()
    if message_type == "DIGEST":
        if len(message) != hasher().digest_size:
            raise ValidationException(f"a {hash_name} digest is {hasher().digest_size} bytes, not {len(message)}")
        return hash_name, message
    raise ValidationException(f"MessageType {message_type} is not supported by pkcs11 backends (RAW or DIGEST)")


def ecdsa_to_der(raw: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def ecdsa_from_der(der: bytes, ks: KeySpec) -> bytes | None:
    """DER signature -> the raw r||s the token verifies; None if it is not a well-formed DER signature."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    size = (ks.bits + 7) // 8
    try:
        r, s = decode_dss_signature(der)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    except (ValueError, OverflowError):
        return None
