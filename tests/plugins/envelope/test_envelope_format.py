"""Exact bytes of what kmstui writes, checked against the specification's layout (docs/format.md)."""

from __future__ import annotations

import io

import pytest

from envelope_helpers import aes_keyring, decrypt_bytes, encrypt_bytes
from kmstui_envelope.body import FINAL_MARK
from kmstui_envelope.errors import MessageError
from kmstui_envelope.header import parse_context, read_header, serialize_context
from kmstui_envelope.suites import parse_suite
from kmstui.errors import UsageError


def test_context_serialization_is_sorted_by_key_bytes_and_round_trips():
    ctx = {"b": "2", "a": "1", "unicode_ключ": "значение"}
    data = serialize_context(ctx)
    assert data[:2] == b"\x00\x03"
    assert data[2:8] == b"\x00\x01a\x00\x011"  # "a" first
    assert parse_context(data) == ctx
    assert serialize_context({}) == b""


def test_context_with_duplicate_keys_or_trailing_bytes_is_refused():
    dup = b"\x00\x02" + b"\x00\x01a\x00\x011" * 2
    with pytest.raises(MessageError, match="twice"):
        parse_context(dup)
    with pytest.raises(MessageError, match="left after"):
        parse_context(serialize_context({"a": "1"}) + b"x")


def test_v2_header_layout_byte_by_byte():
    ct = encrypt_bytes(b"hello", [aes_keyring()], context={"app": "x"}, frame=4096)
    assert ct[:3] == b"\x02\x04\x78"
    mid = ct[3:35]
    ctx = serialize_context({"app": "x"})
    pos = 35
    assert int.from_bytes(ct[pos:pos + 2], "big") == len(ctx)
    pos += 2
    assert ct[pos:pos + len(ctx)] == ctx
    pos += len(ctx)
    assert ct[pos:pos + 2] == b"\x00\x01"  # one EDK
    header = read_header(io.BytesIO(ct).read)
    assert header.message_id == mid
    edk = header.edks[0]
    assert edk.provider_id == "ns"
    assert edk.provider_info[:2] == b"k1" and edk.provider_info[2:10] == b"\0\0\0\x80\0\0\0\x0c"
    assert len(edk.provider_info) == 2 + 8 + 12 and len(edk.ciphertext) == 32 + 16
    end_edks = len(header.body_bytes) - 1 - 4 - 32
    assert ct[end_edks] == 0x02  # framed
    assert int.from_bytes(ct[end_edks + 1:end_edks + 5], "big") == 4096
    assert len(header.raw) == len(header.body_bytes) + 16  # v2: tag only, implicit IV


@pytest.mark.parametrize("size,frames", [(0, 1), (1, 1), (4095, 1), (4096, 2), (4097, 2), (8192, 3)])
def test_exact_multiples_end_with_an_empty_final_frame(size, frames):
    pt = bytes(size)
    ct = encrypt_bytes(pt, [aes_keyring()], frame=4096)
    header = read_header(io.BytesIO(ct).read)
    body = ct[len(header.raw):]
    regular = size // 4096
    assert body[regular * (4096 + 32):][:4] == FINAL_MARK
    final = body[regular * (4096 + 32):]
    assert int.from_bytes(final[4:8], "big") == frames
    assert final[8:20] == frames.to_bytes(12, "big")  # IV = sequence number, zero padded
    assert int.from_bytes(final[20:24], "big") == size - regular * 4096
    assert len(final) == 24 + (size - regular * 4096) + 16
    assert decrypt_bytes(ct, [aes_keyring()]) == pt


def test_signed_suite_adds_public_key_and_fixed_length_footer():
    ct = encrypt_bytes(b"data", [aes_keyring()], suite=0x0578)
    header = read_header(io.BytesIO(ct).read)
    assert len(header.context["aws-crypto-public-key"]) == 68  # base64 of a compressed P-384 point
    assert int.from_bytes(ct[-105:-103], "big") == 103
    assert decrypt_bytes(ct, [aes_keyring()]) == b"data"


def test_suite_option_accepts_only_committing_suites():
    assert parse_suite("0x0578").id == 0x0578
    assert parse_suite("0478").id == 0x0478
    assert parse_suite("committing-signed").id == 0x0578
    with pytest.raises(UsageError):
        parse_suite("0x0378")


def test_reserved_context_keys_are_refused_on_encrypt():
    with pytest.raises(UsageError, match="reserved"):
        encrypt_bytes(b"", [aes_keyring()], context={"aws-crypto-public-key": "x"})


def test_base64_message_gets_a_helpful_error():
    import base64

    ct = encrypt_bytes(b"x", [aes_keyring()])
    with pytest.raises(MessageError, match="Base64"):
        decrypt_bytes(base64.b64encode(ct), [aes_keyring()])


def test_input_longer_than_its_announced_size_is_not_truncated():
    from kmstui_envelope.materials import encryption_materials
    from kmstui_envelope.stream import encrypt_stream
    from kmstui_envelope.suites import SUITES

    pt = bytes(range(256)) * 40
    mats = encryption_materials([aes_keyring()], SUITES[0x0478], {})
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(pt), out.write, mats, 4096, size_hint=10)  # the file grew after stat()
    assert decrypt_bytes(out.getvalue(), [aes_keyring()]) == pt
