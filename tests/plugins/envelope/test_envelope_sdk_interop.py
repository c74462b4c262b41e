"""Interop with the real aws-encryption-sdk package (test-only oracle): kmstui-written files decrypt with
the SDK's raw master keys, and SDK-written files decrypt with kmstui."""

from __future__ import annotations

import os

import pytest

aws_encryption_sdk = pytest.importorskip("aws_encryption_sdk")
from aws_encryption_sdk.identifiers import (Algorithm, CommitmentPolicy, EncryptionKeyType,  # noqa: E402
                                            WrappingAlgorithm)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey  # noqa: E402
from aws_encryption_sdk.key_providers.raw import RawMasterKey, RawMasterKeyProvider  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from kmstui_envelope.stream import DEFAULT_FRAME  # noqa: E402
from envelope_helpers import AES_KEY, _RSA, aes_keyring, decrypt_bytes, encrypt_bytes, rsa_keyring  # noqa: E402

FRAME = 4096
CLIENT = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def _wrapping_key(key_id: bytes) -> WrappingKey:
    if key_id == b"k1":
        return WrappingKey(wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
                           wrapping_key=AES_KEY, wrapping_key_type=EncryptionKeyType.SYMMETRIC)
    pem = _RSA.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    return WrappingKey(wrapping_algorithm=WrappingAlgorithm.RSA_OAEP_SHA256_MGF1, wrapping_key=pem,
                       wrapping_key_type=EncryptionKeyType.PRIVATE)


class BothKeys(RawMasterKeyProvider):
    """The SDK's way to write one EDK per raw key: a provider holding both master keys."""

    provider_id = "ns"

    def _get_raw_key(self, key_id):
        return _wrapping_key(key_id)


def sdk_aes():
    return RawMasterKey(provider_id="ns", key_id=b"k1", wrapping_key=_wrapping_key(b"k1"))


def sdk_rsa():
    return RawMasterKey(provider_id="ns", key_id=b"r1", wrapping_key=_wrapping_key(b"r1"))


SIZES = [0, 1, FRAME - 1, FRAME, FRAME + 1, 3 * (1 << 20) + 7]


@pytest.mark.parametrize("suite", [0x0478, 0x0578])
@pytest.mark.parametrize("size", SIZES)
def test_kmstui_files_decrypt_with_the_sdk(suite, size):
    pt = os.urandom(size)
    ct = encrypt_bytes(pt, [aes_keyring(), rsa_keyring()], suite=suite, frame=FRAME, context={"purpose": "t"})
    for master_key in (sdk_aes(), sdk_rsa()):  # either wrapping key alone opens it
        got, header = CLIENT.decrypt(source=ct, key_provider=master_key)
        assert got == pt
        assert header.encryption_context["purpose"] == "t"
        assert header.algorithm.algorithm_id == suite


@pytest.mark.parametrize("algorithm", [Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                                       Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384])
@pytest.mark.parametrize("size", SIZES)
def test_sdk_files_decrypt_with_kmstui(algorithm, size):
    pt = os.urandom(size)
    provider = BothKeys()
    provider.add_master_keys_from_list([b"k1", b"r1"])
    ct, _ = CLIENT.encrypt(source=pt, key_provider=provider, algorithm=algorithm, frame_length=FRAME,
                           encryption_context={"purpose": "t"})
    assert decrypt_bytes(ct, [aes_keyring()]) == pt
    assert decrypt_bytes(ct, [rsa_keyring()]) == pt


def test_sdk_non_framed_and_legacy_messages_decrypt_with_the_switch():
    legacy = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    pt = os.urandom(70000)
    ct, _ = legacy.encrypt(source=pt, key_provider=sdk_aes(), frame_length=0,
                           algorithm=Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384)
    assert decrypt_bytes(ct, [aes_keyring()], allow_legacy=True) == pt


def test_large_frames_stream_through_the_spill_path(monkeypatch):
    from kmstui_envelope import body

    monkeypatch.setattr(body, "IN_MEMORY_FRAME", 1000)
    pt = os.urandom(10000)
    ct, _ = CLIENT.encrypt(source=pt, key_provider=sdk_aes(), frame_length=4096,
                           algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    assert decrypt_bytes(ct, [aes_keyring()]) == pt


def test_default_settings_file_decrypts_with_the_sdk(run, workdir, keyfiles):
    pt = os.urandom(2 * DEFAULT_FRAME + 12345)  # two full frames and a partial final frame
    (workdir / "big").write_bytes(pt)
    run()("envelope", "encrypt", "big", "--raw-key", keyfiles["aes"], "--raw-key", keyfiles["rsa"])
    ct = (workdir / "big.enc").read_bytes()
    for master_key in (sdk_aes(), sdk_rsa()):
        got, header = CLIENT.decrypt(source=ct, key_provider=master_key)
        assert got == pt and header.frame_length == DEFAULT_FRAME == 2 << 20
