"""Files encrypted by kmstui under an AWS KMS key (the envelope plugin's `aws-kms` data keys, made through the
aws backend) decrypt with the real `aws-encryption-cli`, and the other way round, both against the same moto
server.

The `esdk_cli` fixture (tests/conftest.py) provides the CLI from a venv of its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

@pytest.fixture
def kms_key(moto_server) -> str:
    from kmstui.backends.aws import AwsBackend

    backend = AwsBackend("interop")
    try:
        return backend.create_key(Description="envelope interop")["KeyMetadata"]["Arn"]
    finally:
        backend.close()


def esdk(cli: str, *args: str, cwd: Path) -> None:
    proc = subprocess.run([cli, *args, "--commitment-policy", "require-encrypt-require-decrypt", "-S"],
                          capture_output=True, text=True, cwd=cwd, env=dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.timeout(600)
def test_kmstui_to_aws_encryption_cli_and_back(esdk_cli, kms_key, run_kmstui, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"interop with the AWS Encryption SDK CLI\n" * 200)

    made = run_kmstui("--backend", "aws", "envelope", "encrypt", str(plain), "--key-id", kms_key,
                      "--context", "app=web", "--out", str(tmp_path / "by-kmstui.enc"))
    assert made.code == 0, made.err
    esdk(esdk_cli, "--decrypt", "-i", "by-kmstui.enc", "-o", "by-kmstui.dec", "--wrapping-keys", f"key={kms_key}",
         "--encryption-context", "app=web", cwd=tmp_path)
    assert (tmp_path / "by-kmstui.dec").read_bytes() == plain.read_bytes()

    esdk(esdk_cli, "--encrypt", "-i", "plain.txt", "-o", "by-cli.enc", "--wrapping-keys", f"key={kms_key}",
         "--encryption-context", "app=cli", cwd=tmp_path)
    opened = run_kmstui("--backend", "aws", "envelope", "decrypt", str(tmp_path / "by-cli.enc"), "--key-id", kms_key,
                        "--expect-context", "app=cli", "--out", str(tmp_path / "by-cli.dec"))
    assert opened.code == 0, opened.err
    assert (tmp_path / "by-cli.dec").read_bytes() == plain.read_bytes()
