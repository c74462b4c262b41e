"""CreateKey's KeyUsage rules, shared by every backend that creates keys.

The KMS API reference (CreateKey, KeyUsage): "The default value is ENCRYPT_DECRYPT. This parameter is optional
when you are creating a symmetric encryption KMS key; otherwise, it is required." So only SYMMETRIC_DEFAULT may
leave it out; any other key spec without a KeyUsage is a ValidationException, never a silent default. The
usages each spec allows are the reference's list: RSA ENCRYPT_DECRYPT or SIGN_VERIFY, NIST elliptic curves
SIGN_VERIFY or KEY_AGREEMENT, ECC_SECG_P256K1 SIGN_VERIFY, HMAC GENERATE_VERIFY_MAC.
"""

from __future__ import annotations

from typing import Iterable

from kmstui.errors import ValidationException

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"
USAGES = (ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT)

REQUIRED = "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."


def key_usage(spec: str, usage: str | None, allowed: Iterable[str]) -> str:
    """The KeyUsage a CreateKey request gets for `spec`, or KMS's ValidationException."""
    if usage is None:
        if spec != SYMMETRIC_DEFAULT:
            raise ValidationException(f"{REQUIRED} ({spec} allows {' or '.join(allowed)})")
        usage = ENCRYPT_DECRYPT
    if usage not in USAGES:
        raise ValidationException(f"1 validation error detected: Value '{usage}' at 'keyUsage' failed to satisfy "
                                  f"constraint: Member must satisfy enum value set: [{', '.join(USAGES)}]")
    if usage not in tuple(allowed):
        raise ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
    return usage
