"""`kmstui serve` speaks the AWS KMS JSON 1.1 protocol to real clients: boto3 round-trips every operation the
server offers, the aws CLI works against it, and answers carry AWS's shapes (blobs, timestamps, request ids)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.timeout(300)


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def test_every_operation_round_trips_through_boto3(kmstui_server):
    """One pass over every operation the server routes; the set is checked against the server's own table,
    so an operation added to the backend interface without a round trip here fails this test."""
    from botocore import xform_name

    from kmstui.server.kms import KmsProtocol

    kms = kmstui_server.client()
    done: set[str] = set()

    def call(op: str, **kw):
        response = getattr(kms, xform_name(op))(**kw)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert response["ResponseMetadata"]["RequestId"]
        done.add(op)
        return response

    key = call("CreateKey", Description="round trip", Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]
    kid, arn = key["KeyId"], key["Arn"]
    assert key["KeyState"] == "Enabled" and key["CreationDate"].year >= 2024
    assert call("DescribeKey", KeyId=kid)["KeyMetadata"]["Arn"] == arn
    assert any(k["KeyId"] == kid for k in call("ListKeys")["Keys"])
    call("UpdateKeyDescription", KeyId=kid, Description="renamed")
    call("CreateAlias", AliasName="alias/round-trip", TargetKeyId=kid)
    assert any(a["AliasName"] == "alias/round-trip" for a in call("ListAliases", KeyId=kid)["Aliases"])
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    call("UpdateAlias", AliasName="alias/round-trip", TargetKeyId=other)
    call("DeleteAlias", AliasName="alias/round-trip")
    call("TagResource", KeyId=kid, Tags=[{"TagKey": "env", "TagValue": "test"}])
    call("UntagResource", KeyId=kid, TagKeys=["team"])
    assert call("ListResourceTags", KeyId=kid)["Tags"] == [{"TagKey": "env", "TagValue": "test"}]

    ctx = {"app": "serve"}
    ct = call("Encrypt", KeyId=kid, Plaintext=b"\x00secret\xff", EncryptionContext=ctx)
    assert ct["KeyId"] == arn
    plain = call("Decrypt", CiphertextBlob=ct["CiphertextBlob"], EncryptionContext=ctx)
    assert plain["Plaintext"] == b"\x00secret\xff" and plain["KeyId"] == arn
    re = call("ReEncrypt", CiphertextBlob=ct["CiphertextBlob"], SourceEncryptionContext=ctx,
              DestinationKeyId=other, DestinationEncryptionContext={"b": "c"})
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"b": "c"})["Plaintext"] == b"\x00secret\xff"
    dk = call("GenerateDataKey", KeyId=kid, KeySpec="AES_256", EncryptionContext=ctx)
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == dk["Plaintext"]
    assert "Plaintext" not in call("GenerateDataKeyWithoutPlaintext", KeyId=kid, NumberOfBytes=16)
    assert len(call("GenerateRandom", NumberOfBytes=24)["Plaintext"]) == 24

    call("EnableKeyRotation", KeyId=kid, RotationPeriodInDays=90)
    assert call("GetKeyRotationStatus", KeyId=kid)["KeyRotationEnabled"] is True
    call("RotateKeyOnDemand", KeyId=kid)
    assert call("ListKeyRotations", KeyId=kid)["Rotations"]
    call("DisableKeyRotation", KeyId=kid)

    policy = call("GetKeyPolicy", KeyId=kid, PolicyName="default")["Policy"]
    assert call("ListKeyPolicies", KeyId=kid)["PolicyNames"] == ["default"]
    call("PutKeyPolicy", KeyId=kid, PolicyName="default", Policy=policy)

    grantee = f"arn:aws:iam::{kmstui_server.account}:user/grantee"
    grant = call("CreateGrant", KeyId=kid, GranteePrincipal=grantee, RetiringPrincipal=grantee,
                 Operations=["Decrypt", "Encrypt"])
    assert [g["GrantId"] for g in call("ListGrants", KeyId=kid)["Grants"]] == [grant["GrantId"]]
    assert call("ListRetirableGrants", RetiringPrincipal=grantee)["Grants"]
    call("RevokeGrant", KeyId=kid, GrantId=grant["GrantId"])
    second = kms.create_grant(KeyId=kid, GranteePrincipal=grantee, Operations=["Decrypt"])
    call("RetireGrant", GrantToken=second["GrantToken"])

    call("DisableKey", KeyId=kid)
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=kid, Plaintext=b"x")
    assert _code(exc.value) == "DisabledException" and exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    call("EnableKey", KeyId=kid)
    assert call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)["DeletionDate"]
    call("CancelKeyDeletion", KeyId=kid)

    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    sig = call("Sign", KeyId=signing, Message=b"msg", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert call("Verify", KeyId=signing, Message=b"msg", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    assert b"PUBLIC" not in call("GetPublicKey", KeyId=signing)["PublicKey"][:10]
    agree = kms.create_key(KeyUsage="KEY_AGREEMENT", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    peer = kms.get_public_key(KeyId=agree)["PublicKey"]
    shared = call("DeriveSharedSecret", KeyId=agree, KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    assert len(shared["SharedSecret"]) == 32 and shared["KeyAgreementAlgorithm"] == "ECDH"
    mac_key = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")["KeyMetadata"]["KeyId"]
    mac = call("GenerateMac", KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert call("VerifyMac", KeyId=mac_key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]

    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = call("GetParametersForImport", KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                  WrappingKeySpec="RSA_2048")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    wrapping = serialization.load_der_public_key(params["PublicKey"])
    material = bytes(range(32))
    wrapped = wrapping.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                       label=None))
    call("ImportKeyMaterial", KeyId=external, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.describe_key(KeyId=external)["KeyMetadata"]["KeyState"] == "Enabled"
    call("DeleteImportedKeyMaterial", KeyId=external)

    assert done == set(KmsProtocol().operations), sorted(set(KmsProtocol().operations) - done)


def test_wire_format_blobs_timestamps_and_request_id(kmstui_server):
    """Blobs are padded base64 and timestamps epoch numbers on the wire (AWS JSON 1.1 protocol); every answer
    carries x-amzn-RequestId."""
    kms = kmstui_server.client()
    seen = {}

    def capture(http_response, **_kw):
        seen["body"] = http_response.content
        seen["headers"] = dict(http_response.headers)

    kms.meta.events.register("after-call.kms.CreateKey", lambda **kw: capture(kw["http_response"]))
    kms.create_key()
    body = json.loads(seen["body"])
    assert isinstance(body["KeyMetadata"]["CreationDate"], (int, float))
    assert seen["headers"]["x-amzn-requestid"] and seen["headers"]["content-type"] == "application/x-amz-json-1.1"
    kms.meta.events.register("after-call.kms.GenerateRandom", lambda **kw: capture(kw["http_response"]))
    kms.generate_random(NumberOfBytes=5)
    text = json.loads(seen["body"])["Plaintext"]
    assert text.endswith("=") and len(base64.b64decode(text)) == 5


def test_unknown_operation_answers_as_aws(kmstui_server):
    """An operation the backend lacks (or a made-up one) is answered as AWS answers an unknown operation of a
    JSON 1.1 service: 400 with __type UnknownOperationException."""
    kms = kmstui_server.client()
    with pytest.raises(ClientError) as exc:
        kms.create_custom_key_store(CustomKeyStoreName="x", CloudHsmClusterId="cluster-1234567890a",
                                    TrustAnchorCertificate="x" * 20, KeyStorePassword="password")
    assert _code(exc.value) == "UnknownOperationException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_aws_cli_encrypt_decrypt_and_listing(kmstui_server, tmp_path):
    env = kmstui_server.env()
    aws = [sys.executable, "-m", "awscli", "--endpoint-url", kmstui_server.url, "--region", kmstui_server.region,
           "--output", "json"]

    def run(*args: str) -> dict:
        proc = subprocess.run([*aws, "kms", *args], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    key = run("create-key", "--description", "from the aws cli")["KeyMetadata"]
    run("create-alias", "--alias-name", "alias/cli", "--target-key-id", key["KeyId"])
    (tmp_path / "plain").write_bytes(b"hello from the aws cli\n")
    ct = run("encrypt", "--key-id", "alias/cli", "--plaintext", f"fileb://{tmp_path / 'plain'}",
             "--encryption-context", "app=cli")
    (tmp_path / "ct").write_bytes(base64.b64decode(ct["CiphertextBlob"]))
    out = run("decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'ct'}", "--encryption-context", "app=cli")
    assert base64.b64decode(out["Plaintext"]) == b"hello from the aws cli\n" and out["KeyId"] == key["Arn"]
    assert any(a["AliasName"] == "alias/cli" for a in run("list-aliases")["Aliases"])
    bad = subprocess.run([*aws, "kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'ct'}"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 255 and "InvalidCiphertextException" in bad.stderr


def test_server_refuses_other_backends_and_remote_binding_without_flag(run_kmstui, aws_profile):
    out = run_kmstui("serve", "--host", "0.0.0.0", "--port", "0")
    assert out.code == 252 and "--allow-remote" in out.err
    out = run_kmstui("--profile", aws_profile, "serve", "--port", "0")
    assert out.code == 252 and "local HSM" in out.err


def test_listening_socket_sends_responses_without_delay():
    """Connections accepted by `kmstui serve` inherit TCP_NODELAY from the listening socket. Without it each
    response waited out the client's delayed ACK: about 49 ms per boto3 call on keep-alive connections
    (1.9 ms with it), which capped the server near 170 requests/s whatever its CPU."""
    import socket

    from kmstui.server.run import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            accepted.close()
            client.close()
    finally:
        sock.close()
