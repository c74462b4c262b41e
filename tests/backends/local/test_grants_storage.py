"""Grant and IAM-policy storage on the local backend (semantics are the authorization engine's)."""

from __future__ import annotations

import pytest

from kmstui.errors import (InvalidGrantIdException, InvalidGrantTokenException, KMSInternalException,
                           NotFoundException, ValidationException)


def test_grant_lifecycle_in_kms_shapes(unsealed_hsm):
    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]
    bob = "arn:aws:iam::111122223333:role/bob"
    out = hsm.create_grant(KeyId=key["KeyId"], GranteePrincipal=bob, RetiringPrincipal=bob, Name="g1",
                           Operations=["Decrypt"], Constraints={"EncryptionContextEquals": {"app": "web"}})
    assert len(out["GrantId"]) == 64
    again = hsm.create_grant(KeyId=key["KeyId"], GranteePrincipal=bob, RetiringPrincipal=bob, Name="g1",
                             Operations=["Decrypt"], Constraints={"EncryptionContextEquals": {"app": "web"}})
    assert again["GrantId"] == out["GrantId"]  # same name and parameters: idempotent, as KMS
    grants = hsm.list_grants(KeyId=key["KeyId"])["Grants"]
    assert len(grants) == 1 and grants[0]["KeyId"] == key["Arn"] and grants[0]["Operations"] == ["Decrypt"]
    assert hsm.list_retirable_grants(RetiringPrincipal=bob)["Grants"][0]["GrantId"] == out["GrantId"]
    assert hsm.grant_id_from_token(out["GrantToken"]) == out["GrantId"]
    with pytest.raises(InvalidGrantTokenException):
        hsm.grant_id_from_token(out["GrantToken"][:-2] + "AA")
    with pytest.raises(ValidationException):
        hsm.create_grant(KeyId=key["KeyId"], GranteePrincipal=bob, Operations=["Fly"])
    with pytest.raises(InvalidGrantIdException):
        hsm.revoke_grant(KeyId=key["KeyId"], GrantId="nope")
    hsm.retire_grant(GrantToken=out["GrantToken"])
    assert hsm.list_grants(KeyId=key["KeyId"])["Grants"] == []
    second = hsm.create_grant(KeyId=key["KeyId"], GranteePrincipal=bob, Operations=["Encrypt"])
    hsm.revoke_grant(KeyId=key["KeyId"], GrantId=second["GrantId"])
    with pytest.raises(NotFoundException):
        hsm.revoke_grant(KeyId=key["KeyId"], GrantId=second["GrantId"])


def test_iam_policies_are_stored_and_tamper_evident(unsealed_hsm):
    import sqlite3

    hsm = unsealed_hsm
    alice = "arn:aws:iam::111122223333:user/alice"
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}'
    hsm.put_identity_policy(PrincipalArn=alice, PolicyName="enc", PolicyDocument=doc)
    assert hsm.get_identity_policy(PrincipalArn=alice, PolicyName="enc")["PolicyDocument"] == doc
    assert hsm.list_identity_policies()["Policies"] == [{"PrincipalArn": alice, "PolicyName": "enc"}]
    conn = sqlite3.connect(str(hsm.path))
    conn.execute("UPDATE iam_policies SET doc=?", (doc.replace("Encrypt", "*").encode(),))
    conn.commit()
    conn.close()
    with pytest.raises(KMSInternalException):
        hsm.iam_policies_for(alice)
