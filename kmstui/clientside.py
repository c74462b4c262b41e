"""What the aws CLI refuses before it sends a request, so kmstui's faces refuse the same values the same way.

An aws CLI user sees two kinds of failure: botocore's client-side parameter validation (exit 252, the request
never leaves the machine) and the service's answer (exit 254, e.g. ValidationException). botocore's
ParamValidator enforces only what the KMS service model marks as `required` and the `min` of integers (a
value) and of strings and lists (a length); it never checks `max`, patterns or enum values, which the
service checks. So `--days 0` (PendingWindowInDays below its minimum of 1) is a usage error, while
`--days 31` (above the service's limit of 30, which the model does not state) is the service's
ValidationException, as in AWS.

The tables below are the KMS service model's constraints (botocore's `kms/2014-11-01/service-2.json`) for
the operations of the backend interface; tests/test_clientside.py checks them against the installed
botocore, so they cannot drift. Paths: `Tags[].TagKey` is each tag's key, `GrantTokens[]` each token.
The Session applies `check` to every backend call a command makes, whichever backend answers;
`kmstui serve` (a service, not a client) does not.
"""

from __future__ import annotations

from typing import Any

from kmstui.errors import UsageError

MINIMUMS: dict[str, dict[str, int]] = {
    "CreateKey": {"Policy": 1, "CustomKeyStoreId": 1, "Tags[].TagKey": 1, "XksKeyId": 1},
    "DescribeKey": {"KeyId": 1, "GrantTokens[]": 1},
    "ListKeys": {"Limit": 1, "Marker": 1, "ResourceOwners": 1},
    "EnableKey": {"KeyId": 1},
    "DisableKey": {"KeyId": 1},
    "ScheduleKeyDeletion": {"KeyId": 1, "PendingWindowInDays": 1},
    "CancelKeyDeletion": {"KeyId": 1},
    "UpdateKeyDescription": {"KeyId": 1},
    "CreateAlias": {"AliasName": 1, "TargetKeyId": 1},
    "DeleteAlias": {"AliasName": 1},
    "UpdateAlias": {"AliasName": 1, "TargetKeyId": 1},
    "ListAliases": {"KeyId": 1, "Limit": 1, "Marker": 1},
    "TagResource": {"KeyId": 1, "Tags[].TagKey": 1},
    "UntagResource": {"KeyId": 1, "TagKeys[]": 1},
    "ListResourceTags": {"KeyId": 1, "Limit": 1, "Marker": 1},
    "EnableKeyRotation": {"KeyId": 1, "RotationPeriodInDays": 90},
    "DisableKeyRotation": {"KeyId": 1},
    "GetKeyRotationStatus": {"KeyId": 1},
    "RotateKeyOnDemand": {"KeyId": 1},
    "ListKeyRotations": {"KeyId": 1, "Limit": 1, "Marker": 1},
    "GetKeyPolicy": {"KeyId": 1, "PolicyName": 1},
    "PutKeyPolicy": {"KeyId": 1, "PolicyName": 1, "Policy": 1},
    "ListKeyPolicies": {"KeyId": 1, "Limit": 1, "Marker": 1},
    "GetParametersForImport": {"KeyId": 1},
    "ImportKeyMaterial": {"KeyId": 1, "KeyMaterialId": 64},
    "DeleteImportedKeyMaterial": {"KeyId": 1, "KeyMaterialId": 64},
    "Encrypt": {"KeyId": 1, "GrantTokens[]": 1},
    "Decrypt": {"GrantTokens[]": 1, "KeyId": 1},
    "ReEncrypt": {"SourceKeyId": 1, "DestinationKeyId": 1, "GrantTokens[]": 1},
    "GenerateDataKey": {"KeyId": 1, "NumberOfBytes": 1, "GrantTokens[]": 1},
    "GenerateDataKeyWithoutPlaintext": {"KeyId": 1, "NumberOfBytes": 1, "GrantTokens[]": 1},
    "GenerateRandom": {"NumberOfBytes": 1, "CustomKeyStoreId": 1},
    "Sign": {"KeyId": 1, "GrantTokens[]": 1},
    "Verify": {"KeyId": 1, "GrantTokens[]": 1},
    "GenerateMac": {"KeyId": 1, "GrantTokens[]": 1},
    "VerifyMac": {"KeyId": 1, "GrantTokens[]": 1},
    "GetPublicKey": {"KeyId": 1, "GrantTokens[]": 1},
    "DeriveSharedSecret": {"KeyId": 1, "GrantTokens[]": 1},
    "CreateGrant": {"KeyId": 1, "GranteePrincipal": 1, "RetiringPrincipal": 1, "Constraints.SourceArn": 20, "GrantTokens[]": 1, "Name": 1, "GranteeServicePrincipal": 1, "RetiringServicePrincipal": 1},
    "ListGrants": {"Limit": 1, "Marker": 1, "KeyId": 1, "GrantId": 1, "GranteePrincipal": 1, "GranteeServicePrincipal": 1},
    "ListRetirableGrants": {"Limit": 1, "Marker": 1, "RetiringPrincipal": 1, "RetiringServicePrincipal": 1},
    "RetireGrant": {"GrantToken": 1, "KeyId": 1, "GrantId": 1},
    "RevokeGrant": {"KeyId": 1, "GrantId": 1},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "DescribeKey": ("KeyId",),
    "EnableKey": ("KeyId",),
    "DisableKey": ("KeyId",),
    "ScheduleKeyDeletion": ("KeyId",),
    "CancelKeyDeletion": ("KeyId",),
    "UpdateKeyDescription": ("KeyId", "Description"),
    "CreateAlias": ("AliasName", "TargetKeyId"),
    "DeleteAlias": ("AliasName",),
    "UpdateAlias": ("AliasName", "TargetKeyId"),
    "TagResource": ("KeyId", "Tags"),
    "UntagResource": ("KeyId", "TagKeys"),
    "ListResourceTags": ("KeyId",),
    "EnableKeyRotation": ("KeyId",),
    "DisableKeyRotation": ("KeyId",),
    "GetKeyRotationStatus": ("KeyId",),
    "RotateKeyOnDemand": ("KeyId",),
    "ListKeyRotations": ("KeyId",),
    "GetKeyPolicy": ("KeyId",),
    "PutKeyPolicy": ("KeyId", "Policy"),
    "ListKeyPolicies": ("KeyId",),
    "GetParametersForImport": ("KeyId", "WrappingAlgorithm", "WrappingKeySpec"),
    "ImportKeyMaterial": ("KeyId", "ImportToken", "EncryptedKeyMaterial"),
    "DeleteImportedKeyMaterial": ("KeyId",),
    "Encrypt": ("KeyId", "Plaintext"),
    "ReEncrypt": ("DestinationKeyId",),
    "GenerateDataKey": ("KeyId",),
    "GenerateDataKeyWithoutPlaintext": ("KeyId",),
    "Sign": ("KeyId", "Message", "SigningAlgorithm"),
    "Verify": ("KeyId", "Message", "Signature", "SigningAlgorithm"),
    "GenerateMac": ("Message", "KeyId", "MacAlgorithm"),
    "VerifyMac": ("Message", "KeyId", "MacAlgorithm", "Mac"),
    "GetPublicKey": ("KeyId",),
    "DeriveSharedSecret": ("KeyId", "KeyAgreementAlgorithm", "PublicKey"),
    "CreateGrant": ("KeyId", "Operations"),
    "ListGrants": ("KeyId",),
    "RevokeGrant": ("KeyId", "GrantId"),
}


