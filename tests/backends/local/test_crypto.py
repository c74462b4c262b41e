"""Cryptographic round trips and KMS-named refusals on the local backend."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from kmstui.backends.local import blob as blobfmt
from kmstui.errors import (DisabledException, IncorrectKeyException, InvalidCiphertextException,
                           InvalidKeyUsageException, KMSInvalidMacException, KMSInvalidSignatureException,
                           KMSInvalidStateException, NotFoundException, UnsupportedOperationException,
                           ValidationException)


@pytest.fixture
def hsm(unsealed_hsm):
    return unsealed_hsm


def new_key(hsm, **kw):
    return hsm.create_key(**kw)["KeyMetadata"]


def test_symmetric_round_trip_with_context_and_alias(hsm):
    key = new_key(hsm)
    hsm.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    out = hsm.encrypt(KeyId="alias/app", Plaintext=b"secret", EncryptionContext={"b": "2", "a": "1"})
    assert out["KeyId"] == key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    parsed = blobfmt.parse(blob)
    assert blob[:4] == b"KMT\x01" and parsed.key_id == key["KeyId"] and parsed.key_version == 1
    # context order does not matter (canonical form); decrypt needs no key id
    dec = hsm.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1", "b": "2"})
    assert dec["Plaintext"] == b"secret" and dec["KeyId"] == key["Arn"]
    for wrong in ({"a": "1"}, {"a": "1", "b": "3"}, None):
        with pytest.raises(InvalidCiphertextException):
            hsm.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)


def test_decrypt_refuses_bad_blobs_and_wrong_key(hsm):
    k1, k2 = new_key(hsm), new_key(hsm)
    blob = hsm.encrypt(KeyId=k1["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(IncorrectKeyException):
        hsm.decrypt(CiphertextBlob=blob, KeyId=k2["KeyId"])
    assert hsm.decrypt(CiphertextBlob=blob, KeyId=k1["Arn"])["Plaintext"] == b"x"
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(InvalidCiphertextException):
        hsm.decrypt(CiphertextBlob=bytes(tampered))
    with pytest.raises(InvalidCiphertextException, match="not a kmstui ciphertext"):
        hsm.decrypt(CiphertextBlob=b"garbage" * 10)
    # the header is authenticated: pointing the blob at another version or key fails
    moved = bytearray(blob)
    moved[4:20] = bytes.fromhex(k2["KeyId"].replace("-", ""))
    with pytest.raises(InvalidCiphertextException):
        hsm.decrypt(CiphertextBlob=bytes(moved))


def test_state_and_usage_errors(hsm):
    key = new_key(hsm)
    blob = hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    hsm.disable_key(KeyId=key["KeyId"])
    with pytest.raises(DisabledException):
        hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with pytest.raises(DisabledException):
        hsm.decrypt(CiphertextBlob=blob)
    hsm.enable_key(KeyId=key["KeyId"])
    hsm.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(KMSInvalidStateException):
        hsm.decrypt(CiphertextBlob=blob)
    signer = new_key(hsm, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    with pytest.raises(InvalidKeyUsageException):
        hsm.encrypt(KeyId=signer["KeyId"], Plaintext=b"x")
    with pytest.raises(InvalidKeyUsageException):
        hsm.generate_data_key(KeyId=signer["KeyId"], KeySpec="AES_256")
    with pytest.raises(ValidationException):
        hsm.encrypt(KeyId=new_key(hsm)["KeyId"], Plaintext=b"x" * 4097)
    with pytest.raises(NotFoundException):
        hsm.encrypt(KeyId="alias/missing", Plaintext=b"x")
    with pytest.raises(NotFoundException):
        hsm.encrypt(KeyId="arn:aws:kms:us-east-1:999999999999:key/" + signer["KeyId"], Plaintext=b"x")


def test_data_keys_and_reencrypt(hsm):
    k1, k2 = new_key(hsm), new_key(hsm)
    dk = hsm.generate_data_key(KeyId=k1["KeyId"], KeySpec="AES_256", EncryptionContext={"f": "1"})
    assert len(dk["Plaintext"]) == 32
    assert hsm.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"f": "1"})["Plaintext"] == dk["Plaintext"]
    assert len(hsm.generate_data_key(KeyId=k1["KeyId"], NumberOfBytes=7)["Plaintext"]) == 7
    nopt = hsm.generate_data_key_without_plaintext(KeyId=k1["KeyId"], KeySpec="AES_128")
    assert "Plaintext" not in nopt and len(hsm.decrypt(CiphertextBlob=nopt["CiphertextBlob"])["Plaintext"]) == 16
    with pytest.raises(ValidationException):
        hsm.generate_data_key(KeyId=k1["KeyId"], KeySpec="AES_256", NumberOfBytes=32)
    re = hsm.re_encrypt(CiphertextBlob=dk["CiphertextBlob"], SourceEncryptionContext={"f": "1"},
                        DestinationKeyId=k2["KeyId"], DestinationEncryptionContext={"g": "2"})
    assert re["SourceKeyId"] == k1["Arn"] and re["KeyId"] == k2["Arn"]
    assert hsm.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"g": "2"})["Plaintext"] == dk["Plaintext"]
    with pytest.raises(IncorrectKeyException):
        hsm.re_encrypt(CiphertextBlob=dk["CiphertextBlob"], SourceEncryptionContext={"f": "1"},
                       SourceKeyId=k2["KeyId"], DestinationKeyId=k2["KeyId"])
    assert len(hsm.generate_random(NumberOfBytes=64)["Plaintext"]) == 64
    with pytest.raises(ValidationException):
        hsm.generate_random(NumberOfBytes=0)


SIGNING = [("RSA_2048", "RSASSA_PSS_SHA_256"), ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_384"),
           ("RSA_4096", "RSASSA_PSS_SHA_512"), ("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
           ("ECC_NIST_P521", "ECDSA_SHA_512"), ("ECC_SECG_P256K1", "ECDSA_SHA_256")]


@pytest.mark.parametrize("spec,algorithm", SIGNING)
def test_sign_verify_every_asymmetric_spec(hsm, spec, algorithm):
    key = new_key(hsm, KeySpec=spec, KeyUsage="SIGN_VERIFY")
    sig = hsm.sign(KeyId=key["KeyId"], Message=b"message", SigningAlgorithm=algorithm)["Signature"]
    assert hsm.verify(KeyId=key["KeyId"], Message=b"message", Signature=sig, SigningAlgorithm=algorithm)["SignatureValid"]
    with pytest.raises(KMSInvalidSignatureException):
        hsm.verify(KeyId=key["KeyId"], Message=b"other", Signature=sig, SigningAlgorithm=algorithm)
    # the public key verifies it offline, as a KMS user would
    pub = serialization.load_der_public_key(hsm.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[algorithm[-3:]]
    if spec.startswith("RSA"):
        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) if "PSS" in algorithm else padding.PKCS1v15()
        pub.verify(sig, b"message", pad, h)
    else:
        pub.verify(sig, b"message", ec.ECDSA(h))
    digest = hashlib.new(h.name, b"message").digest()
    sig2 = hsm.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
    assert hsm.verify(KeyId=key["KeyId"], Message=b"message", Signature=sig2, SigningAlgorithm=algorithm)["SignatureValid"]


def test_rsa_encryption_keys(hsm):
    key = new_key(hsm, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    with pytest.raises(InvalidKeyUsageException):
        hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"x")  # SYMMETRIC_DEFAULT is not an RSA algorithm
    ct = hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    pub = serialization.load_der_public_key(hsm.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    offline = pub.encrypt(b"y", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
    assert hsm.decrypt(CiphertextBlob=ct, KeyId=key["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"x"
    assert hsm.decrypt(CiphertextBlob=offline, KeyId=key["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == b"y"
    with pytest.raises(InvalidKeyUsageException):
        hsm.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")


@pytest.mark.parametrize("spec,algorithm", [("HMAC_256", "HMAC_SHA_256"), ("HMAC_384", "HMAC_SHA_384"),
                                            ("HMAC_512", "HMAC_SHA_512")])
def test_hmac_keys(hsm, spec, algorithm):
    key = new_key(hsm, KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
    assert key["KeyUsage"] == "GENERATE_VERIFY_MAC" and key["MacAlgorithms"] == [algorithm]
    mac = hsm.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm=algorithm)["Mac"]
    assert hsm.verify_mac(KeyId=key["KeyId"], Message=b"m", Mac=mac, MacAlgorithm=algorithm)["MacValid"]
    with pytest.raises(KMSInvalidMacException):
        hsm.verify_mac(KeyId=key["KeyId"], Message=b"n", Mac=mac, MacAlgorithm=algorithm)
    with pytest.raises(InvalidKeyUsageException):
        hsm.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_224")
    with pytest.raises(UnsupportedOperationException):
        hsm.get_public_key(KeyId=key["KeyId"])


def test_audit_never_holds_plaintext(hsm):
    key = new_key(hsm)
    secret = b"TOP-SECRET-PLAINTEXT"
    out = hsm.encrypt(KeyId=key["KeyId"], Plaintext=secret, EncryptionContext={"purpose": "audit-test"})
    dk = hsm.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    hsm.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"purpose": "audit-test"})
    hsm.audit.flush()
    text = hsm.audit.path.read_text()
    import base64

    assert b"TOP-SECRET" not in text.encode() and base64.b64encode(secret).decode() not in text
    assert base64.b64encode(dk["Plaintext"]).decode() not in text and dk["Plaintext"].hex() not in text
    events = [json.loads(line) for line in text.splitlines()]
    enc = [e for e in events if e["eventName"] == "Encrypt"][0]
    assert enc["requestParameters"]["encryptionContext"] == {"purpose": "audit-test"}
    assert enc["resources"][0]["ARN"] == key["Arn"] and enc["eventSource"] == "kms.amazonaws.com"
    assert enc["userIdentity"]["arn"] == "arn:aws:iam::111122223333:root"


def test_missing_material_of_an_existing_version_is_tampering_not_a_bad_ciphertext(hsm):
    import sqlite3

    from kmstui.errors import KMSInternalException

    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    old = hsm.encrypt(KeyId=key, Plaintext=b"v1")["CiphertextBlob"]
    hsm.rotate_key_on_demand(KeyId=key)
    conn = sqlite3.connect(str(hsm.path))
    conn.execute("DELETE FROM material WHERE key_id=? AND version=1", (key,))
    conn.commit()
    conn.close()
    hsm._material.clear()  # this process had it cached; another process would not
    with pytest.raises(KMSInternalException, match="sealed material of its version 1 is missing"):
        hsm.decrypt(CiphertextBlob=old)
    # a ciphertext naming a version the key never had is still the caller's problem
    parsed = blobfmt.parse(old)
    forged = blobfmt.pack_header(parsed.key_id, 7, parsed.iv) + old[blobfmt.HEADER_LEN:]
    with pytest.raises(InvalidCiphertextException, match="version 7"):
        hsm.decrypt(CiphertextBlob=forged)


def test_derive_shared_secret_agrees_with_the_peer(hsm):
    """DeriveSharedSecret: "You must use an asymmetric NIST-standard elliptic curve (ECC) ... KMS key pair with a
    KeyUsage value of KEY_AGREEMENT"; the peer computes "the same raw secret using his private key and Alice's
    public key". Response: KeyId, SharedSecret, KeyAgreementAlgorithm, KeyOrigin."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    alice = new_key(hsm, KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")
    bob = ec.generate_private_key(ec.SECP384R1())
    bob_der = bob.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = hsm.derive_shared_secret(KeyId=alice["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=bob_der)
    assert set(out) == {"KeyId", "SharedSecret", "KeyAgreementAlgorithm", "KeyOrigin"}
    assert (out["KeyId"], out["KeyAgreementAlgorithm"], out["KeyOrigin"]) == (alice["Arn"], "ECDH", "AWS_KMS")
    alice_pub = serialization.load_der_public_key(hsm.get_public_key(KeyId=alice["KeyId"])["PublicKey"])
    assert out["SharedSecret"] == bob.exchange(ec.ECDH(), alice_pub)

    signer = new_key(hsm, KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")
    with pytest.raises(InvalidKeyUsageException):
        hsm.derive_shared_secret(KeyId=signer["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=bob_der)
    other_curve = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for bad in (other_curve, b"not a key"):
        with pytest.raises(ValidationException):
            hsm.derive_shared_secret(KeyId=alice["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=bad)
    hsm.disable_key(KeyId=alice["KeyId"])
    with pytest.raises(DisabledException):
        hsm.derive_shared_secret(KeyId=alice["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=bob_der)
