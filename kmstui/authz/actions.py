"""The KMS action catalogue: every permission name, which ones work cross-account, which need no key, which
grants may carry, and which take an encryption context.

The evaluator needs these lists because AWS's answer depends on them independently of any policy: a
cross-account PutKeyPolicy fails whatever the policies say, a grant can never carry RevokeGrant, and a grant's
encryption-context constraint binds only operations that take a context.
"""

from __future__ import annotations

# Operations on a KMS key (the key policy applies).
KEY_ACTIONS = (
    "CancelKeyDeletion", "CreateAlias", "CreateGrant", "Decrypt", "DeleteAlias",
    "DeleteImportedKeyMaterial", "DeriveSharedSecret", "DescribeKey", "DisableKey", "DisableKeyRotation",
    "EnableKey", "EnableKeyRotation", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac", "GetKeyPolicy",
    "GetKeyRotationStatus", "GetParametersForImport", "GetPublicKey", "ImportKeyMaterial", "ListGrants",
    "ListKeyPolicies", "ListKeyRotations", "ListResourceTags", "PutKeyPolicy", "ReEncryptFrom", "ReEncryptTo",
    "ReplicateKey", "RetireGrant", "RevokeGrant", "RotateKeyOnDemand", "ScheduleKeyDeletion", "Sign",
    "SynchronizeMultiRegionKey", "TagResource", "UntagResource", "UpdateAlias", "UpdateKeyDescription",
    "UpdatePrimaryRegion", "Verify", "VerifyMac",
)

# Operations that involve no key: only IAM policies decide them.
KEYLESS_ACTIONS = (
    "ConnectCustomKeyStore", "CreateCustomKeyStore", "CreateKey", "DeleteCustomKeyStore", "DescribeCustomKeyStores", "DisconnectCustomKeyStore",
    "GenerateRandom", "ListAliases", "ListKeys", "ListRetirableGrants", "UpdateCustomKeyStore",
)

ALL_ACTIONS = tuple(sorted(set(KEY_ACTIONS) | set(KEYLESS_ACTIONS)))

# The only operations that can succeed when the caller's account does not own the key [kms-authz.md §1.3].
CROSS_ACCOUNT_ACTIONS = frozenset({
    "Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "Sign", "Verify",
    "DeriveSharedSecret", "CreateGrant", "DescribeKey", "GetKeyRotationStatus", "GetPublicKey", "ListGrants",
    "RetireGrant", "RevokeGrant",
})

# Operations a grant may list (CreateGrant rejects any other with ValidationException) [§5.1].
GRANT_OPERATIONS = (
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext", "GenerateMac", "ReEncryptFrom", "ReEncryptTo", "Sign", "Verify",
    "VerifyMac", "CreateGrant", "DescribeKey", "GetPublicKey", "RetireGrant", "DeriveSharedSecret",
)
GRANT_OPERATION_SET = frozenset(GRANT_OPERATIONS)

# Grant operations whose requests carry an encryption context, so grant constraints bind them [§5.3].
CONTEXT_OPERATIONS = frozenset({
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
})

# Operations after which kms:GrantIsForAWSResource is in the request context.
GRANT_MANAGEMENT_ACTIONS = frozenset({"CreateGrant", "ListGrants", "RevokeGrant"})

# Console default key policy groups, used by lint and the matrix to label principals.
CRYPTO_ACTIONS = frozenset({
    "Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "Sign", "Verify",
    "DeriveSharedSecret",
})

_BY_LOWER = {a.lower(): a for a in ALL_ACTIONS}


def canonical(action: str) -> tuple[str, str]:
    """`"KMS:decrypt"` -> ("kms", "Decrypt"): service prefix lower-cased, known KMS names in their AWS spelling."""
    service, sep, name = action.partition(":")
    if not sep:
        return "", action
    service = service.lower()
    if service == "kms":
        name = _BY_LOWER.get(name.lower(), name)
    return service, name


def full(action: str) -> str:
    """The action as `kms:Name` (adds the prefix when the caller gave a bare operation name)."""
    if ":" not in action:
        action = "kms:" + action
    service, name = canonical(action)
    return f"{service}:{name}"
