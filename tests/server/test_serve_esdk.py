"""The AWS Encryption SDK (its aws-kms master key provider, pointed at `kmstui serve` with
AWS_ENDPOINT_URL_KMS as the SDK reference says) encrypts and decrypts through the server, and its messages
interoperate with `kmstui envelope` using kmstui's aws backend against the same server."""

from __future__ import annotations

import os

import pytest

aws_encryption_sdk = pytest.importorskip("aws_encryption_sdk")
from aws_encryption_sdk.identifiers import CommitmentPolicy  # noqa: E402


pytestmark = pytest.mark.timeout(300)
CLIENT = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


@pytest.fixture
def served_env(kmstui_server, monkeypatch, tmp_path, serve_tools):
    """This process and subprocesses reach the server through the SDKs' own settings."""
    akid, secret = kmstui_server.root
    for name in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    env = {"AWS_ENDPOINT_URL_KMS": kmstui_server.url, "AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": kmstui_server.region, "AWS_REGION": kmstui_server.region,
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_EC2_METADATA_DISABLED": "true"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    serve_tools.write_profile("served", "aws", region=kmstui_server.region, endpoint_url=kmstui_server.url)
    return env


def provider(arn: str):
    import botocore.session

    return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn],
                                                            botocore_session=botocore.session.Session())


def test_encryption_sdk_through_the_server_and_kmstui_envelope(kmstui_server, served_env, run_kmstui, tmp_path):
    arn = kmstui_server.client().create_key(Description="esdk")["KeyMetadata"]["Arn"]
    plain = os.urandom(5000) + b"encryption sdk through kmstui serve"
    message, header = CLIENT.encrypt(source=plain, key_provider=provider(arn), encryption_context={"app": "esdk"})
    assert header.encrypted_data_keys.pop().key_provider.key_info.decode() == arn
    back, _ = CLIENT.decrypt(source=message, key_provider=provider(arn))
    assert back == plain

    (tmp_path / "by-sdk.enc").write_bytes(message)
    opened = run_kmstui("--profile", "served", "envelope", "decrypt", str(tmp_path / "by-sdk.enc"), "--key-id", arn,
                        "--expect-context", "app=esdk", "--out", str(tmp_path / "by-sdk.dec"))
    assert opened.code == 0, opened.err
    assert (tmp_path / "by-sdk.dec").read_bytes() == plain

    (tmp_path / "plain").write_bytes(plain)
    made = run_kmstui("--profile", "served", "envelope", "encrypt", str(tmp_path / "plain"), "--key-id", arn,
                      "--context", "team=kmstui", "--out", str(tmp_path / "by-kmstui.enc"))
    assert made.code == 0, made.err
    back, header = CLIENT.decrypt(source=(tmp_path / "by-kmstui.enc").read_bytes(), key_provider=provider(arn))
    assert back == plain and header.encryption_context["team"] == "kmstui"


def test_encryption_sdk_gets_the_servers_denial(kmstui_server, served_env, monkeypatch):
    """A principal the key policy does not allow gets AccessDeniedException through the SDK too."""
    arn = kmstui_server.client().create_key()["KeyMetadata"]["Arn"]
    akid, secret = kmstui_server.access_key("sdk-user")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", akid)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    from aws_encryption_sdk.exceptions import GenerateKeyError

    with pytest.raises(GenerateKeyError) as exc:
        CLIENT.encrypt(source=b"x", key_provider=provider(arn))
    cause = exc.value.__cause__ or exc.value.__context__
    assert "AccessDeniedException" in f"{exc.value} {cause}" and "user/sdk-user is not authorized" in str(cause)
