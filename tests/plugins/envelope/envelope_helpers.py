"""Shared helpers for the envelope plugin tests: raw wrapping keys on disk, a Session with captured stdio, and the
in-memory encrypt/decrypt round trip used by the format tests."""

from __future__ import annotations

import io
import os
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kmstui_envelope.body import Sink
from kmstui_envelope.rawkeys import RawAesKeyring, RawRsaKeyring
from kmstui_envelope.materials import encryption_materials
from kmstui_envelope.pipe import OutputPipe
from kmstui_envelope.stream import DecryptOptions, decrypt_stream, encrypt_stream
from kmstui_envelope.suites import SUITES

AES_KEY = bytes(range(32))
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def aes_keyring(name="k1", namespace="ns", key=AES_KEY):
    return RawAesKeyring(namespace, name, key)


def rsa_keyring(name="r1", namespace="ns", padding="oaep-sha256"):
    return RawRsaKeyring(namespace, name, _RSA.public_key(), _RSA, padding)


def encrypt_bytes(pt: bytes, keyrings, suite=0x0478, frame=4096, context=None) -> bytes:
    mats = encryption_materials(keyrings, SUITES[suite], context or {})
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(pt), out.write, mats, frame)
    mats.release()
    return out.getvalue()


def decrypt_bytes(ct: bytes, keyrings, **opts) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ct), keyrings, Sink(OutputPipe(out.write), tempfile.TemporaryFile),
                   DecryptOptions(**opts))
    return out.getvalue()


def make_keyfiles(tmp_path):
    """An AES key file (raw bytes) and an RSA private key PEM, with the --raw-key specs naming them."""
    aes = tmp_path / "aes.key"
    aes.write_bytes(AES_KEY)
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(_RSA.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return {"aes": f"{aes},name=k1,namespace=ns", "rsa": f"{pem},name=r1,namespace=ns", "aes_path": aes,
            "rsa_path": pem}


class Run:
    """kmstui commands in-process through a real Session (stdin/stdout captured as bytes)."""

    def __init__(self, stdin: bytes = b"") -> None:
        from kmstui.session import Session

        self.stdout = io.BytesIO()
        self.session = Session(stdin=io.BytesIO(stdin), stdout=self.stdout)

    def __call__(self, *words: str):
        return self.session.execute(list(words))


def listing(path) -> list[str]:
    return sorted(os.listdir(path))
