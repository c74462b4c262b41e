"""What the PKCS#11 backend stores on the token and how it behaves there, checked with raw python-pkcs11
calls on the same token: non-extractable token keys, aliases as labels, token-enforced disabling, the
emulated deletion window, rotation, persistence across logins, and thread safety."""

from __future__ import annotations

import threading
import time
import uuid

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from kmstui.backends.local import blob
from kmstui.backends.pkcs11 import backend as backend_module
from kmstui.errors import (
    DisabledException, LimitExceededException, NotFoundException, UnsupportedOperationException, UsageError,
)
from kmstui.session import Session


@pytest.fixture
def hsm(pkcs11_profile):
    session = Session(load_plugins=False)
    yield session.backend(pkcs11_profile)
    session.close()


def reopen(pkcs11_profile):
    return Session(load_plugins=False)


def token_objects(backend, key_id: str, cls):
    return list(backend.session.get_objects({Attribute.CLASS: cls, Attribute.ID: uuid.UUID(key_id).bytes}))


def test_symmetric_key_is_a_sensitive_non_extractable_token_object(hsm):
    key = hsm.create_key(Description="stored")["KeyMetadata"]
    [obj] = token_objects(hsm, key["KeyId"], ObjectClass.SECRET_KEY)
    assert obj[Attribute.TOKEN] and obj[Attribute.SENSITIVE] and obj[Attribute.PRIVATE]
    assert not obj[Attribute.EXTRACTABLE]
    assert obj[Attribute.VALUE_LEN] == 32
    assert obj[Attribute.LABEL] == key["KeyId"]
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        obj[Attribute.VALUE]


def test_ciphertext_is_the_kmstui_blob(hsm):
    key = hsm.create_key()["KeyMetadata"]
    out = hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 32, EncryptionContext={"a": "b"})
    parsed = blob.parse(out["CiphertextBlob"])
    assert parsed.key_id == key["KeyId"] and parsed.key_version == 1
    assert len(out["CiphertextBlob"]) == blob.HEADER_LEN + 32 + blob.TAG_LEN


def test_alias_is_the_token_label(hsm):
    key = hsm.create_key()["KeyMetadata"]
    hsm.create_alias(AliasName="alias/label-check", TargetKeyId=key["KeyId"])
    [obj] = token_objects(hsm, key["KeyId"], ObjectClass.SECRET_KEY)
    assert obj[Attribute.LABEL] == "label-check"
    with pytest.raises(LimitExceededException, match="one alias"):
        hsm.create_alias(AliasName="alias/label-check-2", TargetKeyId=key["KeyId"])
    hsm.delete_alias(AliasName="alias/label-check")
    assert obj[Attribute.LABEL] == key["KeyId"]


def test_keys_persist_across_logins(pkcs11_profile):
    first = Session(load_plugins=False)
    b1 = first.backend(pkcs11_profile)
    key = b1.create_key(Description="persistent")["KeyMetadata"]
    b1.create_alias(AliasName="alias/persist", TargetKeyId=key["KeyId"])
    b1.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "k", "TagValue": "v"}])
    ciphertext = b1.encrypt(KeyId="alias/persist", Plaintext=b"kept")["CiphertextBlob"]
    first.close()  # logs the token out
    second = Session(load_plugins=False)
    try:
        b2 = second.backend(pkcs11_profile)
        md = b2.describe_key(KeyId="alias/persist")["KeyMetadata"]
        assert md["KeyId"] == key["KeyId"] and md["Description"] == "persistent"
        assert b2.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "k", "TagValue": "v"}]
        assert b2.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"kept"
    finally:
        second.close()


def test_disable_is_enforced_by_the_token_itself(hsm):
    key = hsm.create_key()["KeyMetadata"]
    [obj] = token_objects(hsm, key["KeyId"], ObjectClass.SECRET_KEY)  # a handle taken while enabled
    hsm.disable_key(KeyId=key["KeyId"])
    assert obj[Attribute.ENCRYPT] is False and obj[Attribute.DECRYPT] is False
    gcm = pkcs11.GCMParams(b"\0" * 12, b"")
    with pytest.raises(pkcs11.PKCS11Error):  # CKR_KEY_FUNCTION_NOT_PERMITTED: any program is refused
        obj.encrypt(b"data", mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=gcm)
    with pytest.raises(DisabledException):
        hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"data")
    hsm.enable_key(KeyId=key["KeyId"])
    assert hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"data")["CiphertextBlob"]
    assert obj.encrypt(b"data", mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=gcm)


