"""Response Elements of the KMS API reference: one test per documented output field of each operation the
local backend implements, on the local backend, on the aws backend over moto and on the aws backend over
`kmstui serve`.

Each row of RESPONSES is an operation, how to call it, and the fields its response must carry, with the
reference's sentence for the rule that decides when a field is present. Fields the reference lists but that
cannot appear here (a Nitro enclave's CiphertextForRecipient, ML-KEM's EncapsulationAlgorithms, NextMarker on
a short list) are in ABSENT with the reason; test_catalogue.py checks that together they cover every output
member of the service model, so a new field in the API cannot go unnoticed.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest


def _pub(kms, keys) -> bytes:
    return kms.get_public_key(KeyId=keys.ecc_agree)["PublicKey"]


def _blob(kms, keys) -> bytes:
    return kms.encrypt(KeyId=keys.sym, Plaintext=b"fidelity")["CiphertextBlob"]


def _sig(kms, keys) -> bytes:
    return kms.sign(KeyId=keys.ecc_sign, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]


def _mac(kms, keys) -> bytes:
    return kms.generate_mac(KeyId=keys.hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]


ROLE = "arn:aws:iam::111122223333:role/fidelity"

# operation -> (call(kms, keys, fresh), fields that must be present, the reference's words)
RESPONSES: dict[str, tuple[Callable[..., dict], tuple[str, ...], str]] = {
    "CreateKey": (lambda k, keys, fresh: k.create_key(), ("KeyMetadata",),
                  "KeyMetadata: Metadata associated with the KMS key."),
    "DescribeKey": (lambda k, keys, fresh: k.describe_key(KeyId=keys.sym), ("KeyMetadata",),
                    "KeyMetadata: Metadata associated with the key."),
    "ListKeys": (lambda k, keys, fresh: k.list_keys(), ("Keys", "Truncated"),
                 "Truncated: A flag that indicates whether there are more items in the list."),
    "ScheduleKeyDeletion": (lambda k, keys, fresh: k.schedule_key_deletion(KeyId=fresh(), PendingWindowInDays=7),
                            ("KeyId", "DeletionDate", "KeyState", "PendingWindowInDays"),
                            "DeletionDate: The date and time after which KMS deletes the KMS key."),
    "CancelKeyDeletion": (lambda k, keys, fresh: k.cancel_key_deletion(KeyId=_pending(k, fresh())), ("KeyId",),
                          "KeyId: The Amazon Resource Name (key ARN) of the KMS key whose deletion is canceled."),
    "ListAliases": (lambda k, keys, fresh: k.list_aliases(), ("Aliases", "Truncated"),
                    "Aliases: A list of aliases."),
    "ListResourceTags": (lambda k, keys, fresh: k.list_resource_tags(KeyId=keys.sym), ("Tags", "Truncated"),
                         "Tags: A list of tags."),
    "GetKeyRotationStatus": (lambda k, keys, fresh: _rotating(k, fresh()),
                             ("KeyRotationEnabled", "KeyId", "RotationPeriodInDays", "NextRotationDate"),
                             "RotationPeriodInDays ... NextRotationDate: The next date that KMS will "
                             "automatically rotate the key material."),
    "RotateKeyOnDemand": (lambda k, keys, fresh: k.rotate_key_on_demand(KeyId=fresh()), ("KeyId",),
                          "KeyId: Identifies the symmetric encryption KMS key that you initiated on-demand "
                          "rotation on."),
    "ListKeyRotations": (lambda k, keys, fresh: k.list_key_rotations(KeyId=keys.sym), ("Rotations", "Truncated"),
                         "Rotations: A list of completed key material rotations."),
    "GetKeyPolicy": (lambda k, keys, fresh: k.get_key_policy(KeyId=keys.sym, PolicyName="default"),
                     ("Policy", "PolicyName"), "PolicyName: The name of the key policy."),
    "ListKeyPolicies": (lambda k, keys, fresh: k.list_key_policies(KeyId=keys.sym), ("PolicyNames", "Truncated"),
                        "PolicyNames: A list of key policy names. The only valid value is default."),
    "GetParametersForImport": (
        lambda k, keys, fresh: k.get_parameters_for_import(KeyId=keys.external, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                           WrappingKeySpec="RSA_2048"),
        ("KeyId", "ImportToken", "PublicKey", "ParametersValidTo"),
        "ParametersValidTo: The time at which the import token and public key are no longer valid."),
    "Encrypt": (lambda k, keys, fresh: k.encrypt(KeyId=keys.sym, Plaintext=b"x"),
                ("CiphertextBlob", "KeyId", "EncryptionAlgorithm"),
                "EncryptionAlgorithm: The encryption algorithm that was used to encrypt the plaintext."),
    "Decrypt": (lambda k, keys, fresh: k.decrypt(CiphertextBlob=_blob(k, keys)),
                ("KeyId", "Plaintext", "EncryptionAlgorithm", "KeyMaterialId"),
                "KeyMaterialId: The identifier of the key material used to decrypt the ciphertext."),
    "ReEncrypt": (lambda k, keys, fresh: k.re_encrypt(CiphertextBlob=_blob(k, keys), DestinationKeyId=keys.sym),
                  ("CiphertextBlob", "SourceKeyId", "KeyId", "SourceEncryptionAlgorithm",
                   "DestinationEncryptionAlgorithm", "SourceKeyMaterialId", "DestinationKeyMaterialId"),
                  "SourceKeyMaterialId ... This field is present only when the source KMS key is a symmetric "
                  "encryption key."),
    "GenerateDataKey": (lambda k, keys, fresh: k.generate_data_key(KeyId=keys.sym, KeySpec="AES_256"),
                        ("CiphertextBlob", "Plaintext", "KeyId", "KeyMaterialId"),
                        "Plaintext: The plaintext data key."),
    "GenerateDataKeyWithoutPlaintext": (
        lambda k, keys, fresh: k.generate_data_key_without_plaintext(KeyId=keys.sym, KeySpec="AES_256"),
        ("CiphertextBlob", "KeyId", "KeyMaterialId"), "CiphertextBlob: The encrypted data key."),
    "GenerateRandom": (lambda k, keys, fresh: k.generate_random(NumberOfBytes=16), ("Plaintext",),
                       "Plaintext: The random byte string."),
    "Sign": (lambda k, keys, fresh: k.sign(KeyId=keys.ecc_sign, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
             ("KeyId", "Signature", "SigningAlgorithm"), "SigningAlgorithm: The signing algorithm that was used."),
    "Verify": (lambda k, keys, fresh: k.verify(KeyId=keys.ecc_sign, Message=b"m", Signature=_sig(k, keys),
                                               SigningAlgorithm="ECDSA_SHA_256"),
               ("KeyId", "SignatureValid", "SigningAlgorithm"),
               "SignatureValid: A Boolean value that indicates whether the signature was verified."),
    "GenerateMac": (lambda k, keys, fresh: k.generate_mac(KeyId=keys.hmac, Message=b"m", MacAlgorithm="HMAC_SHA_256"),
                    ("Mac", "MacAlgorithm", "KeyId"), "Mac: The hash-based message authentication code (HMAC)."),
    "VerifyMac": (lambda k, keys, fresh: k.verify_mac(KeyId=keys.hmac, Message=b"m", Mac=_mac(k, keys),
                                                      MacAlgorithm="HMAC_SHA_256"),
                  ("KeyId", "MacValid", "MacAlgorithm"),
                  "MacValid: A Boolean value that indicates whether the HMAC was verified."),
    "GetPublicKey": (lambda k, keys, fresh: k.get_public_key(KeyId=keys.rsa_sign),
                     ("KeyId", "PublicKey", "CustomerMasterKeySpec", "KeySpec", "KeyUsage", "SigningAlgorithms"),
                     "SigningAlgorithms: ... This field appears in the response only when the KeyUsage of the "
                     "public key is SIGN_VERIFY."),
    "GetPublicKey:ENCRYPT_DECRYPT": (lambda k, keys, fresh: k.get_public_key(KeyId=keys.rsa_enc),
                                     ("EncryptionAlgorithms",),
                                     "EncryptionAlgorithms: ... This field appears in the response only when the "
                                     "KeyUsage of the public key is ENCRYPT_DECRYPT."),
    "GetPublicKey:KEY_AGREEMENT": (lambda k, keys, fresh: k.get_public_key(KeyId=keys.ecc_agree),
                                   ("KeyAgreementAlgorithms",),
                                   "KeyAgreementAlgorithms: ... This field is present only when the KMS key has a "
                                   "KeyUsage value of KEY_AGREEMENT."),
    "DeriveSharedSecret": (lambda k, keys, fresh: k.derive_shared_secret(KeyId=keys.ecc_agree,
                                                                         KeyAgreementAlgorithm="ECDH",
                                                                         PublicKey=_pub(k, keys)),
                           ("KeyId", "SharedSecret", "KeyAgreementAlgorithm", "KeyOrigin"),
                           "KeyOrigin: The source of the key material for the specified KMS key."),
    "CreateGrant": (lambda k, keys, fresh: k.create_grant(KeyId=keys.sym, GranteePrincipal=ROLE,
                                                          Operations=["Decrypt"]),
                    ("GrantToken", "GrantId"), "GrantId: The unique identifier for the grant."),
    "ListGrants": (lambda k, keys, fresh: k.list_grants(KeyId=keys.sym), ("Grants", "Truncated"),
                   "Grants: A list of grants."),
    "ListRetirableGrants": (lambda k, keys, fresh: k.list_retirable_grants(RetiringPrincipal=ROLE),
                            ("Grants", "Truncated"), "Grants: A list of grants."),
}

# KeyMetadata fields present on every key here (DescribeKey's KeyMetadata, documented in the KeyMetadata type).
KEY_METADATA = ("AWSAccountId", "KeyId", "Arn", "CreationDate", "Enabled", "Description", "KeyUsage", "KeyState",
                "Origin", "KeyManager", "CustomerMasterKeySpec", "KeySpec", "EncryptionAlgorithms", "MultiRegion",
                "CurrentKeyMaterialId")

# Output members that cannot appear in these calls, and why (checked complete by test_catalogue.py).
ABSENT: dict[str, dict[str, str]] = {
    "ListKeys": {"NextMarker": "only when Truncated is true (paging is tested in tests/commands)"},
    "ListAliases": {"NextMarker": "only when Truncated is true"},
    "ListResourceTags": {"NextMarker": "only when Truncated is true"},
    "ListKeyRotations": {"NextMarker": "only when Truncated is true"},
    "ListKeyPolicies": {"NextMarker": "only when Truncated is true"},
    "ListGrants": {"NextMarker": "only when Truncated is true"},
    "ListRetirableGrants": {"NextMarker": "only when Truncated is true"},
    "GetKeyRotationStatus": {"OnDemandRotationStartDate": "only while an on-demand rotation is in progress; "
                                                          "local rotations complete at once"},
    "Decrypt": {"CiphertextForRecipient": "only with Recipient (a Nitro attestation document): not offered"},
    "GenerateDataKey": {"CiphertextForRecipient": "only with Recipient (a Nitro attestation document)"},
    "GenerateRandom": {"CiphertextForRecipient": "only with Recipient (a Nitro attestation document)"},
    "DeriveSharedSecret": {"CiphertextForRecipient": "only with Recipient (a Nitro attestation document)"},
    "GetPublicKey": {"EncapsulationAlgorithms": "only ML-KEM keys, which kmstui does not offer"},
    "ImportKeyMaterial": {"KeyId": "checked with real wrapped material in tests/backends/local/test_import.py",
                          "KeyMaterialId": "checked in tests/backends/local/test_import.py"},
    "DeleteImportedKeyMaterial": {"KeyId": "checked in tests/backends/local/test_import.py",
                                  "KeyMaterialId": "checked in tests/backends/local/test_import.py"},
}


def _pending(kms, key: str) -> str:
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    return key


def _rotating(kms, key: str) -> dict:
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    return kms.get_key_rotation_status(KeyId=key)


CASES = [(op, field) for op, (_call, fields, _doc) in RESPONSES.items() for field in fields]


@pytest.mark.parametrize("operation, field", CASES, ids=[f"{op}.{field}" for op, field in CASES])
def test_response_field(kms, keys, fresh, operation, field):
    call, _fields, doc = RESPONSES[operation]
    response: dict[str, Any] = call(kms, keys, fresh)
    assert field in response, f"{operation} response lacks {field} ({doc})"
    assert response[field] is not None


@pytest.mark.parametrize("field", KEY_METADATA)
def test_key_metadata_field(kms, keys, field):
    """DescribeKey's KeyMetadata for a symmetric encryption key ("Metadata associated with the key")."""
    assert field in kms.describe_key(KeyId=keys.sym)["KeyMetadata"]


