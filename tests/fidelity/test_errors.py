"""Errors of the KMS API reference: one test per documented error of each operation the local backend
implements (where this backend can meet the error's condition), on the local backend, on the aws backend
over moto and on the aws backend over `kmstui serve`. Errors whose condition cannot arise here are listed in NOT_REACHABLE with the reason, and
test_catalogue.py checks that every error the service model lists for an operation is one or the other.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from kmstui.errors import KmstuiError

MISSING = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/fidelity"
POLICY = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": '
          '"arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}')


def _peer(kms, keys) -> bytes:
    return kms.get_public_key(KeyId=keys.ecc_agree)["PublicKey"]


# Keyed operations: the kind of key each needs, and the call with that key.
KEYED: dict[str, tuple[str, Callable[[Any, str, Any], Any]]] = {
    "DescribeKey": ("sym", lambda k, key, keys: k.describe_key(KeyId=key)),
    "EnableKey": ("sym", lambda k, key, keys: k.enable_key(KeyId=key)),
    "DisableKey": ("sym", lambda k, key, keys: k.disable_key(KeyId=key)),
    "ScheduleKeyDeletion": ("sym", lambda k, key, keys: k.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)),
    "CancelKeyDeletion": ("sym", lambda k, key, keys: k.cancel_key_deletion(KeyId=key)),
    "UpdateKeyDescription": ("sym", lambda k, key, keys: k.update_key_description(KeyId=key, Description="d")),
    "TagResource": ("sym", lambda k, key, keys: k.tag_resource(KeyId=key, Tags=[{"TagKey": "a", "TagValue": "b"}])),
    "UntagResource": ("sym", lambda k, key, keys: k.untag_resource(KeyId=key, TagKeys=["a"])),
    "ListResourceTags": ("sym", lambda k, key, keys: k.list_resource_tags(KeyId=key)),
    "EnableKeyRotation": ("sym", lambda k, key, keys: k.enable_key_rotation(KeyId=key)),
    "DisableKeyRotation": ("sym", lambda k, key, keys: k.disable_key_rotation(KeyId=key)),
    "GetKeyRotationStatus": ("sym", lambda k, key, keys: k.get_key_rotation_status(KeyId=key)),
    "RotateKeyOnDemand": ("sym", lambda k, key, keys: k.rotate_key_on_demand(KeyId=key)),
    "ListKeyRotations": ("sym", lambda k, key, keys: k.list_key_rotations(KeyId=key)),
    "GetKeyPolicy": ("sym", lambda k, key, keys: k.get_key_policy(KeyId=key, PolicyName="default")),
    "PutKeyPolicy": ("sym", lambda k, key, keys: k.put_key_policy(KeyId=key, PolicyName="default", Policy=POLICY)),
    "ListKeyPolicies": ("sym", lambda k, key, keys: k.list_key_policies(KeyId=key)),
    "Encrypt": ("sym", lambda k, key, keys: k.encrypt(KeyId=key, Plaintext=b"x")),
    "GenerateDataKey": ("sym", lambda k, key, keys: k.generate_data_key(KeyId=key, KeySpec="AES_256")),
    "GenerateDataKeyWithoutPlaintext": ("sym", lambda k, key, keys: k.generate_data_key_without_plaintext(
        KeyId=key, KeySpec="AES_256")),
    "Sign": ("ecc_sign", lambda k, key, keys: k.sign(KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
    "Verify": ("ecc_sign", lambda k, key, keys: k.verify(KeyId=key, Message=b"m", Signature=b"\x30\x06\x02\x01\x01\x02\x01\x01",
                                                         SigningAlgorithm="ECDSA_SHA_256")),
    "GenerateMac": ("hmac", lambda k, key, keys: k.generate_mac(KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_256")),
    "VerifyMac": ("hmac", lambda k, key, keys: k.verify_mac(KeyId=key, Message=b"m", Mac=b"\x00" * 32,
                                                            MacAlgorithm="HMAC_SHA_256")),
    "GetPublicKey": ("ecc_sign", lambda k, key, keys: k.get_public_key(KeyId=key)),
    "DeriveSharedSecret": ("ecc_agree", lambda k, key, keys: k.derive_shared_secret(
        KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=_peer(k, keys))),
    "CreateGrant": ("sym", lambda k, key, keys: k.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])),
    "ListGrants": ("sym", lambda k, key, keys: k.list_grants(KeyId=key)),
    "CreateAlias": ("sym", lambda k, key, keys: k.create_alias(AliasName="alias/fidelity-target", TargetKeyId=key)),
}

SPECS = {"sym": {}, "ecc_sign": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
         "ecc_agree": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"},
         "hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}}

# NotFoundException: "The request was rejected because the specified entity or resource could not be found."
NOT_FOUND = [op for op in KEYED]
# DisabledException: "The request was rejected because the specified KMS key is not enabled."
DISABLED = ["Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "Sign", "Verify", "GenerateMac",
            "VerifyMac", "GetPublicKey", "DeriveSharedSecret", "EnableKeyRotation",
            "DisableKeyRotation", "RotateKeyOnDemand"]
# KMSInvalidStateException: "The request was rejected because the state of the specified resource is not valid
# for this request." The key-state table: a key pending deletion refuses these.
PENDING = ["EnableKey", "DisableKey", "ScheduleKeyDeletion", "UpdateKeyDescription", "TagResource", "UntagResource",
           "EnableKeyRotation", "DisableKeyRotation", "RotateKeyOnDemand", "PutKeyPolicy", "Encrypt",
           "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "Sign", "Verify", "GenerateMac", "VerifyMac",
           "GetPublicKey", "DeriveSharedSecret", "CreateGrant", "CreateAlias"]
# InvalidKeyUsageException: "The KeyUsage value of the KMS key is incompatible with the API operation."
WRONG_USAGE = {"Encrypt": "hmac", "GenerateDataKey": "ecc_sign", "GenerateDataKeyWithoutPlaintext": "hmac",
               "Sign": "sym", "Verify": "hmac", "GenerateMac": "sym", "VerifyMac": "ecc_sign",
               "DeriveSharedSecret": "ecc_sign", "GetPublicKey": "sym"}
WRONG_USAGE_ERROR = {"GetPublicKey": "UnsupportedOperationException"}  # "... if the KMS key is symmetric"


def _raises(name: str, call: Callable[[], Any]) -> None:
    with pytest.raises(KmstuiError) as caught:
        call()
    assert caught.value.code == name, f"expected {name}, got {caught.value.code}: {caught.value}"


@pytest.mark.parametrize("operation", NOT_FOUND)
def test_not_found(kms, keys, operation):
    _kind, call = KEYED[operation]
    _raises("NotFoundException", lambda: call(kms, MISSING, keys))


@pytest.mark.parametrize("operation", DISABLED)
def test_disabled(kms, keys, fresh, operation):
    kind, call = KEYED[operation]
    key = fresh(**SPECS[kind])
    kms.disable_key(KeyId=key)
    _raises("DisabledException", lambda: call(kms, key, keys))


@pytest.mark.parametrize("operation", PENDING)
def test_invalid_state_pending_deletion(kms, keys, fresh, operation):
    kind, call = KEYED[operation]
    key = fresh(**SPECS[kind])
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    _raises("KMSInvalidStateException", lambda: call(kms, key, keys))


def test_invalid_state_cancel_deletion_of_a_key_not_pending(kms, fresh):
    """CancelKeyDeletion needs a key in PendingDeletion; an enabled key is in the wrong state."""
    _raises("KMSInvalidStateException", lambda: kms.cancel_key_deletion(KeyId=fresh()))


@pytest.mark.parametrize("operation", sorted(WRONG_USAGE))
def test_invalid_key_usage(kms, keys, operation):
    _kind, call = KEYED[operation]
    key = getattr(keys, WRONG_USAGE[operation])
    _raises(WRONG_USAGE_ERROR.get(operation, "InvalidKeyUsageException"), lambda: call(kms, key, keys))


# Operation-specific errors: (operation, error, trigger, the reference's words)
SPECIFIC: list[tuple[str, str, Callable[[Any, Any, Any], Any], str]] = [
    ("Decrypt", "InvalidCiphertextException",
     lambda k, keys, fresh: k.decrypt(CiphertextBlob=k.encrypt(KeyId=keys.sym, Plaintext=b"x",
                                                             EncryptionContext={"a": "1"})["CiphertextBlob"],
                                      EncryptionContext={"a": "2"}),
     "From the Decrypt or ReEncrypt operation, the request was rejected because the specified ciphertext, or "
     "additional authenticated data ... is corrupted, missing, or otherwise invalid."),
    ("ReEncrypt", "InvalidCiphertextException",
     lambda k, keys, fresh: k.re_encrypt(CiphertextBlob=k.encrypt(KeyId=keys.sym, Plaintext=b"x",
                                                                EncryptionContext={"a": "1"})["CiphertextBlob"],
                                         DestinationKeyId=keys.sym),
     "the specified ciphertext, or additional authenticated data incorporated into the ciphertext ... is invalid"),
    ("Decrypt", "IncorrectKeyException",
     lambda k, keys, fresh: k.decrypt(CiphertextBlob=k.encrypt(KeyId=keys.sym, Plaintext=b"x")["CiphertextBlob"],
                                      KeyId=fresh()),
     "The request was rejected because the specified KMS key cannot decrypt the data."),
    ("Decrypt", "DisabledException", lambda k, keys, fresh: _disabled_decrypt(k, fresh),
     "The request was rejected because the specified KMS key is not enabled."),
    ("Decrypt", "InvalidKeyUsageException",
     lambda k, keys, fresh: k.decrypt(CiphertextBlob=b"\x01" * 256, KeyId=keys.rsa_sign,
                                      EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
     "For encrypting, decrypting, re-encrypting, and generating data keys, the KeyUsage must be ENCRYPT_DECRYPT."),
    ("ReEncrypt", "NotFoundException",
     lambda k, keys, fresh: k.re_encrypt(CiphertextBlob=k.encrypt(KeyId=keys.sym, Plaintext=b"x")["CiphertextBlob"],
                                         DestinationKeyId=MISSING),
     "the specified entity or resource could not be found"),
    ("Verify", "KMSInvalidSignatureException",
     lambda k, keys, fresh: k.verify(KeyId=keys.ecc_sign, Message=b"other",
                                     Signature=k.sign(KeyId=keys.ecc_sign, Message=b"m",
                                                      SigningAlgorithm="ECDSA_SHA_256")["Signature"],
                                     SigningAlgorithm="ECDSA_SHA_256"),
     "If the signature verification fails, the Verify operation fails with an KMSInvalidSignatureException"),
    ("VerifyMac", "KMSInvalidMacException",
     lambda k, keys, fresh: k.verify_mac(KeyId=keys.hmac, Message=b"m", Mac=b"\x00" * 32, MacAlgorithm="HMAC_SHA_256"),
     "The request was rejected because the HMAC verification failed."),
    ("CreateAlias", "AlreadyExistsException", lambda k, keys, fresh: _alias_twice(k, keys),
     "The request was rejected because it attempted to create a resource that already exists."),
    ("CreateAlias", "InvalidAliasNameException",
     lambda k, keys, fresh: k.create_alias(AliasName="alias/aws/fidelity", TargetKeyId=keys.sym),
     "The alias name cannot begin with alias/aws/. The alias/aws/ prefix is reserved for Amazon Web Services "
     "managed keys."),
    ("DeleteAlias", "NotFoundException", lambda k, keys, fresh: k.delete_alias(AliasName="alias/fidelity-missing"),
     "the specified entity or resource could not be found"),
    ("UpdateAlias", "NotFoundException",
     lambda k, keys, fresh: k.update_alias(AliasName="alias/fidelity-missing", TargetKeyId=keys.sym),
     "the specified entity or resource could not be found"),
    ("ListAliases", "NotFoundException", lambda k, keys, fresh: k.list_aliases(KeyId=MISSING),
     "the specified entity or resource could not be found"),
    ("ListKeys", "InvalidMarkerException", lambda k, keys, fresh: k.list_keys(Marker="not-a-marker", Limit=1),
     "The request was rejected because the marker that specifies where pagination should next begin is not "
     "valid."),
    ("CreateKey", "MalformedPolicyDocumentException", lambda k, keys, fresh: k.create_key(Policy="{not json"),
     "The request was rejected because the specified policy is not syntactically or semantically correct."),
    ("PutKeyPolicy", "MalformedPolicyDocumentException",
     lambda k, keys, fresh: k.put_key_policy(KeyId=keys.sym, PolicyName="default", Policy="{not json"),
     "The request was rejected because the specified policy is not syntactically or semantically correct."),
    ("CreateKey", "TagException",
     lambda k, keys, fresh: k.create_key(Tags=[{"TagKey": "aws:reserved", "TagValue": "v"}]),
     "The request was rejected because one or more tags are not valid."),
    ("TagResource", "TagException",
     lambda k, keys, fresh: k.tag_resource(KeyId=keys.sym, Tags=[{"TagKey": "aws:reserved", "TagValue": "v"}]),
     "The request was rejected because one or more tags are not valid."),
    ("EnableKeyRotation", "UnsupportedOperationException",
     lambda k, keys, fresh: k.enable_key_rotation(KeyId=keys.hmac),
     "Automatic key rotation is supported only on symmetric encryption KMS keys."),
    ("RotateKeyOnDemand", "UnsupportedOperationException",
     lambda k, keys, fresh: k.rotate_key_on_demand(KeyId=keys.hmac),
     "On-demand rotation is supported only on symmetric encryption KMS keys."),
    ("DisableKeyRotation", "UnsupportedOperationException",
     lambda k, keys, fresh: k.disable_key_rotation(KeyId=keys.ecc_sign),
     "Automatic key rotation is supported only on symmetric encryption KMS keys."),
    ("ListKeyRotations", "UnsupportedOperationException",
     lambda k, keys, fresh: k.list_key_rotations(KeyId=keys.hmac),
     "Key material rotation is supported only on symmetric encryption KMS keys."),
    ("GetParametersForImport", "UnsupportedOperationException",
     lambda k, keys, fresh: k.get_parameters_for_import(KeyId=keys.sym, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                        WrappingKeySpec="RSA_2048"),
     "The request was rejected because a specified parameter is not supported or a specified resource is not "
     "valid for this operation (the KMS key's Origin must be EXTERNAL)."),
    ("ImportKeyMaterial", "InvalidImportTokenException",
     lambda k, keys, fresh: k.import_key_material(KeyId=keys.external, ImportToken=b"x" * 32,
                                                  EncryptedKeyMaterial=b"y" * 256,
                                                  ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
     "The request was rejected because the provided import token is invalid or is associated with a different "
     "KMS key."),
    ("RetireGrant", "InvalidGrantTokenException", lambda k, keys, fresh: k.retire_grant(GrantToken="not-a-token"),
     "The request was rejected because the specified grant token is not valid."),
    ("RevokeGrant", "NotFoundException",
     lambda k, keys, fresh: k.revoke_grant(KeyId=keys.sym, GrantId="0" * 64),
     "the specified entity or resource could not be found"),
]


def _disabled_decrypt(kms, fresh):
    key = fresh()
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key)
    return kms.decrypt(CiphertextBlob=blob)


def _alias_twice(kms, keys):
    kms.create_alias(AliasName="alias/fidelity-twice", TargetKeyId=keys.sym)
    try:
        return kms.create_alias(AliasName="alias/fidelity-twice", TargetKeyId=keys.sym)
    finally:
        kms.delete_alias(AliasName="alias/fidelity-twice")


@pytest.mark.parametrize("operation, error, trigger, doc", SPECIFIC,
                         ids=[f"{op}-{error}" for op, error, _t, _d in SPECIFIC])
def test_specific_error(kms, keys, fresh, operation, error, trigger, doc):
    _raises(error, lambda: trigger(kms, keys, fresh))
