"""Signed messages (0x0578) never release plaintext to a readable output before their signature verified,
whatever the frame layout (regular frames, an in-memory final frame, a final frame too large for memory)."""

from __future__ import annotations

import io
import os
import tempfile

import pytest

from envelope_helpers import aes_keyring, encrypt_bytes
from kmstui_envelope import body
from kmstui_envelope.body import Sink
from kmstui_envelope.errors import MessageError
from kmstui_envelope.pipe import OutputPipe
from kmstui_envelope.stream import DecryptOptions, decrypt_stream

KEYS = [aes_keyring()]


class Recorder:
    """A readable output (like standard output): records every byte the moment it is written."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk) -> None:
        self.data += bytes(chunk)


def _decrypt_to_reader(ct: bytes) -> Recorder:
    out = Recorder()
    decrypt_stream(io.BytesIO(ct), KEYS, Sink(OutputPipe(out.write), tempfile.TemporaryFile), DecryptOptions())
    return out


@pytest.mark.parametrize("in_memory_limit", [None, 1000])  # 1000: the 3000-byte final frame takes the spill path
def test_nothing_reaches_a_readable_output_before_the_signature_verifies(monkeypatch, in_memory_limit):
    if in_memory_limit is not None:
        monkeypatch.setattr(body, "IN_MEMORY_FRAME", in_memory_limit)
    pt = os.urandom(3 * 4096 + 3000)  # three regular frames and a final frame
    ct = encrypt_bytes(pt, KEYS, suite=0x0578, frame=4096)
    assert bytes(_decrypt_to_reader(ct).data) == pt
    forged = bytearray(ct)
    forged[-1] ^= 1  # inside the signature
    out = Recorder()
    with pytest.raises(MessageError, match="signature does not authenticate"):
        decrypt_stream(io.BytesIO(bytes(forged)), KEYS, Sink(OutputPipe(out.write), tempfile.TemporaryFile),
                       DecryptOptions())
    assert out.data == b"", "plaintext was released before the signature was checked"


def test_buffer_signed_to_stdout_releases_nothing_when_a_large_final_frame_is_forged(run, workdir, keyfiles,
                                                                                      monkeypatch):
    monkeypatch.setattr(body, "IN_MEMORY_FRAME", 1000)
    pt = os.urandom(2 * 8192 + 5000)
    (workdir / "a").write_bytes(pt)
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--suite", "0x0578", "--frame-size", "8KiB")
    ct = bytearray((workdir / "a.enc").read_bytes())
    r = run()
    r("envelope", "decrypt", "a.enc", "--raw-key", keyfiles["aes"], "--out", "-", "--buffer-signed")
    assert r.stdout.getvalue() == pt
    ct[-2] ^= 0x40
    (workdir / "b.enc").write_bytes(bytes(ct))
    r = run()
    with pytest.raises(MessageError, match="signature"):
        r("envelope", "decrypt", "b.enc", "--raw-key", keyfiles["aes"], "--out", "-", "--buffer-signed")
    assert r.stdout.getvalue() == b""

