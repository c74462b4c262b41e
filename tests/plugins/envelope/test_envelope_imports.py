"""Start-up cost (issue 13): an encrypt and a decrypt of the default suite (0x0478, unsigned) load the codec
and nothing it does not use: no ECDSA or serialization modules (signed suites and raw RSA keys only), no
data-key cache, inspect, raw keyrings or UI. Checked in a fresh interpreter, as a one-shot command starts.

The probe wraps the data key with a stand-in backend: a real backend imports what it needs for itself (the
local HSM's asymmetric keys, botocore), which is the backend's start-up cost, not the plugin's."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import io, json, os, sys
from kmstui_envelope import handlers
from kmstui_envelope.body import Sink
from kmstui_envelope.keyrings import BackendKeyring, Counter
from kmstui_envelope.materials import UnwrapCache, encryption_materials
from kmstui_envelope.pipe import OutputPipe
from kmstui_envelope.stream import DecryptOptions, decrypt_stream, encrypt_stream
from kmstui_envelope.suites import DEFAULT_SUITE, SUITES

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
WRAP = bytes(range(32))

class Backend:  # wraps by XOR: enough to round-trip a data key without importing a backend
    kind = "local"
    def generate_data_key(self, KeyId, NumberOfBytes, **kw):
        key = os.urandom(NumberOfBytes)
        return {"Plaintext": key, "CiphertextBlob": bytes(a ^ b for a, b in zip(key, WRAP)), "KeyId": ARN}
    def decrypt(self, CiphertextBlob, KeyId, **kw):
        return {"Plaintext": bytes(a ^ b for a, b in zip(CiphertextBlob, WRAP)), "KeyId": ARN}

def round_trip(suite, plaintext):
    keyrings = [BackendKeyring(Backend(), ARN, Counter())]
    out = io.BytesIO()
    mats = encryption_materials(keyrings, suite, {"purpose": "probe"})
    encrypt_stream(io.BytesIO(plaintext), out.write, mats, 4096)
    mats.release()
    back = io.BytesIO()
    decrypt_stream(io.BytesIO(out.getvalue()), keyrings, Sink(OutputPipe(back.write), None, private=True),
                   DecryptOptions(unwrap_cache=UnwrapCache()))
    return back.getvalue()

assert round_trip(DEFAULT_SUITE, b"x" * 10000) == b"x" * 10000
unsigned = sorted(sys.modules)
assert round_trip(SUITES[0x0578], b"signed") == b"signed"  # the lazy imports of a signed suite work
print(json.dumps({"unsigned": unsigned, "signed": sorted(sys.modules)}))
"""

# Each is needed only by some commands or options; none may load for a plain encrypt or decrypt.
NOT_FOR_DEFAULT_SUITE = (
    "cryptography.hazmat.primitives.asymmetric.ec",  # signed suites
    "cryptography.hazmat.primitives.serialization",  # signed suites, raw RSA key files
    "cryptography.hazmat.primitives.asymmetric.rsa",  # raw RSA keys
    "cryptography.hazmat.primitives.kdf.hkdf",  # legacy non-committing suites
    "kmstui_envelope.rawkeys",  # --raw-key
    "kmstui_envelope.cache",  # --cache-max-*
    "kmstui_envelope.inspect",  # inspect, rewrap --remove-key-id
    "kmstui_envelope.rewrap",
    "kmstui_envelope.screens",  # the TUI
    "textual",
    "rich",
    "tempfile",  # spill files (signed messages to standard output, frames over 16 MiB), named temp files
    "shutil",
)


def test_default_suite_round_trip_loads_only_what_it_uses():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    unsigned = set(loaded["unsigned"])
    assert "kmstui_envelope.handlers" in unsigned and "cryptography.hazmat.primitives.ciphers.aead" in unsigned
    assert sorted(m for m in NOT_FOR_DEFAULT_SUITE if m in unsigned) == []
    assert "cryptography.hazmat.primitives.asymmetric.ec" in loaded["signed"]


def test_the_registration_module_repeats_the_codec_defaults_exactly():
    """commands.py repeats two codec constants so that registering the commands (at every start-up) does not
    import the codec; `--help` shows them and the handlers use the codec's own, so they must agree."""
    from kmstui_envelope import commands, header, stream

    assert commands.DEFAULT_FRAME == stream.DEFAULT_FRAME
    assert commands.DEFAULT_MAX_EDKS == header.DEFAULT_MAX_EDKS
