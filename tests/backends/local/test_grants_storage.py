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


ROLE = "arn:aws:iam::111122223333:role/app"


@pytest.mark.parametrize("spec, usage, ops", [
    ("SYMMETRIC_DEFAULT", None, ["Sign"]),
    ("SYMMETRIC_DEFAULT", None, ["GenerateMac"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", ["Encrypt", "Decrypt"]),
    ("HMAC_256", "GENERATE_VERIFY_MAC", ["Sign"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", ["GenerateDataKey"]),
])
def test_create_grant_rejects_operations_the_key_type_does_not_support(unsealed_hsm, spec, usage, ops):
    kw = {"KeySpec": spec, **({"KeyUsage": usage} if usage else {})}
    key = unsealed_hsm.create_key(**kw)["KeyMetadata"]["KeyId"]
    with pytest.raises(ValidationException, match="not supported by this key"):
        unsealed_hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=ops)
    assert unsealed_hsm.list_grants(KeyId=key)["Grants"] == []  # nothing stored


def test_create_grant_constraints_only_on_symmetric_encryption_keys(unsealed_hsm):
    cons = {"EncryptionContextEquals": {"app": "web"}}
    for spec, usage, ops in (("RSA_2048", "ENCRYPT_DECRYPT", ["Decrypt"]),
                             ("HMAC_256", "GENERATE_VERIFY_MAC", ["GenerateMac"]),
                             ("ECC_NIST_P256", "SIGN_VERIFY", ["Sign"])):
        key = unsealed_hsm.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
        with pytest.raises(ValidationException, match="only for symmetric encryption keys"):
            unsealed_hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=ops, Constraints=cons)
        assert unsealed_hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=ops)["GrantId"]
    hmac_key = unsealed_hsm.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    assert unsealed_hsm.create_grant(KeyId=hmac_key, GranteePrincipal=ROLE, Operations=["GenerateMac", "VerifyMac"])


@pytest.mark.parametrize("bad, match", [
    ({"Name": "has space"}, "Name"),
    ({"Name": ""}, "Name"),
    ({"Name": "n" * 257}, "Name"),
    ({"Constraints": {"EncryptionContextSubset": {f"k{i}": "v" for i in range(9)}}}, "at most 8"),
    ({"GranteePrincipal": "bob"}, "GranteePrincipal"),
    ({"GranteePrincipal": "arn:aws:iam::111122223333:group/admins"}, "GranteePrincipal"),
    ({"RetiringPrincipal": "arn:aws:sts::111122223333:assumed-role/OnlyRole"}, "RetiringPrincipal"),
    ({"Constraints": {"SourceArn": "arn:aws:logs:us-east-1:111122223333:log-group:x"}}, "Constraints"),
])
def test_create_grant_validates_direct_api_callers(unsealed_hsm, bad, match):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    params = {"KeyId": key, "GranteePrincipal": ROLE, "Operations": ["Decrypt"], **bad}
    with pytest.raises(ValidationException, match=match):
        unsealed_hsm.create_grant(**params)
    assert unsealed_hsm.list_grants(KeyId=key)["Grants"] == []
    ok = unsealed_hsm.create_grant(KeyId=key, GranteePrincipal="arn:aws:sts::111122223333:federated-user/fred",
                                   RetiringPrincipal="arn:aws:sts::111122223333:assumed-role/R/s", Name="a:b/c_d-1",
                                   Operations=["Decrypt"],
                                   Constraints={"EncryptionContextSubset": {f"k{i}": "v" for i in range(8)}})
    assert len(ok["GrantId"]) == 64


def test_grant_paging_follows_kms_limits(unsealed_hsm):
    from kmstui.errors import InvalidMarkerException

    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    made = [hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, RetiringPrincipal=ROLE, Operations=["Decrypt"],
                             Name=f"g{i}")["GrantId"] for i in range(3)]
    for call, kw in ((hsm.list_grants, {"KeyId": key}), (hsm.list_retirable_grants, {"RetiringPrincipal": ROLE})):
        for limit in (0, 101, -1, True, "5"):
            with pytest.raises(ValidationException, match="Limit"):
                call(Limit=limit, **kw)
        for marker in ("-1", "-3", "x", " 1", "+1"):
            with pytest.raises(InvalidMarkerException):
                call(Marker=marker, **kw)
        assert [g["GrantId"] for g in call(Limit=100, **kw)["Grants"]] == made
        first = call(Limit=2, **kw)
        assert first["Truncated"] and len(first["Grants"]) == 2
        rest = call(Limit=2, Marker=first["NextMarker"], **kw)
        assert not rest["Truncated"] and [g["GrantId"] for g in first["Grants"] + rest["Grants"]] == made


def test_key_and_alias_paging_limits(unsealed_hsm):
    from kmstui.errors import InvalidMarkerException

    hsm = unsealed_hsm
    key = hsm.create_key()["KeyMetadata"]["KeyId"]
    hsm.create_alias(AliasName="alias/a", TargetKeyId=key)
    assert hsm.list_keys(Limit=1000)["Keys"]  # ListKeys: 1-1000
    with pytest.raises(ValidationException, match="Limit"):
        hsm.list_keys(Limit=1001)
    assert hsm.list_aliases(Limit=100)["Aliases"]  # ListAliases: 1-100
    with pytest.raises(ValidationException, match="Limit"):
        hsm.list_aliases(Limit=101)
    with pytest.raises(InvalidMarkerException):
        hsm.list_keys(Marker="-1")


def test_grant_tokens_never_start_with_a_dash(unsealed_hsm):
    """A token is typed after `--grant-token`; one starting with '-' would be read as an option. With the URL-safe
    alphabet one token in 64 did, which made commands (and tests) fail at random. Tokens issued earlier in that
    alphabet are still accepted."""
    import base64
    import os

    for _ in range(2000):
        grant_id = os.urandom(32).hex()
        token = unsealed_hsm._token_for(grant_id)
        assert not token.startswith("-")
        assert unsealed_hsm.grant_id_from_token(token) == grant_id
        raw = base64.b64decode(token + "=" * (-len(token) % 4))
        legacy = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        assert unsealed_hsm.grant_id_from_token(legacy) == grant_id


def test_grant_operations_refuse_an_alias_in_words_that_do_not_offer_one(unsealed_hsm):
    """CreateGrant, ListGrants, RetireGrant and RevokeGrant take "the key ID or key ARN of the KMS key" (AWS KMS
    API reference, CreateGrant: KeyId); the refusal used to list alias/NAME among what to give."""
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key)
    for call in (lambda: unsealed_hsm.create_grant(KeyId="alias/app", GranteePrincipal="arn:aws:iam::111122223333:root",
                                                    Operations=["Decrypt"]),
                 lambda: unsealed_hsm.list_grants(KeyId="alias/app")):
        with pytest.raises(NotFoundException, match=r"this operation takes a key id or key ARN, not an alias") as exc:
            call()
        assert "alias/NAME" not in str(exc.value)