@pytest.mark.parametrize("field, when", [
    ("DeletionDate", "pending"), ("ValidTo", None),
    ("ExpirationModel", "external"), ("SigningAlgorithms", "sign"), ("MacAlgorithms", "hmac"),
    ("KeyAgreementAlgorithms", "agree"),
])
def test_conditional_key_metadata_field(kms, keys, fresh, field, when):
    """KeyMetadata fields the reference makes conditional, e.g. DeletionDate: "This value is present only when
    the KeyState of the KMS key is PendingDeletion"; ExpirationModel: "This value is present only when the
    Origin of the KMS key is EXTERNAL"; and they are absent where their condition does not hold."""
    key = {"pending": lambda: _pending(kms, fresh()), "external": lambda: keys.external,
           "sign": lambda: keys.ecc_sign, "hmac": lambda: keys.hmac, "agree": lambda: keys.ecc_agree,
           None: lambda: keys.sym}[when]()
    metadata = kms.describe_key(KeyId=key)["KeyMetadata"]
    if when is None:  # ValidTo: "This value is present only for KMS keys whose Origin is EXTERNAL and whose
        assert field not in metadata  # ExpirationModel is KEY_MATERIAL_EXPIRES"
        return
    assert field in metadata
    assert field not in kms.describe_key(KeyId=keys.sym)["KeyMetadata"]


def test_pending_deletion_window_only_for_multi_region_primaries(kms, fresh):
    """KeyMetadata.PendingDeletionWindowInDays: "This value is present only when the KeyState of the KMS key is
    PendingReplicaDeletion": a single-Region key pending deletion does not show it."""
    assert "PendingDeletionWindowInDays" not in kms.describe_key(KeyId=_pending(kms, fresh()))["KeyMetadata"]


def test_random_bytes_are_random(kms):
    """GenerateRandom: "Returns a random byte string that is cryptographically secure." Two answers differ."""
    first, second = (kms.generate_random(NumberOfBytes=32)["Plaintext"] for _ in range(2))
    assert len(first) == 32 and first != second and first != os.urandom(0)
