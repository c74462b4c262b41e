"""Bring-your-own-key: the client wraps material with `cryptography` exactly as a KMS user would."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kmstui.errors import (ExpiredImportTokenException, IncorrectKeyMaterialException, InvalidImportTokenException,
                           KMSInvalidStateException, UnsupportedOperationException)


def wrap(params, material, algorithm):
    pub = serialization.load_der_public_key(params["PublicKey"])
    h = hashes.SHA256() if algorithm.endswith("SHA_256") else hashes.SHA1()
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    if algorithm.startswith("RSAES"):
        return pub.encrypt(material, oaep)
    aes = os.urandom(32)
    return pub.encrypt(aes, oaep) + keywrap.aes_key_wrap_with_padding(aes, material)


@pytest.mark.parametrize("algorithm,spec", [("RSAES_OAEP_SHA_256", "RSA_2048"), ("RSAES_OAEP_SHA_1", "RSA_3072"),
                                            ("RSA_AES_KEY_WRAP_SHA_256", "RSA_2048")])
def test_byok_round_trip(unsealed_hsm, algorithm, spec):
    hsm = unsealed_hsm
    key = hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert key["KeyState"] == "PendingImport" and key["Origin"] == "EXTERNAL"
    with pytest.raises(KMSInvalidStateException):
        hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    params = hsm.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    material = os.urandom(32)
    hsm.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, material, algorithm))
    assert hsm.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    blob = hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"byok")["CiphertextBlob"]
    assert hsm.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"

    # deleting the material makes the key unusable; only the same material comes back
    hsm.delete_imported_key_material(KeyId=key["KeyId"])
    with pytest.raises(KMSInvalidStateException):
        hsm.decrypt(CiphertextBlob=blob)
    params = hsm.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    with pytest.raises(IncorrectKeyMaterialException):
        hsm.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(32), algorithm))
    hsm.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrap(params, material, algorithm))
    assert hsm.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"


def test_import_tokens_are_checked(unsealed_hsm):
    hsm = unsealed_hsm
    k1 = hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    k2 = hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = hsm.get_parameters_for_import(KeyId=k1, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    wrapped = wrap(params, os.urandom(32), "RSAES_OAEP_SHA_256")
    with pytest.raises(InvalidImportTokenException):
        hsm.import_key_material(KeyId=k2, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped)
    t = hsm.clock()
    hsm.clock = lambda: t + 2 * 86400
    with pytest.raises(ExpiredImportTokenException):
        hsm.import_key_material(KeyId=k1, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped)
    with pytest.raises(UnsupportedOperationException):
        hsm.get_parameters_for_import(KeyId=hsm.create_key()["KeyMetadata"]["KeyId"],
                                      WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")


def test_imported_material_expires(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = hsm.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    now = hsm.clock()
    hsm.import_key_material(KeyId=key, ImportToken=params["ImportToken"], ValidTo=now + 3600,
                            EncryptedKeyMaterial=wrap(params, os.urandom(32), "RSAES_OAEP_SHA_256"))
    assert hsm.describe_key(KeyId=key)["KeyMetadata"]["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    hsm.clock = lambda: now + 3601
    assert hsm.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_tampered_import_parameters_are_refused(unsealed_hsm):
    """Extending a token's life or changing its algorithm in the file breaks the sealed wrapping key's AAD."""
    import sqlite3

    from kmstui.errors import KMSInternalException

    hsm = unsealed_hsm
    key = hsm.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = hsm.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    conn = sqlite3.connect(str(hsm.path))
    conn.execute("UPDATE import_params SET expires = expires + 365 * 86400")
    conn.commit()
    conn.close()
    with pytest.raises(KMSInternalException, match="integrity check failed for the import parameters"):
        hsm.import_key_material(KeyId=key, ImportToken=params["ImportToken"],
                                EncryptedKeyMaterial=wrap(params, os.urandom(32), "RSAES_OAEP_SHA_256"))