def test_disabled_elsewhere_is_refused_here(pkcs11_profile):
    """Another process (here: another login) disables the key; this backend's cache is stale but the token
    refuses the key and the error says so."""
    one, two = Session(load_plugins=False), Session(load_plugins=False)
    try:
        b1, b2 = one.backend(pkcs11_profile), two.backend(pkcs11_profile)
        key = b1.create_key()["KeyMetadata"]
        b2.encrypt(KeyId=key["KeyId"], Plaintext=b"warm the cache")
        b1.disable_key(KeyId=key["KeyId"])
        with pytest.raises(DisabledException, match="token refused"):
            b2.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        b1.enable_key(KeyId=key["KeyId"])  # b2 still believes the key is disabled: it looks again
        assert b2.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    finally:
        one.close()
        two.close()


def test_deletion_window_then_purge(hsm, monkeypatch):
    key = hsm.create_key()["KeyMetadata"]
    hsm.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert token_objects(hsm, key["KeyId"], ObjectClass.SECRET_KEY)  # still there while pending
    hsm.cancel_key_deletion(KeyId=key["KeyId"])
    hsm.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    later = time.time() + 7 * 86400 + 60
    monkeypatch.setattr(backend_module.time, "time", lambda: later)
    assert key["KeyId"] not in [k["KeyId"] for k in hsm.list_keys()["Keys"]]
    assert token_objects(hsm, key["KeyId"], ObjectClass.SECRET_KEY) == []
    with pytest.raises(NotFoundException):
        hsm.describe_key(KeyId=key["KeyId"])


def test_automatic_rotation_happens_when_due(hsm, monkeypatch):
    key = hsm.create_key()["KeyMetadata"]
    old = hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"v1")["CiphertextBlob"]
    hsm.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    later = time.time() + 91 * 86400
    monkeypatch.setattr(backend_module.time, "time", lambda: later)
    new = hsm.encrypt(KeyId=key["KeyId"], Plaintext=b"v2")["CiphertextBlob"]
    assert blob.parse(new).key_version == 2
    assert [r["RotationType"] for r in hsm.list_key_rotations(KeyId=key["KeyId"])["Rotations"]] == ["AUTOMATIC"]
    assert hsm.decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"
    assert len(token_objects(hsm, key["KeyId"], ObjectClass.SECRET_KEY)) == 1  # version 1 keeps the plain id


def test_interrupted_record_update_keeps_the_newest(hsm, pkcs11_profile):
    key = hsm.create_key(Description="v1")["KeyMetadata"]
    hsm.update_key_description(KeyId=key["KeyId"], Description="v2")
    entry = hsm._entry(key["KeyId"])
    stale = backend_module.KeyRecord.from_bytes(entry.rec.to_bytes())
    stale.description, stale.seq = "stale", entry.rec.seq - 1
    hsm.session.create_object({Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True, Attribute.PRIVATE: True,
                               Attribute.APPLICATION: "kmstui", Attribute.LABEL: key["KeyId"],
                               Attribute.VALUE: stale.to_bytes()})
    hsm.list_keys()  # rescans
    assert hsm.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Description"] == "v2"
    records = list(hsm.session.get_objects({Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: key["KeyId"]}))
    assert len(records) == 1


def test_rsa_oaep_interoperates_with_the_public_key(hsm):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = hsm.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert key["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1"]
    public = load_der_public_key(hsm.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    ciphertext = public.encrypt(b"offline", oaep)
    out = hsm.decrypt(KeyId=key["KeyId"], CiphertextBlob=ciphertext, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert out["Plaintext"] == b"offline"


def test_unsupported_features_say_so(hsm):
    key = hsm.create_key()["KeyMetadata"]
    with pytest.raises(UnsupportedOperationException, match="key policies are not supported by pkcs11"):
        hsm.create_key(Policy="{}")
    with pytest.raises(UnsupportedOperationException, match="grants are not supported by pkcs11"):
        hsm.list_grants(KeyId=key["KeyId"])
    with pytest.raises(UsageError, match="--as"):
        hsm.set_caller("arn:aws:iam::111122223333:role/x")


def test_concurrent_calls_are_serialised(hsm):
    """SoftHSM crashes when two threads enter it at once; the backend's one lock prevents that."""
    key = hsm.create_key()["KeyMetadata"]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(150):
                data = f"thread data {i}".encode()
                blob_ = hsm.encrypt(KeyId=key["KeyId"], Plaintext=data)["CiphertextBlob"]
                assert hsm.decrypt(CiphertextBlob=blob_)["Plaintext"] == data
                hsm.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_two_profiles_share_one_login(pkcs11_profile):
    one, two = Session(load_plugins=False), Session(load_plugins=False)
    b1, b2 = one.backend(pkcs11_profile), two.backend(pkcs11_profile)
    assert b1.conn is b2.conn
    key = b2.create_key()["KeyMetadata"]
    one.close()  # the other user keeps the session logged in
    try:
        assert b2.encrypt(KeyId=key["KeyId"], Plaintext=b"still logged in")["CiphertextBlob"]
    finally:
        two.close()
