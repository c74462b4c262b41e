"""One behaviour suite for every backend: the local HSM file, a SoftHSM2 token (pkcs11), AWS KMS (moto over
HTTP), and kmstui's aws backend pointed at `kmstui serve` (the local HSM over the wire: "serve"). Each backend
is opened the way a user opens it, through a profile and the Session.

A capability a backend declares must pass its checks here; an operation it does not declare must fail with
UnsupportedOperationException. Where the server behind a backend does not do what AWS does (moto enforces
no key state and answers a bad signature with SignatureValid=False), the target says so in its flags and
the check asserts what that server really does instead of pretending.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import pytest

from kmstui.backends import base
from kmstui.backends.base import Backend
from kmstui.errors import (
    AccessDeniedException, DisabledException, InvalidCiphertextException, KMSInvalidMacException, KMSInvalidSignatureException,
    KMSInvalidStateException,
    NotFoundException, UnsupportedOperationException,
)
from kmstui.session import Session

CONTEXT = {"purpose": "conformance", "tenant": "zoë"}


@dataclass
class Target:
    kind: str
    backend: Backend
    enforces_state: bool = True  # a disabled key is refused by the service itself
    bad_signature_raises: bool = True  # AWS raises KMSInvalidSignatureException; moto returns False
    pss_salt_is_digest_length: bool = True  # AWS/kmstui use the hash length; moto uses the maximum
    signs_digests: bool = True  # MessageType=DIGEST (moto 5.2 hashes the digest again)
    # A backend acting as another IAM user of the key's account, where the target enforces policies and
    # grants (the local HSM and `kmstui serve`; moto checks neither, SoftHSM2 has none): as_user(name).
    as_user: Any = None
    account: str = "111122223333"

    def new_key(self, **kwargs) -> dict:
        return self.backend.create_key(**kwargs)["KeyMetadata"]


def _local_session(request) -> Session:
    try:
        return request.getfixturevalue("session")
    except pytest.FixtureLookupError:
        pytest.skip("the local HSM fixture ('session' with an unsealed HSM) is not in tests/conftest.py yet")


@pytest.fixture(params=["local", "pkcs11", "aws", "serve"])
def target(request, tmp_path, monkeypatch):
    kind = request.param
    if kind == "local":
        session = _local_session(request)
        hsm = request.getfixturevalue("unsealed_hsm")
        others: list = []

        def local_user(name: str) -> Backend:
            from kmstui.backends.local.backend import open_path

            other = open_path(hsm.path, hsm._keys)
            other.set_caller(f"arn:aws:iam::{hsm.account_id}:user/{name}")
            other.conformance_arn = other.caller_arn
            others.append(other)
            return other

        yield Target("local", session.backend(), as_user=local_user, account=hsm.account_id)
        for other in others:
            other.close()
        return
    if kind == "serve":
        yield from _served_target(request, tmp_path, monkeypatch)
        return
    if kind == "pkcs11":
        profile = request.getfixturevalue("pkcs11_profile")
        flags = {}
    else:
        profile = request.getfixturevalue("aws_profile")
        flags = dict(enforces_state=False, bad_signature_raises=False, pss_salt_is_digest_length=False,
                     signs_digests=False)
    session = Session(load_plugins=False)
    try:
        backend = session.backend(profile)
        assert backend.kind == kind
        yield Target(kind, backend, **flags)
    finally:
        session.close()


def _served_target(request, tmp_path, monkeypatch):
    """kmstui's aws backend against `kmstui serve` (module-wide server), signed with the account root's access
    key; other users get access keys of their own and an AWS profile each."""
    from kmstui.backends.aws import AwsBackend

    server = request.getfixturevalue("kmstui_server")
    write_profile = request.getfixturevalue("serve_tools").write_profile
    akid, secret = server.root
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {akid}\naws_secret_access_key = {secret}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    write_profile("served", "aws", region=server.region, endpoint_url=server.url, max_attempts=1)
    others: list = []

    def served_user(name: str) -> Backend:
        user_akid, user_secret = server.access_key(f"{name}-{len(others)}-{os.getpid()}")
        with credentials.open("a") as fh:
            fh.write(f"[{name}]\naws_access_key_id = {user_akid}\naws_secret_access_key = {user_secret}\n")
        other = AwsBackend(name, aws_profile=name, region=server.region, endpoint_url=server.url, max_attempts=1)
        other.conformance_arn = f"arn:aws:iam::{server.account}:user/{name}-{len(others)}-{os.getpid()}"
        others.append(other)
        return other

    session = Session(load_plugins=False)
    try:
        backend = session.backend("served")
        assert backend.kind == "aws"
        yield Target("serve", backend, as_user=served_user, account=server.account)
    finally:
        for other in others:
            other.close()
        session.close()


def _user_arn(target: Target, backend: Backend, name: str) -> str:
    return backend.conformance_arn  # type: ignore[attr-defined]  # set by the as_user factories above


@pytest.fixture
def sym(target):
    return target.new_key(Description="conformance symmetric key")


# -- keys ----------------------------------------------------------------------------------------------------
def test_create_describe_list(target, sym):
    b = target.backend
    assert sym["KeyState"] == "Enabled" and sym["Enabled"] is True
    assert sym["Description"] == "conformance symmetric key"
    for ref in (sym["KeyId"], sym["Arn"]):
        md = b.describe_key(KeyId=ref)["KeyMetadata"]
        assert md["KeyId"] == sym["KeyId"] and md["Arn"] == sym["Arn"]
    assert sym["KeyId"] in [k["KeyId"] for k in b.list_keys()["Keys"]]
    listed = {md["KeyId"]: md for md in b.list_key_metadata()}
    assert listed[sym["KeyId"]]["Aliases"] == []


def test_unknown_key_is_not_found(target):
    with pytest.raises(NotFoundException):
        target.backend.describe_key(KeyId="6b3b1a52-3c1c-4c55-9c1f-000000000000")
    with pytest.raises(NotFoundException):
        target.backend.encrypt(KeyId="alias/conformance-missing", Plaintext=b"x")


# -- symmetric encryption -------------------------------------------------------------------------------------
@pytest.mark.parametrize("context", [None, CONTEXT], ids=["no-context", "context"])
def test_encrypt_decrypt_round_trip(target, sym, context):
    b = target.backend
    kwargs = {"EncryptionContext": context} if context else {}
    out = b.encrypt(KeyId=sym["KeyId"], Plaintext=b"attack at dawn", **kwargs)
    assert out["KeyId"] == sym["Arn"]
    assert b"attack at dawn" not in out["CiphertextBlob"]
    back = b.decrypt(CiphertextBlob=out["CiphertextBlob"], **kwargs)  # no KeyId: the blob names the key
    assert back["Plaintext"] == b"attack at dawn"
    assert back["KeyId"] == sym["Arn"]


@pytest.mark.parametrize("wrong", [None, {"purpose": "other", "tenant": "zoë"}, {**CONTEXT, "extra": "1"}],
                         ids=["missing", "changed", "extra"])
def test_wrong_context_is_invalid_ciphertext(target, sym, wrong):
    b = target.backend
    blob = b.encrypt(KeyId=sym["KeyId"], Plaintext=b"secret", EncryptionContext=CONTEXT)["CiphertextBlob"]
    kwargs = {"EncryptionContext": wrong} if wrong else {}
    with pytest.raises(InvalidCiphertextException):
        b.decrypt(CiphertextBlob=blob, **kwargs)


def test_tampered_ciphertext_is_invalid(target, sym):
    b = target.backend
    blob = bytearray(b.encrypt(KeyId=sym["KeyId"], Plaintext=b"secret")["CiphertextBlob"])
    blob[-1] ^= 1
    with pytest.raises(InvalidCiphertextException):
        b.decrypt(CiphertextBlob=bytes(blob))


def test_re_encrypt_moves_ciphertext_to_another_key(target, sym):
    b = target.backend
    other = target.new_key()
    blob = b.encrypt(KeyId=sym["KeyId"], Plaintext=b"moving", EncryptionContext=CONTEXT)["CiphertextBlob"]
    out = b.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=CONTEXT, DestinationKeyId=other["KeyId"],
                       DestinationEncryptionContext={"stage": "2"})
    assert out["KeyId"] == other["Arn"]
    assert b.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"stage": "2"})["Plaintext"] == b"moving"


# -- data keys and randomness ---------------------------------------------------------------------------------
def test_data_keys(target, sym):
    b = target.backend
    dk = b.generate_data_key(KeyId=sym["KeyId"], KeySpec="AES_256", EncryptionContext=CONTEXT)
    assert len(dk["Plaintext"]) == 32 and dk["KeyId"] == sym["Arn"]
    assert b.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=CONTEXT)["Plaintext"] == dk["Plaintext"]
    other = b.generate_data_key(KeyId=sym["KeyId"], NumberOfBytes=64)
    assert len(other["Plaintext"]) == 64 and other["Plaintext"] != dk["Plaintext"]
    bare = b.generate_data_key_without_plaintext(KeyId=sym["KeyId"], KeySpec="AES_128")
    assert "Plaintext" not in bare
    assert len(b.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 16


def test_generate_random(target):
    a = target.backend.generate_random(NumberOfBytes=32)["Plaintext"]
    c = target.backend.generate_random(NumberOfBytes=32)["Plaintext"]
    assert len(a) == 32 and a != c


# -- aliases --------------------------------------------------------------------------------------------------
def test_alias_resolution(target, sym, request):
    b = target.backend
    if not b.supports(base.ALIASES):
        pytest.skip(f"{target.kind} declares no aliases")
    name = f"alias/conf-{request.node.callspec.id.replace('[', '-').strip(']')}-{sym['KeyId'][:8]}"
    b.create_alias(AliasName=name, TargetKeyId=sym["KeyId"])
    assert b.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == sym["KeyId"]
    blob = b.encrypt(KeyId=name, Plaintext=b"via alias")["CiphertextBlob"]
    assert b.decrypt(CiphertextBlob=blob, KeyId=sym["KeyId"])["Plaintext"] == b"via alias"
    aliases = {a["AliasName"]: a for a in b.list_aliases()["Aliases"]}
    assert aliases[name]["TargetKeyId"] == sym["KeyId"]
    assert {md["KeyId"]: md for md in b.list_key_metadata()}[sym["KeyId"]]["Aliases"] == [name]
    other = target.new_key()
    b.update_alias(AliasName=name, TargetKeyId=other["KeyId"])
    assert b.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == other["KeyId"]
    b.delete_alias(AliasName=name)
    with pytest.raises(NotFoundException):
        b.describe_key(KeyId=name)


# -- signatures -----------------------------------------------------------------------------------------------
SIGNING = [("ECC_NIST_P256", "ECDSA_SHA_256"), ("RSA_2048", "RSASSA_PSS_SHA_256"),
           ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256")]


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING, ids=[a for _s, a in SIGNING])
def test_sign_verify(target, spec, algorithm):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    b = target.backend
    if not b.supports(base.ASYMMETRIC):
        pytest.skip(f"{target.kind} declares no asymmetric keys")
    key = target.new_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")
    assert algorithm in key["SigningAlgorithms"]
    message = b"the quick brown fox"
    sig = b.sign(KeyId=key["KeyId"], Message=message, SigningAlgorithm=algorithm)["Signature"]
    assert b.verify(KeyId=key["KeyId"], Message=message, Signature=sig, SigningAlgorithm=algorithm)["SignatureValid"]
    if target.signs_digests:
        digest = hashlib.sha256(message).digest()
        by_digest = b.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)
        assert b.verify(KeyId=key["KeyId"], Message=message, Signature=by_digest["Signature"],
                        SigningAlgorithm=algorithm)["SignatureValid"]
    # The signature is a standard one: it verifies offline with the exported public key.
    public = load_der_public_key(b.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    if spec.startswith("ECC"):
        public.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    elif "PSS" in algorithm:
        salt = 32 if target.pss_salt_is_digest_length else padding.PSS.AUTO
        public.verify(sig, message, padding.PSS(padding.MGF1(hashes.SHA256()), salt), hashes.SHA256())
    else:
        public.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
    if target.bad_signature_raises:
        with pytest.raises(KMSInvalidSignatureException):
            b.verify(KeyId=key["KeyId"], Message=b"tampered", Signature=sig, SigningAlgorithm=algorithm)
    else:
        assert b.verify(KeyId=key["KeyId"], Message=b"tampered", Signature=sig,
                        SigningAlgorithm=algorithm)["SignatureValid"] is False


# -- HMAC -----------------------------------------------------------------------------------------------------
def test_hmac(target):
    import hmac as std_hmac

    b = target.backend
    if not b.supports(base.HMAC):
        pytest.skip(f"{target.kind} declares no HMAC keys")
    key = target.new_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    mac = b.generate_mac(KeyId=key["KeyId"], Message=b"message", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert len(mac) == 32
    again = b.generate_mac(KeyId=key["KeyId"], Message=b"message", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert std_hmac.compare_digest(mac, again)  # deterministic for one key and message
    assert b.verify_mac(KeyId=key["KeyId"], Message=b"message", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
    with pytest.raises(KMSInvalidMacException):
        b.verify_mac(KeyId=key["KeyId"], Message=b"other", Mac=mac, MacAlgorithm="HMAC_SHA_256")
    other = target.new_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    assert b.generate_mac(KeyId=other["KeyId"], Message=b"message", MacAlgorithm="HMAC_SHA_256")["Mac"] != mac


# -- key state ------------------------------------------------------------------------------------------------
def test_disabled_key(target, sym):
    b = target.backend
    if not b.supports(base.KEY_STATE):
        pytest.skip(f"{target.kind} declares no key state")
    blob = b.encrypt(KeyId=sym["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    b.disable_key(KeyId=sym["KeyId"])
    md = b.describe_key(KeyId=sym["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "Disabled" and md["Enabled"] is False
    if target.enforces_state:
        with pytest.raises(DisabledException):
            b.encrypt(KeyId=sym["KeyId"], Plaintext=b"x")
        with pytest.raises(DisabledException):
            b.decrypt(CiphertextBlob=blob)
        with pytest.raises(DisabledException):
            b.generate_data_key(KeyId=sym["KeyId"], KeySpec="AES_256")
    b.enable_key(KeyId=sym["KeyId"])
    assert b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"


def test_scheduled_deletion(target, sym):
    b = target.backend
    if not b.supports(base.SCHEDULED_DELETION):
        pytest.skip(f"{target.kind} declares no scheduled deletion")
    out = b.schedule_key_deletion(KeyId=sym["KeyId"], PendingWindowInDays=7)
    md = b.describe_key(KeyId=sym["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion"
    assert abs((md["DeletionDate"] - out["DeletionDate"]).total_seconds()) < 1
    assert 6.9 * 86400 < (md["DeletionDate"] - md["CreationDate"]).total_seconds() < 7.1 * 86400
    if target.enforces_state:
        with pytest.raises(KMSInvalidStateException):
            b.encrypt(KeyId=sym["KeyId"], Plaintext=b"x")
    b.cancel_key_deletion(KeyId=sym["KeyId"])
    assert b.describe_key(KeyId=sym["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


# -- other declared capabilities ------------------------------------------------------------------------------
def test_tags(target, sym):
    b = target.backend
    if not b.supports(base.TAGS):
        pytest.skip(f"{target.kind} declares no tags")
    b.tag_resource(KeyId=sym["KeyId"], Tags=[{"TagKey": "team", "TagValue": "sec"},
                                             {"TagKey": "env", "TagValue": "test"}])
    b.untag_resource(KeyId=sym["KeyId"], TagKeys=["env"])
    assert b.list_resource_tags(KeyId=sym["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "sec"}]


def test_rotation(target, sym):
    b = target.backend
    if not b.supports(base.ROTATION):
        pytest.skip(f"{target.kind} declares no rotation")
    old = b.encrypt(KeyId=sym["KeyId"], Plaintext=b"old material", EncryptionContext=CONTEXT)["CiphertextBlob"]
    assert b.get_key_rotation_status(KeyId=sym["KeyId"])["KeyRotationEnabled"] is False
    b.enable_key_rotation(KeyId=sym["KeyId"], RotationPeriodInDays=90)
    assert b.get_key_rotation_status(KeyId=sym["KeyId"])["KeyRotationEnabled"] is True
    b.rotate_key_on_demand(KeyId=sym["KeyId"])
    rotations = b.list_key_rotations(KeyId=sym["KeyId"])["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    new = b.encrypt(KeyId=sym["KeyId"], Plaintext=b"new material")["CiphertextBlob"]
    assert b.decrypt(CiphertextBlob=old, EncryptionContext=CONTEXT)["Plaintext"] == b"old material"
    assert b.decrypt(CiphertextBlob=new)["Plaintext"] == b"new material"
    b.disable_key_rotation(KeyId=sym["KeyId"])
    assert b.get_key_rotation_status(KeyId=sym["KeyId"])["KeyRotationEnabled"] is False


def test_key_policy(target, sym):
    b = target.backend
    if not b.supports(base.KEY_POLICIES):
        pytest.skip(f"{target.kind} declares no key policies")
    import json

    policy = json.loads(b.get_key_policy(KeyId=sym["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append({"Sid": "conformance", "Effect": "Allow", "Principal": {"AWS": policy["Statement"][0]
                                ["Principal"]["AWS"]}, "Action": "kms:Describe*", "Resource": "*"})
    b.put_key_policy(KeyId=sym["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    stored = json.loads(b.get_key_policy(KeyId=sym["KeyId"], PolicyName="default")["Policy"])
    assert "conformance" in [s.get("Sid") for s in stored["Statement"]]


# One representative operation per capability, to check that a missing capability is a clear error.
CAPABILITY_PROBES = {
    base.KEY_POLICIES: ("get_key_policy", {"PolicyName": "default"}),
    base.GRANTS: ("list_grants", {}),
    base.ALIASES: ("create_alias", {"AliasName": "alias/conformance-probe"}),
    base.TAGS: ("list_resource_tags", {}),
    base.ROTATION: ("get_key_rotation_status", {}),
    base.SCHEDULED_DELETION: ("cancel_key_deletion", {}),
    base.KEY_STATE: ("disable_key", {}),
    base.IMPORT: ("get_parameters_for_import", {"WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                                                "WrappingKeySpec": "RSA_2048"}),
    base.ASYMMETRIC: ("get_public_key", {}),
    base.HMAC: ("generate_mac", {"Message": b"m", "MacAlgorithm": "HMAC_SHA_256"}),
}


def test_missing_capabilities_are_clear_errors(target, sym):
    b = target.backend
    missing = [cap for cap in CAPABILITY_PROBES if not b.supports(cap)]
    for cap in missing:
        operation, kwargs = CAPABILITY_PROBES[cap]
        key_arg = {"TargetKeyId": sym["KeyId"]} if operation == "create_alias" else {"KeyId": sym["KeyId"]}
        with pytest.raises(UnsupportedOperationException, match=f"not supported by {b.kind} backends"):
            getattr(b, operation)(**key_arg, **kwargs)
    if target.kind == "pkcs11":
        assert {base.KEY_POLICIES, base.GRANTS} <= set(missing)
        with pytest.raises(UnsupportedOperationException, match="grants are not supported by pkcs11 backends"):
            b.create_grant(KeyId=sym["KeyId"], GranteePrincipal="arn:aws:iam::111122223333:root",
                           Operations=["Decrypt"])



# -- enforcement (what moto cannot pass: it checks no key policy and no grant) ----------------------------------
def _enforcing(target: Target) -> None:
    if target.as_user is None:
        pytest.skip(f"{target.kind} does not decide per principal (moto enforces no policies; a token has none)")


def test_key_policy_is_enforced_per_principal(target):
    _enforcing(target)
    user = target.as_user("reader")
    arn = _user_arn(target, user, "reader")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{target.account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "EncryptOnly", "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:Encrypt",
         "Resource": "*"}]}
    key = target.new_key(Policy=json.dumps(policy))["KeyId"]
    blob = user.encrypt(KeyId=key, Plaintext=b"policy", EncryptionContext=CONTEXT)["CiphertextBlob"]
    with pytest.raises(AccessDeniedException):
        user.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert target.backend.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"] == b"policy"


def test_grants_allow_and_revocation_takes_effect(target, sym):
    _enforcing(target)
    user = target.as_user("grantee")
    arn = _user_arn(target, user, "grantee")
    blob = target.backend.encrypt(KeyId=sym["KeyId"], Plaintext=b"granted", EncryptionContext=CONTEXT)["CiphertextBlob"]
    with pytest.raises(AccessDeniedException):
        user.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    grant = target.backend.create_grant(KeyId=sym["KeyId"], GranteePrincipal=arn, Operations=["Decrypt"],
                                        Constraints={"EncryptionContextSubset": {"purpose": "conformance"}})
    assert user.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT,
                        GrantTokens=[grant["GrantToken"]])["Plaintext"] == b"granted"
    target.backend.revoke_grant(KeyId=sym["KeyId"], GrantId=grant["GrantId"])
    with pytest.raises(AccessDeniedException):
        user.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)


def test_key_usage_is_enforced(target):
    if not target.backend.supports(base.ASYMMETRIC) or target.kind == "aws":
        pytest.skip(f"{target.kind}: no asymmetric keys, or a server that does not check key usage (moto)")
    signing = target.new_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyId"]
    from kmstui.errors import InvalidKeyUsageException

    with pytest.raises(InvalidKeyUsageException):
        target.backend.encrypt(KeyId=signing, Plaintext=b"x")
