"""Malformed input never crashes and never releases unauthenticated plaintext.

A mutation loop over real messages (truncation at every length, a bit flip at every byte, absurd length
fields, huge EDK counts) and hypothesis properties (round trips, garbage, garbage after a valid header).
Errors must be kmstui's clean ones; anything released to a stream must be authenticated frames, i.e. a
prefix of the true plaintext; and through the file commands nothing at all may appear at the destination.
"""

from __future__ import annotations

import io
import random
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envelope_helpers import aes_keyring, decrypt_bytes, encrypt_bytes, listing, rsa_keyring
from kmstui.errors import KmstuiError
from kmstui_envelope.body import Sink
from kmstui_envelope.errors import MessageError
from kmstui_envelope.header import EncryptedDataKey, read_header, serialize_body
from kmstui_envelope.pipe import OutputPipe
from kmstui_envelope.stream import DecryptOptions, decrypt_stream
from kmstui_envelope.suites import SUITES

KEYS = [aes_keyring(), rsa_keyring()]
PLAIN = bytes(range(256)) * 20  # 5120 bytes: one full 4096 frame and a final frame


def attempt(ct: bytes, plain: bytes, **opts) -> bytes | None:
    """Decrypt; on failure check the error is clean and what escaped is authenticated. None on failure."""
    out = io.BytesIO()
    try:
        decrypt_stream(io.BytesIO(ct), KEYS, Sink(OutputPipe(out.write), tempfile.TemporaryFile),
                       DecryptOptions(**opts))
    except KmstuiError:
        released = out.getvalue()
        assert plain.startswith(released), "unauthenticated plaintext was released"
        assert len(released) % 4096 == 0
        return None
    return out.getvalue()


@pytest.fixture(scope="module", params=[0x0478, 0x0578])
def message(request):
    return encrypt_bytes(PLAIN, KEYS, suite=request.param, frame=4096, context={"app": "test"})


def test_every_truncation_fails_cleanly(message):
    for n in range(len(message)):
        assert attempt(message[:n], PLAIN) is None, f"truncated to {n} bytes decrypted"


def test_a_bit_flip_anywhere_fails_cleanly(message):
    rnd = random.Random(7)
    for i in range(len(message)):
        mutated = bytearray(message)
        mutated[i] ^= 1 << rnd.randrange(8)
        assert attempt(bytes(mutated), PLAIN) is None, f"flip at byte {i} went unnoticed"


def test_trailing_bytes_and_joined_messages_fail(message):
    assert attempt(message + b"\0", PLAIN) is None
    assert attempt(message + message, PLAIN) is None


def _header(edks=None, frame=4096, content_type=2) -> bytes:
    suite = SUITES[0x0478]
    body = serialize_body(suite, bytes(32), {}, edks or [EncryptedDataKey("ns", b"k1", b"x" * 48)], frame,
                          bytes(32), content_type)
    return body + bytes(16)


def test_huge_edk_counts_are_refused_before_any_key_work():
    count = 65535
    data = bytearray(_header())
    pos = 3 + 32 + 2
    data[pos:pos + 2] = count.to_bytes(2, "big")
    with pytest.raises(MessageError, match="65535 encrypted data keys; the limit is 10") as err:
        read_header(io.BytesIO(bytes(data)).read)
    assert err.value.reason == "limit"


def test_absurd_lengths_fail_without_huge_allocations():
    # EDK field lengths pointing far past the end
    data = bytearray(_header())
    data[39:41] = b"\xff\xff"
    with pytest.raises(MessageError, match="truncated"):
        read_header(io.BytesIO(bytes(data)).read)
    # a 4 GiB frame length with a tiny body: streamed, so it fails as truncated, not with MemoryError
    ct = encrypt_bytes(b"abc", [aes_keyring()], frame=4096)
    header = read_header(io.BytesIO(ct).read)
    big = bytearray(ct)
    flen_at = len(header.body_bytes) - 32 - 4
    big[flen_at:flen_at + 4] = b"\xff\xff\xff\xff"
    assert attempt(bytes(big), b"abc") is None
    with pytest.raises(MessageError, match="frame length 0"):
        read_header(io.BytesIO(_header(frame=0)).read)


def test_file_commands_leave_nothing_behind_on_damaged_input(run, workdir, keyfiles):
    (workdir / "plain").write_bytes(PLAIN * 3)
    run()("envelope", "encrypt", "plain", "--raw-key", keyfiles["aes"], "--frame-size", "4096")
    good = (workdir / "plain.enc").read_bytes()
    rnd = random.Random(1)
    cuts = [len(good) - 1, len(good) - 17, 4200, 300, 10]
    flips = [rnd.randrange(len(good)) for _ in range(12)] + [len(good) - 1]
    tails = [good + b"\0", good + good]  # small files are read whole before parsing: the end is still checked
    for i, variant in enumerate([good[:c] for c in cuts] + [_flip(good, p) for p in flips] + tails):
        (workdir / "bad.enc").write_bytes(variant)
        with pytest.raises(KmstuiError):
            run()("envelope", "decrypt", "bad.enc", "--raw-key", keyfiles["aes"], "--out", "out.bin")
        assert listing(workdir) == ["bad.enc", "plain", "plain.enc"], f"variant {i} left output behind"


def _flip(data: bytes, pos: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 0x80
    return bytes(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain=st.binary(max_size=3000), frame=st.integers(1, 1100), suite=st.sampled_from([0x0478, 0x0578]),
       context=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith("aws-crypto-")),
                               st.text(max_size=8), max_size=3))
def test_round_trip_any_plaintext_frame_and_context(plain, frame, suite, context):
    ct = encrypt_bytes(plain, [aes_keyring()], suite=suite, frame=frame, context=context)
    assert decrypt_bytes(ct, [aes_keyring()]) == plain
    stored = read_header(io.BytesIO(ct).read).context
    assert {k: stored[k] for k in context} == context
    assert set(stored) - set(context) == ({"aws-crypto-public-key"} if suite == 0x0578 else set())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_crashes(data):
    assert attempt(data, b"") is None or data == b""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_valid_header_followed_by_garbage_never_releases_plaintext(tail):
    ct = encrypt_bytes(PLAIN, [aes_keyring()], frame=4096)
    header_len = len(read_header(io.BytesIO(ct).read).raw)
    assert attempt(ct[:header_len] + tail, PLAIN) is None
