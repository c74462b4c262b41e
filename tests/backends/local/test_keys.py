"""Key lifecycle on the local backend: aliases, tags, policies, deletion windows and rotation, with time
moved through the backend's clock rather than sleeps."""

from __future__ import annotations

import json

import pytest

from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import Store
from kmstui.errors import (AlreadyExistsException, InvalidAliasNameException, KMSInvalidStateException,
                           NotFoundException, TagException, UnsupportedOperationException, ValidationException)

DAY = 86400


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def hsm(unsealed_hsm):
    unsealed_hsm.clock = Clock()
    return unsealed_hsm


def reopen(hsm, clock) -> LocalBackend:
    return LocalBackend(Store.open(hsm.path), hsm._keys, clock=clock)


def test_new_key_metadata_and_default_policy(hsm):
    md = hsm.create_key(Description="payments", Tags=[{"TagKey": "team", "TagValue": "pay"}])["KeyMetadata"]
    assert md["Arn"] == f"arn:aws:kms:us-east-1:111122223333:key/{md['KeyId']}"
    assert (md["AWSAccountId"], md["KeyState"], md["KeySpec"], md["KeyUsage"], md["Origin"], md["KeyManager"]) == (
        "111122223333", "Enabled", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_KMS", "CUSTOMER")
    policy = json.loads(hsm.get_key_policy(KeyId=md["KeyId"])["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert policy["Statement"][0]["Action"] == "kms:*"
    assert hsm.list_resource_tags(KeyId=md["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "pay"}]
    with pytest.raises(ValidationException, match="not compatible with KeySpec ECC_NIST_P256"):
        hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="ENCRYPT_DECRYPT")
    with pytest.raises(ValidationException):
        hsm.create_key(KeySpec="NOPE_1")
    # The backend API has no silent default either: KeyUsage is required for every spec but SYMMETRIC_DEFAULT.
    for spec in ("RSA_2048", "ECC_NIST_P384", "HMAC_224"):
        with pytest.raises(ValidationException, match="You must specify a KeyUsage value"):
            hsm.create_key(KeySpec=spec)
    assert hsm.list_keys()["Keys"] == [{"KeyId": md["KeyId"], "KeyArn": md["Arn"]}]


def test_alias_rules(hsm):
    k1 = hsm.create_key()["KeyMetadata"]["KeyId"]
    k2 = hsm.create_key()["KeyMetadata"]["KeyId"]
    for bad in ("alias/aws/app", "alias/"):
        with pytest.raises(InvalidAliasNameException):
            hsm.create_alias(AliasName=bad, TargetKeyId=k1)
    for bad in ("app", "alias/sp ace", "alias/a:b", "alias/" + "a" * 251):  # what KMS answers with ValidationException
        with pytest.raises(ValidationException):
            hsm.create_alias(AliasName=bad, TargetKeyId=k1)
    hsm.create_alias(AliasName="alias/app", TargetKeyId=k1)
    with pytest.raises(AlreadyExistsException):
        hsm.create_alias(AliasName="alias/app", TargetKeyId=k2)
    with pytest.raises(ValidationException):
        hsm.create_alias(AliasName="alias/other", TargetKeyId="alias/app")
    hsm.update_alias(AliasName="alias/app", TargetKeyId=k2)
    assert hsm.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == k2
    assert hsm.describe_key(KeyId="arn:aws:kms:us-east-1:111122223333:alias/app")["KeyMetadata"]["KeyId"] == k2
    listed = {a["AliasName"]: a["TargetKeyId"] for a in hsm.list_aliases()["Aliases"]}
    assert listed == {"alias/app": k2}
    metadata = {m["KeyId"]: m["Aliases"] for m in hsm.list_key_metadata()}
    assert metadata == {k1: [], k2: ["alias/app"]}
    hsm.delete_alias(AliasName="alias/app")
    with pytest.raises(NotFoundException):
        hsm.describe_key(KeyId="alias/app")


def test_tags_and_pagination(hsm):
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(TagException):
        hsm.tag_resource(KeyId=key, Tags=[{"TagKey": "aws:x", "TagValue": "1"}])
    hsm.tag_resource(KeyId=key, Tags=[{"TagKey": f"t{i}", "TagValue": str(i)} for i in range(5)])
    hsm.untag_resource(KeyId=key, TagKeys=["t0", "t1"])
    assert [t["TagKey"] for t in hsm.list_resource_tags(KeyId=key)["Tags"]] == ["t2", "t3", "t4"]
    for _ in range(4):
        hsm.create_key()
    first = hsm.list_keys(Limit=3)
    assert first["Truncated"] and len(first["Keys"]) == 3
    rest = hsm.list_keys(Limit=3, Marker=first["NextMarker"])
    assert not rest["Truncated"] and len({k["KeyId"] for k in first["Keys"] + rest["Keys"]}) == 5


def test_deletion_window_applied_on_open_and_on_use(hsm):
    clock = hsm.clock
    gone = hsm.create_key()["KeyMetadata"]["KeyId"]
    kept = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.create_alias(AliasName="alias/gone", TargetKeyId=gone)
    for bad in (6, 31):
        with pytest.raises(ValidationException):
            hsm.schedule_key_deletion(KeyId=gone, PendingWindowInDays=bad)
    out = hsm.schedule_key_deletion(KeyId=gone, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["DeletionDate"].timestamp() == clock.t + 7 * DAY
    hsm.schedule_key_deletion(KeyId=kept, PendingWindowInDays=10)
    hsm.cancel_key_deletion(KeyId=kept)
    assert hsm.describe_key(KeyId=kept)["KeyMetadata"]["KeyState"] == "Disabled"  # as KMS does
    clock.t += 7 * DAY - 1
    assert hsm.describe_key(KeyId=gone)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with pytest.raises(KMSInvalidStateException):
        hsm.schedule_key_deletion(KeyId=gone)
    clock.t += 2
    # another process opening the store applies the event
    other = reopen(hsm, clock)
    with pytest.raises(NotFoundException):
        other.describe_key(KeyId=gone)
    with pytest.raises(NotFoundException):
        hsm.describe_key(KeyId="alias/gone")
    other.close()
    names = [json.loads(line)["eventName"] for line in hsm.audit.path.read_text().splitlines()]
    assert "DeleteKey" in names


def test_automatic_and_on_demand_rotation(hsm):
    clock = hsm.clock
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    old = hsm.encrypt(KeyId=key, Plaintext=b"v1")["CiphertextBlob"]
    for bad in (89, 2561):
        with pytest.raises(ValidationException):
            hsm.enable_key_rotation(KeyId=key, RotationPeriodInDays=bad)
    hsm.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = hsm.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90
    assert status["NextRotationDate"].timestamp() == clock.t + 90 * DAY
    clock.t += 91 * DAY
    mid = hsm.encrypt(KeyId=key, Plaintext=b"v2")["CiphertextBlob"]  # rotation applied on use
    assert mid[20:24] == (2).to_bytes(4, "big")
    hsm.rotate_key_on_demand(KeyId=key)
    new = hsm.encrypt(KeyId=key, Plaintext=b"v3")["CiphertextBlob"]
    assert new[20:24] == (3).to_bytes(4, "big")
    assert [hsm.decrypt(CiphertextBlob=b)["Plaintext"] for b in (old, mid, new)] == [b"v1", b"v2", b"v3"]
    kinds = [r["RotationType"] for r in hsm.list_key_rotations(KeyId=key)["Rotations"]]
    assert kinds == ["AUTOMATIC", "ON_DEMAND"]
    # a store closed for two periods catches up when opened
    clock.t += 181 * DAY
    other = reopen(hsm, clock)
    assert len(other.list_key_rotations(KeyId=key)["Rotations"]) == 4
    other.close()
    with pytest.raises(UnsupportedOperationException):
        hsm.enable_key_rotation(KeyId=hsm.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
                                ["KeyMetadata"]["KeyId"])


def test_disabled_key_does_not_rotate_until_enabled(hsm):
    clock = hsm.clock
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    hsm.disable_key(KeyId=key)
    clock.t += 100 * DAY
    reopen(hsm, clock).close()
    assert hsm.list_key_rotations(KeyId=key)["Rotations"] == []
    hsm.enable_key(KeyId=key)
    hsm.encrypt(KeyId=key, Plaintext=b"x")
    assert len(hsm.list_key_rotations(KeyId=key)["Rotations"]) == 1


def test_update_alias_needs_the_same_key_type_and_usage_not_the_same_spec(hsm):
    """AWS UpdateAlias: both keys symmetric, both asymmetric or both HMAC, with the same key usage."""
    rsa2 = hsm.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    rsa4 = hsm.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ecc = hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    rsa_enc = hsm.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    sym = hsm.create_key()["KeyMetadata"]["KeyId"]
    mac = hsm.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    hsm.create_alias(AliasName="alias/signer", TargetKeyId=rsa2)
    hsm.update_alias(AliasName="alias/signer", TargetKeyId=rsa4)
    hsm.update_alias(AliasName="alias/signer", TargetKeyId=ecc)
    with pytest.raises(ValidationException, match="same type and key usage.*usage ENCRYPT_DECRYPT"):
        hsm.update_alias(AliasName="alias/signer", TargetKeyId=rsa_enc)
    hsm.create_alias(AliasName="alias/data", TargetKeyId=sym)
    with pytest.raises(ValidationException, match="a symmetric key .* an HMAC key"):
        hsm.update_alias(AliasName="alias/data", TargetKeyId=mac)
    with pytest.raises(ValidationException, match="same type"):
        hsm.update_alias(AliasName="alias/data", TargetKeyId=rsa_enc)
    assert hsm.describe_key(KeyId="alias/data")["KeyMetadata"]["KeyId"] == sym


def test_algorithm_errors_name_the_spec_without_a_wrong_article(hsm):
    ecc = hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    mac = hsm.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    with pytest.raises(Exception, match=r"not valid for ECC_NIST_P256 keys") as info:
        hsm.sign(KeyId=ecc, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert " a ECC" not in str(info.value)
    with pytest.raises(Exception, match=r"not valid for HMAC_256 keys"):
        hsm.generate_mac(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_512")


def test_missing_key_policy_row_is_tampering_not_the_default_policy(hsm):
    """Deleting a restrictive policy row must not widen access to the default (root kms:*) policy."""
    import sqlite3

    from kmstui.errors import KMSInternalException

    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    conn = sqlite3.connect(str(hsm.path))
    conn.execute("DELETE FROM policies WHERE key_id=?", (key,))
    conn.commit()
    conn.close()
    with pytest.raises(KMSInternalException, match="key policy row is missing"):
        hsm.get_key_policy(KeyId=key)
    with pytest.raises(KMSInternalException, match="key policy row is missing"):
        hsm.encrypt(KeyId=key, Plaintext=b"x")  # the authorizer reads the policy: refused, not allowed
