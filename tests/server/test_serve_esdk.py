"""The AWS Encryption SDK (its aws-kms master key provider, pointed at `kmstui serve` with
AWS_ENDPOINT_URL_KMS as the SDK reference says) and the AWS Encryption CLI (aws-encryption-cli, from its own
venv: the `esdk_cli` fixture) encrypt and decrypt through the server, and their messages interoperate with
`kmstui envelope` using kmstui's aws backend against the same server."""

from __future__ import annotations

import json
import os
import subprocess

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


def esdk_cli_run(cli: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([cli, *args, "--commitment-policy", "require-encrypt-require-decrypt", "-S"],
                          capture_output=True, text=True, cwd=cwd, env=dict(os.environ), timeout=120)


def audit_events(server) -> list[dict]:
    return [json.loads(line) for line in (server.store.parent / "hsm.kmstui.audit.jsonl").read_text().splitlines()]


def test_encryption_cli_through_the_server_and_kmstui_envelope(kmstui_server, served_env, esdk_cli, run_kmstui,
                                                               tmp_path):
    """aws-encryption-cli (its aws-kms wrapping key reaches the server through AWS_ENDPOINT_URL_KMS) encrypts
    and decrypts through the server, and its files and `kmstui envelope`'s open each other's. The plaintext is
    an exact multiple of the frame length, the case where the CLI's ESDK 3.x is strictest about the final
    frame (docs/format.md)."""
    arn = kmstui_server.client().create_key(Description="esdk-cli")["KeyMetadata"]["Arn"]
    plain = os.urandom(3 * 4096)
    (tmp_path / "plain").write_bytes(plain)

    made = esdk_cli_run(esdk_cli, "--encrypt", "-i", "plain", "-o", "by-cli.enc", "--wrapping-keys", f"key={arn}",
                        "--frame-length", "4096", "--encryption-context", "app=cli", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    opened = esdk_cli_run(esdk_cli, "--decrypt", "-i", "by-cli.enc", "-o", "by-cli.dec", "--wrapping-keys",
                          f"key={arn}", "--encryption-context", "app=cli", cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    assert (tmp_path / "by-cli.dec").read_bytes() == plain
    cli_calls = [e for e in audit_events(kmstui_server) if (e.get("requestParameters") or {}).get("keyId") == arn
                 and e["eventName"] != "CreateKey"]
    assert [e["eventName"] for e in cli_calls] == ["GenerateDataKey", "Decrypt"]
    assert all("AwsEncryptionSdkCli" in e["userAgent"] and "errorCode" not in e for e in cli_calls)

    kmstui_opened = run_kmstui("--profile", "served", "envelope", "decrypt", str(tmp_path / "by-cli.enc"),
                               "--key-id", arn, "--expect-context", "app=cli", "--out", str(tmp_path / "k.dec"))
    assert kmstui_opened.code == 0, kmstui_opened.err
    assert (tmp_path / "k.dec").read_bytes() == plain

    kmstui_made = run_kmstui("--profile", "served", "envelope", "encrypt", str(tmp_path / "plain"), "--key-id", arn,
                             "--frame-size", "4096", "--context", "team=kmstui", "--out",
                             str(tmp_path / "by-kmstui.enc"))
    assert kmstui_made.code == 0, kmstui_made.err
    cli_opened = esdk_cli_run(esdk_cli, "--decrypt", "-i", "by-kmstui.enc", "-o", "by-kmstui.dec", "--wrapping-keys",
                              f"key={arn}", "--encryption-context", "team=kmstui", cwd=tmp_path)
    assert cli_opened.returncode == 0, cli_opened.stderr
    assert (tmp_path / "by-kmstui.dec").read_bytes() == plain


def test_encryption_cli_gets_the_servers_denial(kmstui_server, served_env, esdk_cli, tmp_path, monkeypatch):
    """A user the key policy does not name cannot decrypt the CLI's file: the CLI fails with the server's
    AccessDeniedException and writes no plaintext."""
    arn = kmstui_server.client().create_key()["KeyMetadata"]["Arn"]
    (tmp_path / "plain").write_bytes(b"for the key's account only")
    assert esdk_cli_run(esdk_cli, "--encrypt", "-i", "plain", "-o", "msg.enc", "--wrapping-keys", f"key={arn}",
                        cwd=tmp_path).returncode == 0
    akid, secret = kmstui_server.access_key("cli-outsider")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", akid)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    denied = esdk_cli_run(esdk_cli, "--decrypt", "-i", "msg.enc", "-o", "msg.dec", "--wrapping-keys", f"key={arn}",
                          cwd=tmp_path)
    assert denied.returncode != 0 and not (tmp_path / "msg.dec").exists()
    event = [e for e in audit_events(kmstui_server) if e["userIdentity"].get("accessKeyId") == akid][-1]
    assert event["eventName"] == "Decrypt" and event["errorCode"] == "AccessDeniedException"
    assert "AwsEncryptionSdk" in event["userAgent"]
