"""Issue 11 item 3: every condition key the engine fills is filled from the real call on the local backend.

ONE table drives it: for each key, an identity-policy Deny conditioned on that key is enforced by the local
backend exactly when `whatif` (asked about the same request, with --key-id on the same store) says DENY;
with a value the request carries both deny, with another value both allow. A coverage test keeps the table
complete: every key the engine derives is in it, or in requestkeys.NOT_LOCAL with the reason it cannot
occur on a local HSM.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kmstui.authz import requestkeys
from kmstui.authz.context import DERIVED_KEYS
from kmstui.errors import AccessDeniedException

ACCT = "111122223333"
BOB = f"arn:aws:iam::{ACCT}:user/bob"
WORKER = f"arn:aws:iam::{ACCT}:role/Worker"
VALID_TO = int(time.time()) + 30 * 86400


@dataclass
class Row:
    key: str  # the condition key
    action: str  # the KMS permission the call needs
    kind: str  # which key the call uses: sym, rsa, ecc, hmac, external, none
    call: Callable[[Any, dict], Any]  # performs the call (as bob) given the keys
    match: Any  # a value the request carries: the Deny applies
    other: Any  # a value it does not carry: the Deny does not apply
    operator: str = "StringEquals"
    whatif: Callable[[dict], list] = lambda k: []  # extra whatif flags describing the same request
    ref: Callable[[dict], str] = lambda k: k["id"]  # how the request names the key
    setup: Callable[[Any, dict], dict] | None = None  # work done as root before the call (returns extras)
    extras: dict = field(default_factory=dict)


def _params(d):
    return ["--parameters", json.dumps(d)]


def _wrap(params, material):
    pub = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return pub.encrypt(material, oaep)


def _import_setup(hsm, k):
    p = hsm.get_parameters_for_import(KeyId=k["id"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    return {"token": p["ImportToken"], "wrapped": _wrap(p, os.urandom(32))}


def _reencrypt_setup(hsm, k):
    return {"blob": hsm.encrypt(KeyId=k["id"], Plaintext=b"x")["CiphertextBlob"]}


GRANT = {"GranteePrincipal": WORKER, "Operations": ["Decrypt"], "RetiringPrincipal": BOB,
         "Constraints": {"EncryptionContextSubset": {"app": "web"}}}
POLICY_TEXT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*", "Resource": "*"}]})


def _enc(**kw):
    return lambda h, k: h.encrypt(KeyId=k["id"], Plaintext=b"x", **kw)


def _grant(h, k):
    return h.create_grant(KeyId=k["id"], **GRANT)


_GRANT_FLAGS = lambda k: ["--grant-request", json.dumps(GRANT)]  # noqa: E731

TABLE = [
    Row("kms:RequestAlias", "kms:Encrypt", "sym", lambda h, k: h.encrypt(KeyId="alias/app", Plaintext=b"x"),
        "alias/app", "alias/other", ref=lambda k: "alias/app"),
    Row("kms:RequestAlias", "kms:DescribeKey", "sym", lambda h, k: h.describe_key(KeyId=k["arn_alias"]),
        "alias/app", "alias/other", ref=lambda k: k["arn_alias"]),
    Row("kms:ResourceAliases", "kms:Encrypt", "sym", _enc(), "alias/app", "alias/other",
        operator="ForAnyValue:StringEquals"),
    Row("kms:EncryptionAlgorithm", "kms:Encrypt", "sym", _enc(), "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256"),
    Row("kms:EncryptionAlgorithm", "kms:Encrypt", "rsa", _enc(EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
        "RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1", whatif=lambda k: ["--encryption-algorithm", "RSAES_OAEP_SHA_256"]),
    Row("kms:EncryptionAlgorithm", "kms:GenerateDataKey", "sym",
        lambda h, k: h.generate_data_key(KeyId=k["id"], KeySpec="AES_256"), "SYMMETRIC_DEFAULT", "SM2PKE"),
    Row("kms:SigningAlgorithm", "kms:Sign", "ecc",
        lambda h, k: h.sign(KeyId=k["id"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
        "ECDSA_SHA_256", "ECDSA_SHA_384", whatif=lambda k: ["--signing-algorithm", "ECDSA_SHA_256"]),
    Row("kms:MacAlgorithm", "kms:GenerateMac", "hmac",
        lambda h, k: h.generate_mac(KeyId=k["id"], Message=b"m", MacAlgorithm="HMAC_SHA_256"),
        "HMAC_SHA_256", "HMAC_SHA_512", whatif=lambda k: ["--mac-algorithm", "HMAC_SHA_256"]),
    Row("kms:KeySpec", "kms:Encrypt", "sym", _enc(), "SYMMETRIC_DEFAULT", "RSA_2048"),
    Row("kms:KeySpec", "kms:CreateKey", "none", lambda h, k: h.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"),
        "ECC_NIST_P256", "RSA_2048", whatif=lambda k: _params({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})),
    Row("kms:KeyUsage", "kms:Encrypt", "sym", _enc(), "ENCRYPT_DECRYPT", "SIGN_VERIFY"),
    Row("kms:KeyUsage", "kms:CreateKey", "none",
        lambda h, k: h.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"), "GENERATE_VERIFY_MAC",
        "ENCRYPT_DECRYPT", whatif=lambda k: _params({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"})),
    Row("kms:KeyOrigin", "kms:Encrypt", "sym", _enc(), "AWS_KMS", "EXTERNAL"),
    Row("kms:KeyOrigin", "kms:CreateKey", "none", lambda h, k: h.create_key(Origin="EXTERNAL"), "EXTERNAL",
        "AWS_KMS", whatif=lambda k: _params({"Origin": "EXTERNAL"})),
    Row("kms:CallerAccount", "kms:Encrypt", "sym", _enc(), ACCT, "444455556666"),
    Row("kms:EncryptionContext:app", "kms:Encrypt", "sym", _enc(EncryptionContext={"app": "web"}), "web", "api",
        whatif=lambda k: ["--context", "app=web"]),
    Row("kms:EncryptionContextKeys", "kms:Encrypt", "sym", _enc(EncryptionContext={"app": "web"}), "app", "team",
        operator="ForAnyValue:StringEquals", whatif=lambda k: ["--context", "app=web"]),
    Row("aws:ResourceTag/team", "kms:Encrypt", "sym", _enc(), "finance", "ops"),
    Row("aws:RequestTag/team", "kms:TagResource", "sym",
        lambda h, k: h.tag_resource(KeyId=k["id"], Tags=[{"TagKey": "team", "TagValue": "payments"}]), "payments",
        "ops", whatif=lambda k: _params({"Tags": [{"TagKey": "team", "TagValue": "payments"}]})),
    Row("aws:TagKeys", "kms:UntagResource", "sym", lambda h, k: h.untag_resource(KeyId=k["id"], TagKeys=["team"]),
        "team", "owner", operator="ForAnyValue:StringEquals", whatif=lambda k: _params({"TagKeys": ["team"]})),
    Row("kms:GrantOperations", "kms:CreateGrant", "sym", _grant, "Decrypt", "Sign",
        operator="ForAnyValue:StringEquals", whatif=_GRANT_FLAGS),
    Row("kms:GranteePrincipal", "kms:CreateGrant", "sym", _grant, WORKER, BOB, whatif=_GRANT_FLAGS),
    Row("kms:RetiringPrincipal", "kms:CreateGrant", "sym", _grant, BOB, WORKER, whatif=_GRANT_FLAGS),
    Row("kms:GrantConstraintType", "kms:CreateGrant", "sym", _grant, "EncryptionContextSubset",
        "EncryptionContextEquals", whatif=_GRANT_FLAGS),
    Row("kms:GrantIsForAWSResource", "kms:CreateGrant", "sym", _grant, "false", "true", operator="Bool",
        whatif=_GRANT_FLAGS),
    Row("kms:BypassPolicyLockoutSafetyCheck", "kms:PutKeyPolicy", "sym",
        lambda h, k: h.put_key_policy(KeyId=k["id"], Policy=POLICY_TEXT), "false", "true", operator="Bool"),
    Row("kms:ScheduleKeyDeletionPendingWindowInDays", "kms:ScheduleKeyDeletion", "sym",
        lambda h, k: h.schedule_key_deletion(KeyId=k["id"], PendingWindowInDays=7), "7", "30",
        operator="NumericEquals", whatif=lambda k: _params({"PendingWindowInDays": 7})),
    Row("kms:RotationPeriodInDays", "kms:EnableKeyRotation", "sym",
        lambda h, k: h.enable_key_rotation(KeyId=k["id"], RotationPeriodInDays=90), "90", "365",
        operator="NumericEquals", whatif=lambda k: _params({"RotationPeriodInDays": 90})),
    Row("kms:ReEncryptOnSameKey", "kms:ReEncryptFrom", "sym",
        lambda h, k: h.re_encrypt(CiphertextBlob=k["blob"], DestinationKeyId=k["id"]), "true", "false",
        operator="Bool", setup=_reencrypt_setup, whatif=lambda k: _params({"DestinationKeyId": k["id"]})),
    Row("kms:WrappingAlgorithm", "kms:GetParametersForImport", "external",
        lambda h, k: h.get_parameters_for_import(KeyId=k["id"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                 WrappingKeySpec="RSA_3072"),
        "RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1",
        whatif=lambda k: _params({"WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_3072"})),
    Row("kms:WrappingKeySpec", "kms:GetParametersForImport", "external",
        lambda h, k: h.get_parameters_for_import(KeyId=k["id"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                 WrappingKeySpec="RSA_3072"),
        "RSA_3072", "RSA_2048",
        whatif=lambda k: _params({"WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_3072"})),
    Row("kms:ExpirationModel", "kms:ImportKeyMaterial", "external",
        lambda h, k: h.import_key_material(KeyId=k["id"], ImportToken=k["token"], EncryptedKeyMaterial=k["wrapped"],
                                           ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
        "KEY_MATERIAL_DOES_NOT_EXPIRE", "KEY_MATERIAL_EXPIRES", setup=_import_setup,
        whatif=lambda k: _params({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"})),
    Row("kms:ValidTo", "kms:ImportKeyMaterial", "external",
        lambda h, k: h.import_key_material(KeyId=k["id"], ImportToken=k["token"], EncryptedKeyMaterial=k["wrapped"],
                                           ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=VALID_TO),
        str(VALID_TO), str(VALID_TO + 1), operator="NumericEquals", setup=_import_setup,
        whatif=lambda k: _params({"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": VALID_TO})),
    Row("aws:PrincipalArn", "kms:Encrypt", "sym", _enc(), BOB, WORKER, operator="ArnEquals"),
    Row("aws:PrincipalAccount", "kms:Encrypt", "sym", _enc(), ACCT, "444455556666"),
    Row("aws:PrincipalType", "kms:Encrypt", "sym", _enc(), "User", "AssumedRole"),
    Row("aws:username", "kms:Encrypt", "sym", _enc(), "bob", "alice"),
    Row("aws:userid", "kms:Encrypt", "sym", _enc(), "", "x", operator="Null"),  # absent for an IAM user here
    Row("aws:PrincipalIsAWSService", "kms:Encrypt", "sym", _enc(), "false", "true", operator="Bool"),
    Row("aws:ViaAWSService", "kms:Encrypt", "sym", _enc(), "false", "true", operator="Bool"),
    Row("aws:SecureTransport", "kms:Encrypt", "sym", _enc(), "true", "false", operator="Bool"),
    Row("aws:RequestedRegion", "kms:Encrypt", "sym", _enc(), "us-east-1", "eu-west-1"),
    Row("aws:ResourceAccount", "kms:Encrypt", "sym", _enc(), ACCT, "444455556666"),
    Row("aws:CurrentTime", "kms:Encrypt", "sym", _enc(), "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z",
        operator="DateGreaterThan"),
    Row("aws:EpochTime", "kms:Encrypt", "sym", _enc(), "946684800", "32503680000", operator="DateGreaterThan"),
]


def _condition(row: Row, value: Any) -> dict:
    if row.operator == "Null":  # Null true means "absent": the match value tests absence, the other presence
        return {"Null": {row.key: "true" if value == row.match else "false"}}
    return {row.operator: {row.key: value}}


def _make_keys(hsm, kind: str) -> dict:
    if kind == "none":
        return {"id": None}
    spec = {"sym": {}, "rsa": {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
            "ecc": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
            "hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
            "external": {"Origin": "EXTERNAL"}}[kind]
    meta = hsm.create_key(Description="t", **spec)["KeyMetadata"]
    hsm.tag_resource(KeyId=meta["KeyId"], Tags=[{"TagKey": "team", "TagValue": "finance"}])
    hsm.create_alias(AliasName="alias/app", TargetKeyId=meta["KeyId"])
    return {"id": meta["KeyId"], "arn": meta["Arn"], "arn_alias": meta["Arn"].split(":key/")[0] + ":alias/app"}


def _identity(hsm, condition: dict, action: str) -> None:
    hsm.set_caller(None)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": action, "Resource": "*", "Condition": condition}]}
    hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="p", PolicyDocument=json.dumps(doc))


def _local_denied(hsm, row: Row, keys: dict) -> bool:
    hsm.set_caller(None)
    extra = row.setup(hsm, keys) if row.setup else {}
    hsm.set_caller(BOB)
    try:
        row.call(hsm, {**keys, **extra})
    except AccessDeniedException:
        return True
    finally:
        hsm.set_caller(None)
    return False


def _whatif(session, row: Row, keys: dict) -> str:
    ref = row.ref(keys) if keys["id"] else "alias/app"
    if row.kind == "none":  # a key-less request: the key only supplies a key policy, which does not decide
        ref = keys["policy_key"]
    words = ["whatif", "--key-id", ref, "--principal", BOB, "--action", row.action, *row.whatif(keys)]
    return session.execute(words).data["Decision"]


@pytest.mark.parametrize("row", TABLE, ids=[f"{r.key}-{r.action.split(':')[1]}-{r.kind}" for r in TABLE])
def test_local_enforcement_agrees_with_whatif(unsealed_hsm, session, row):
    hsm = unsealed_hsm
    outcomes = {}
    for label, value in (("match", row.match), ("other", row.other)):
        keys = _make_keys(hsm, row.kind)
        if row.kind == "none":
            keys["policy_key"] = hsm.create_key(Description="policy holder")["KeyMetadata"]["KeyId"]
        _identity(hsm, _condition(row, value), row.action)
        whatif = _whatif(session, row, keys)
        local = _local_denied(hsm, row, keys)
        outcomes[label] = (local, whatif)
        for alias in hsm.list_aliases()["Aliases"]:  # the next round's key takes the alias over
            hsm.delete_alias(AliasName=alias["AliasName"])
    assert outcomes == {"match": (True, "DENY"), "other": (False, "ALLOW")}, outcomes


def test_the_table_covers_every_key_the_engine_fills():
    in_table = {r.key.lower() for r in TABLE}
    in_table = {"kms:encryptioncontext:" if k.startswith("kms:encryptioncontext:") else k for k in in_table}
    engine = set(requestkeys.KEYS) | set(DERIVED_KEYS) | {"kms:encryptioncontext:", "aws:resourcetag/",
                                                          "aws:requesttag/"}
    in_table |= {k.split("/")[0] + "/" for k in in_table if k.startswith(("aws:resourcetag/", "aws:requesttag/"))}
    missing = engine - in_table - set(requestkeys.NOT_LOCAL)
    assert not missing, f"condition keys the engine fills but the enforcement table does not test: {sorted(missing)}"
