"""One file, wrapping keys in several backends (local HSM, AWS KMS on a moto server, a SoftHSM2 token):
each backend alone can decrypt it, EDKs carry each backend's provider id, and the aws-kms EDK holds the
KMS ciphertext blob verbatim (what aws-encryption-sdk-cli expects)."""

from __future__ import annotations

import io

import pytest

from kmstui.errors import UsageError
from kmstui_envelope.header import read_header


def _key(run, profile: str, alias: str) -> str:
    r = run()
    md = r("key", "create", "--profile", profile).data["KeyMetadata"]
    r("alias", "create", alias, md["KeyId"], "--profile", profile)
    return md["Arn"]


def test_local_and_aws_keys_in_one_file(run, workdir, unsealed_hsm, aws_profile):
    local_arn = _key(run, "local", "alias/app")
    aws_arn = _key(run, aws_profile, "alias/app")
    (workdir / "a").write_bytes(b"shared secret" * 100)
    res = run()("envelope", "encrypt", "a", "--key-id", "alias/app", "--key-id", f"{aws_profile}:alias/app",
                "--context", "purpose=test")
    assert res.data["Summary"]["BackendCalls"] == 2
    header = read_header(io.BytesIO((workdir / "a.enc").read_bytes()).read)
    assert [(e.provider_id, e.provider_info.decode()) for e in header.edks] == \
        [("kmstui-local", local_arn), ("aws-kms", aws_arn)]
    import boto3

    from kmstui.config import Config

    settings = Config.load().profile(aws_profile).settings
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=settings["endpoint_url"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    blob = header.edks[1].ciphertext  # a plain KMS Decrypt of the EDK yields a 32-byte data key
    assert len(kms.decrypt(CiphertextBlob=blob, EncryptionContext=header.context)["Plaintext"]) == 32
    # AWS alone, strict by ARN; discovery must be explicit for AWS
    with pytest.raises(UsageError, match="--discovery"):
        run()("envelope", "decrypt", "a.enc", "--out", "x", "--profile", aws_profile)
    res = run()("envelope", "decrypt", "a.enc", "--out", "x", "--key-id", f"{aws_profile}:alias/app")
    assert (workdir / "x").read_bytes() == b"shared secret" * 100
    assert res.data["Files"][0]["DecryptedWith"] == f"aws key {aws_profile}:alias/app"
    res = run()("envelope", "decrypt", "a.enc", "--out", "y", "--profile", aws_profile, "--discovery")
    assert (workdir / "y").read_bytes() == b"shared secret" * 100
    # the local key alone
    run()("envelope", "decrypt", "a.enc", "--out", "z", "--key-id", "alias/app")
    assert (workdir / "z").read_bytes() == b"shared secret" * 100


def test_pkcs11_key_wraps_with_its_own_provider_id(run, workdir, pkcs11_profile):
    arn = _key(run, pkcs11_profile, "alias/tok")
    (workdir / "a").write_bytes(b"token protected")
    run()("envelope", "encrypt", "a", "--key-id", f"{pkcs11_profile}:alias/tok")
    header = read_header(io.BytesIO((workdir / "a.enc").read_bytes()).read)
    assert (header.edks[0].provider_id, header.edks[0].provider_info.decode()) == ("kmstui-pkcs11", arn)
    run()("envelope", "decrypt", "a.enc", "--out", "b", "--profile", pkcs11_profile)
    assert (workdir / "b").read_bytes() == b"token protected"
