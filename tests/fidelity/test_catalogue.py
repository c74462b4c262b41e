"""The fidelity suite covers the API reference, not a sample of it: every output member of each tested
operation is checked (test_responses) or declared absent with a reason, every error the service model lists
for an operation is checked (test_errors) or declared unreachable with a reason, and every moto gap the suite
declares is listed in docs/aws-divergences.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fidelity import test_errors as errors
from tests.fidelity import test_responses as responses
from tests.fidelity.conftest import MOTO_GAPS

botocore = pytest.importorskip("botocore", reason="botocore (the aws extra) is not installed")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "aws-divergences.md"

# Errors no call to these backends can provoke, and why. They stay KMS-named where they can occur (the aws
# backend passes AWS's own code through).
UNREACHABLE_ANYWHERE = {
    "DependencyTimeoutException": "a transient service condition; the local backend has no dependency to time out",
    "KMSInternalException": "an internal failure; the local backend raises it for a tampered file "
                            "(tests/backends/local)",
    "KeyUnavailableException": "keys in custom key stores only",
    "LimitExceededException": "service quotas; the local backend's own limits are tested in tests/backends/local",
    "DryRunOperationException": "the answer to DryRun=true; the local backend refuses DryRun (declared divergence)",
    "InvalidArnException": "the service's check of an ARN's form; an ARN of another account or region is "
                           "NotFoundException here as in KMS",
    "ConflictException": "a concurrent on-demand rotation, which completes at once here",
    "CustomKeyStoreNotFoundException": "custom key stores are not offered",
    "CustomKeyStoreInvalidStateException": "custom key stores are not offered",
    "CloudHsmClusterInvalidConfigurationException": "custom key stores are not offered",
    "XksKeyInvalidConfigurationException": "external key stores are not offered",
    "XksKeyAlreadyInUseException": "external key stores are not offered",
    "XksKeyNotFoundException": "external key stores are not offered",
}
# Per operation: errors the model lists whose condition this suite does not provoke, with the reason.
UNREACHABLE = {
    ("CreateKey", "UnsupportedOperationException"): "multi-Region and custom-store keys; tested in tests/backends",
    ("UntagResource", "TagException"): "untagging a missing tag key succeeds in KMS",
    ("ListAliases", "InvalidMarkerException"): "tested on ListKeys, the same paging code",
    ("ListResourceTags", "InvalidMarkerException"): "tested on ListKeys, the same paging code",
    ("ListKeyRotations", "InvalidMarkerException"): "tested on ListKeys, the same paging code",
    ("ListGrants", "InvalidMarkerException"): "tested on ListKeys, the same paging code",
    ("ListRetirableGrants", "InvalidMarkerException"): "tested on ListKeys, the same paging code",
    ("ListGrants", "InvalidGrantIdException"): "grant ids are checked in tests/plugins/grants",
    ("RetireGrant", "InvalidGrantIdException"): "grant ids are checked in tests/plugins/grants",
    ("RevokeGrant", "InvalidGrantIdException"): "grant ids are checked in tests/plugins/grants",
    ("RetireGrant", "NotFoundException"): "tested through RevokeGrant and tests/plugins/grants",
    ("ListRetirableGrants", "NotFoundException"): "an unknown retiring principal lists nothing",
    ("ImportKeyMaterial", "InvalidCiphertextException"): "tested with wrapped material in tests/backends/local",
    ("ImportKeyMaterial", "IncorrectKeyMaterialException"): "tested with real material in tests/backends/local",
    ("ImportKeyMaterial", "ExpiredImportTokenException"): "needs a clock; tested in tests/backends/local",
    ("ImportKeyMaterial", "UnsupportedOperationException"): "tested through GetParametersForImport",
    ("ImportKeyMaterial", "NotFoundException"): "tested through GetParametersForImport's key lookup",
    ("ImportKeyMaterial", "KMSInvalidStateException"): "tested in tests/backends/local/test_import.py",
    ("DeleteImportedKeyMaterial", "UnsupportedOperationException"): "tested in tests/backends/local/test_import.py",
    ("DeleteImportedKeyMaterial", "NotFoundException"): "tested in tests/backends/local/test_import.py",
    ("DeleteImportedKeyMaterial", "KMSInvalidStateException"): "tested in tests/backends/local/test_import.py",
    ("GetParametersForImport", "NotFoundException"): "the same key lookup as every keyed operation",
    ("GetParametersForImport", "KMSInvalidStateException"): "tested in tests/backends/local/test_import.py",
    ("GenerateRandom", "UnsupportedOperationException"): "only with a custom key store id",
    ("ReEncrypt", "DisabledException"): "the same source/destination checks as Decrypt and Encrypt",
    ("ReEncrypt", "IncorrectKeyException"): "the same source check as Decrypt",
    ("ReEncrypt", "InvalidKeyUsageException"): "the same destination check as Encrypt",
    ("ReEncrypt", "KMSInvalidStateException"): "the same checks as Decrypt and Encrypt",
    ("ReEncrypt", "InvalidGrantTokenException"): "grant tokens are checked in tests/plugins/grants",
    ("Decrypt", "KMSInvalidStateException"): "the same key-state check as Encrypt",
    ("Decrypt", "NotFoundException"): "tested through ReEncrypt's destination and Decrypt's key lookup",
    ("ListAliases", "InvalidArnException"): "see InvalidArnException",
    ("CreateGrant", "DisabledException"): "the key-state table lets a disabled key take grants; local does the same",
    ("GetKeyRotationStatus", "UnsupportedOperationException"): "asymmetric and HMAC keys answer KeyRotationEnabled "
                                                               "false here; the reference does not say KMS refuses "
                                                               "them (listed in docs/aws-divergences.md)",
    ("PutKeyPolicy", "UnsupportedOperationException"): "policy features for custom key stores only",
}
# Grant-token errors: the same check on every operation that takes GrantTokens; tested in tests/plugins/grants.
GRANT_TOKEN_OPS = {"Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "Sign", "Verify",
                   "GenerateMac", "VerifyMac", "GetPublicKey", "DeriveSharedSecret", "CreateGrant"}
# States a key pending deletion does not reach, but others (Creating, Updating, Unavailable) do: KMS lists
# KMSInvalidStateException for these; here the state check is tested where pending deletion refuses.
STATE_ONLY_ELSEWHERE = {"DescribeKey", "CancelKeyDeletion", "ListResourceTags", "GetKeyRotationStatus",
                        "ListKeyRotations", "GetKeyPolicy", "ListKeyPolicies", "ListGrants", "RetireGrant",
                        "RevokeGrant", "DeleteAlias", "UpdateAlias", "GetParametersForImport"}


def _model():
    import botocore.session

    return botocore.session.get_session().get_service_model("kms")


def test_every_output_member_is_checked_or_declared_absent():
    model = _model()
    for operation in {op.split(":")[0] for op in responses.RESPONSES} | set(responses.ABSENT):
        members = set(model.operation_model(operation).output_shape.members)
        checked = {f for op, (_c, fields, _d) in responses.RESPONSES.items() if op.split(":")[0] == operation
                   for f in fields}
        declared = set(responses.ABSENT.get(operation, {}))
        assert members == checked | declared, (operation, members - checked - declared, (checked | declared) - members)


def test_every_key_metadata_member_is_checked_or_declared():
    members = set(_model().shape_for("KeyMetadata").members)
    conditional = {"DeletionDate", "ValidTo", "ExpirationModel", "SigningAlgorithms", "MacAlgorithms",
                   "KeyAgreementAlgorithms", "PendingDeletionWindowInDays"}
    not_offered = {"CustomKeyStoreId", "CloudHsmClusterId", "MultiRegionConfiguration", "XksKeyConfiguration",
                   "EncapsulationAlgorithms"}
    assert members == set(responses.KEY_METADATA) | conditional | not_offered


def test_every_listed_error_is_tested_or_declared_unreachable():
    model = _model()
    tested = {(op, "NotFoundException") for op in errors.NOT_FOUND}
    tested |= {(op, "DisabledException") for op in errors.DISABLED}
    tested |= {(op, "KMSInvalidStateException") for op in errors.PENDING} | {("CancelKeyDeletion",
                                                                              "KMSInvalidStateException")}
    tested |= {(op, errors.WRONG_USAGE_ERROR.get(op, "InvalidKeyUsageException")) for op in errors.WRONG_USAGE}
    tested |= {(op, error) for op, error, _t, _d in errors.SPECIFIC}
    operations = set(errors.KEYED) | {op for op, *_ in errors.SPECIFIC} | {o.split(":")[0] for o in responses.RESPONSES}
    missing = []
    for operation in sorted(operations):
        for shape in model.operation_model(operation).error_shapes:
            key = (operation, shape.name)
            if key in tested or shape.name in UNREACHABLE_ANYWHERE or key in UNREACHABLE:
                continue
            if shape.name == "InvalidGrantTokenException" and operation in GRANT_TOKEN_OPS:
                continue
            if shape.name in ("KMSInvalidStateException", "DisabledException") and operation in STATE_ONLY_ELSEWHERE:
                continue
            if (operation, shape.name) == ("GetPublicKey", "InvalidKeyUsageException"):
                continue  # a symmetric key: UnsupportedOperationException, tested in test_invalid_key_usage
            missing.append(key)
    assert not missing, f"errors neither tested nor declared: {missing}"


def test_every_moto_gap_is_in_the_divergence_table():
    text = DOCS.read_text(encoding="utf-8")
    for reason in set(MOTO_GAPS.values()):
        assert reason in text, f"docs/aws-divergences.md does not list the moto gap: {reason}"
