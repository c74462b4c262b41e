"""Decrypt conformance: every offline vector of the public AWS Encryption SDK legacy set (900 cases: all
nine v1 suites, framed and non-framed, raw AES 128/192/256 and raw RSA PKCS#1 / OAEP-SHA1 wrapping)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from envelope_helpers import decrypt_bytes
from kmstui_envelope.errors import MessageError
from kmstui_envelope.rawkeys import RawAesKeyring, RawRsaKeyring

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO.parent / "shared" / "esdk-vectors" / "legacy"
pytestmark = pytest.mark.skipif(not (VECTORS / "manifests" / "ciphertext.manifest").exists(),
                                reason=f"AWS Encryption SDK test vectors not found at {VECTORS} "
                                       "(expected ../shared/esdk-vectors relative to the repository)")


def _load():
    manifest = json.loads((VECTORS / "manifests" / "ciphertext.manifest").read_text())
    keys = manifest["test_keys"]
    ns = "static-aws-xcompat"
    keyrings = [RawAesKeyring(ns, f"AES.{bits}..", base64.b64decode("".join(keys["AES"][bits]["key"])))
                for bits in ("128", "192", "256")]
    pem = keys["RSA"]["2048"]["line_separator"].join(keys["RSA"]["2048"]["key"]).encode()
    private = serialization.load_pem_private_key(pem, None)
    keyrings += [RawRsaKeyring(ns, "RSA.2048.PKCS1.", private.public_key(), private, "pkcs1"),
                 RawRsaKeyring(ns, "RSA.2048.OAEP-MGF1.SHA-1", private.public_key(), private, "oaep-sha1")]
    cases = [c for c in manifest["test_cases"]
             if any(mk["provider_id"] == ns and mk["decryptable"] for mk in c["master_keys"])]
    return cases, keyrings


def test_all_offline_vectors_decrypt_to_the_expected_plaintext():
    cases, keyrings = _load()
    assert len(cases) == 900
    seen = set()
    for case in cases:
        ct = (VECTORS / case["ciphertext"]["filename"]).read_bytes()
        pt = (VECTORS / case["plaintext"]["filename"]).read_bytes()
        assert decrypt_bytes(ct, keyrings, allow_legacy=True) == pt, case["ciphertext"]["filename"]
        seen.add((case["algorithm"], case["ciphertext"]["filename"].split("/")[3]))
    assert len(seen) == 9 * 5  # every suite x {non-framed, 512, 4096, 10240, 20480}


def test_legacy_suites_need_the_explicit_switch():
    cases, keyrings = _load()
    ct = (VECTORS / cases[0]["ciphertext"]["filename"]).read_bytes()
    with pytest.raises(MessageError, match="--allow-legacy") as err:
        decrypt_bytes(ct, keyrings)
    assert err.value.reason == "unsupported"