def _values(params: Any, path: list[str]) -> list[tuple[str, Any]]:
    """(name, value) for every value a constraint path reaches in the request."""
    head, rest = path[0], path[1:]
    found: list[tuple[str, Any]] = []
    items = head.endswith("[]")
    name = head[:-2] if items else head
    if not isinstance(params, dict) or params.get(name) is None:
        return found
    value = params[name]
    values = [(f"{name}[{i}]", v) for i, v in enumerate(value)] if items and isinstance(value, (list, tuple)) \
        else [(name, value)]
    for label, v in values:
        if rest:
            found += [(f"{label}.{inner}", w) for inner, w in _values(v, rest)]
        else:
            found.append((label, v))
    return found


def problems(operation: str, params: dict[str, Any]) -> list[str]:
    """botocore's complaints about a request to `operation` (KMS's name, e.g. "ScheduleKeyDeletion")."""
    out = [f'Missing required parameter in input: "{name}"' for name in REQUIRED.get(operation, ())
           if params.get(name) is None]
    for path, minimum in MINIMUMS.get(operation, {}).items():
        for name, value in _values(params, path.split(".")):
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                if value < minimum:
                    out.append(f"Invalid value for parameter {name}, value: {value}, valid min value: {minimum}")
            elif isinstance(value, (str, list, tuple)) and len(value) < minimum:
                out.append(f"Invalid length for parameter {name}, value: {len(value)}, valid min length: {minimum}")
    return out


def check(operation: str, params: dict[str, Any]) -> None:
    """UsageError (exit 252) when the aws CLI would refuse the request before sending it."""
    found = problems(operation, params)
    if found:
        raise UsageError("Parameter validation failed: " + "; ".join(found))
