"""The AWS Encryption SDK algorithm suites: what each suite ID means for keys, KDF, commitment and signing.

Source: aws-encryption-sdk-specification framework/algorithm-suites.md and transitive-requirements.md.
All suites use AES-GCM with a 12-byte IV and a 16-byte tag. Version-2 (committing) suites are the only
ones kmstui writes; the others are read only when legacy suites are explicitly allowed, mirroring the SDK's
REQUIRE_ENCRYPT_ALLOW_DECRYPT commitment policy.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, NamedTuple

from kmstui_envelope.errors import MessageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

IV_LEN = 12
TAG_LEN = 16


class Suite(NamedTuple):
    """One algorithm suite: what its ID means for key length, KDF, key commitment and signing."""

    id: int
    name: str
    key_len: int  # data key and encryption key length, bytes
    kdf: str | None  # None (identity), "sha256", "sha384", "sha512"
    committing: bool
    curve: str | None  # None, "p256", "p384"

    @property
    def version(self) -> int:
        return 2 if self.committing else 1

    @property
    def message_id_len(self) -> int:
        return 32 if self.committing else 16

    @property
    def suite_data_len(self) -> int:
        return 32 if self.committing else 0

    @property
    def signed(self) -> bool:
        return self.curve is not None

    @property
    def hex(self) -> str:
        return f"0x{self.id:04X}"

    @property
    def signature_len(self) -> int:
        """The fixed DER length the SDKs produce (and kmstui too), so message sizes are predictable."""
        return {"p256": 71, "p384": 103}.get(self.curve or "", 0)

    # Signed and legacy suites only: their cryptography modules load on first use (the default suite
    # derives with hmac alone).
    def curve_obj(self) -> ec.EllipticCurve:
        from cryptography.hazmat.primitives.asymmetric import ec

        return ec.SECP256R1() if self.curve == "p256" else ec.SECP384R1()

    def hash_obj(self) -> hashes.HashAlgorithm:
        """The signature's hash (footer)."""
        from cryptography.hazmat.primitives import hashes

        return hashes.SHA256() if self.curve == "p256" else hashes.SHA384()

    def derive(self, data_key: bytes | bytearray, message_id: bytes) -> tuple[bytes, bytes | None]:
        """(encryption key, commitment key or None) from the plaintext data key, per the spec's HKDF rules."""
        if len(data_key) != self.key_len:
            raise MessageError(f"data key is {len(data_key)} bytes; suite {self.hex} needs {self.key_len}",
                               "key")
        if self.kdf is None:
            return bytes(data_key), None
        if not self.committing:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[self.kdf]
            info = self.id.to_bytes(2, "big") + message_id
            return HKDF(algo, self.key_len, None, info).derive(bytes(data_key)), None
        # Committing: one extract (salt = message ID), two expands (spec: SHOULD extract once). Each
        # expand wants 32 bytes, less than one SHA-512 block, so HKDF-Expand (RFC 5869 2.3) is its first
        # block: T(1) = HMAC(PRK, info | 0x01), truncated; computed directly, as it runs once per message.
        # Both expands start from one HMAC keyed with the PRK (copied: a key set-up, not two).
        prk = hmac.digest(message_id, bytes(data_key), "sha512")
        expand = hmac.new(prk, digestmod="sha512")
        enc_mac = expand.copy()
        enc_mac.update(self.id.to_bytes(2, "big") + b"DERIVEKEY\x01")
        expand.update(b"COMMITKEY\x01")
        return enc_mac.digest()[:32], expand.digest()[:32]


_ALL = (
    Suite(0x0014, "AES_128_GCM_IV12_TAG16_NO_KDF", 16, None, False, None),
    Suite(0x0046, "AES_192_GCM_IV12_TAG16_NO_KDF", 24, None, False, None),
    Suite(0x0078, "AES_256_GCM_IV12_TAG16_NO_KDF", 32, None, False, None),
    Suite(0x0114, "AES_128_GCM_IV12_TAG16_HKDF_SHA256", 16, "sha256", False, None),
    Suite(0x0146, "AES_192_GCM_IV12_TAG16_HKDF_SHA256", 24, "sha256", False, None),
    Suite(0x0178, "AES_256_GCM_IV12_TAG16_HKDF_SHA256", 32, "sha256", False, None),
    Suite(0x0214, "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", 16, "sha256", False, "p256"),
    Suite(0x0346, "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 24, "sha384", False, "p384"),
    Suite(0x0378, "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 32, "sha384", False, "p384"),
    Suite(0x0478, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", 32, "sha512", True, None),
    Suite(0x0578, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", 32, "sha512", True, "p384"),
)
SUITES: dict[int, Suite] = {s.id: s for s in _ALL}
DEFAULT_SUITE = SUITES[0x0478]
SIGNED_SUITE = SUITES[0x0578]
# Names accepted by --suite (besides the hex id).
SUITE_ALIASES = {"committing": 0x0478, "committing-signed": 0x0578, "signed": 0x0578}


def suite_by_id(suite_id: int, *, allow_legacy: bool) -> Suite:
    suite = SUITES.get(suite_id)
    if suite is None:
        raise MessageError(f"unknown algorithm suite 0x{suite_id:04X} (not an AWS Encryption SDK suite)",
                           "unsupported")
    if not suite.committing and not allow_legacy:
        raise MessageError(f"message uses legacy non-committing suite {suite.hex} ({suite.name}); "
                           "re-run with --allow-legacy if you trust its origin", "unsupported")
    return suite


def parse_suite(text: str) -> Suite:
    """--suite value: 0x0478, 0478, 1144 (decimal), or a name; kmstui writes committing suites only."""
    from kmstui.errors import UsageError

    t = text.strip().lower()
    sid = SUITE_ALIASES.get(t)
    if sid is None:
        try:
            sid = int(t, 16) if t.startswith("0x") or len(t) == 4 else int(t)
        except ValueError:
            sid = next((s.id for s in _ALL if s.name.lower() == t), None)
    suite = SUITES.get(sid) if sid is not None else None
    if suite is None or not suite.committing:
        raise UsageError(f"--suite {text}: kmstui writes 0x0478 (committing, default) or 0x0578 "
                         "(committing, ECDSA P-384 signed)")
    return suite
