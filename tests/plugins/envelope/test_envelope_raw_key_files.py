"""--raw-key files: binary, hex and base64 AES keys (issue 11 item 13: hex and base64 always crashed with
"bytes.fromhex() takes no keyword arguments"), text never taken as key bytes, and a bounded read."""

from __future__ import annotations

import base64
import re

import pytest

from envelope_helpers import AES_KEY
from kmstui.errors import UsageError


@pytest.mark.parametrize("encode", [
    lambda k: k,                                        # binary file: the bytes themselves
    lambda k: k.hex().encode() + b"\n",                 # `openssl rand -hex 32 > key`
    lambda k: k.hex().upper().encode(),                 # no newline, upper case
    lambda k: base64.b64encode(k) + b"\n",              # `openssl rand -base64 32 > key`
    lambda k: b"  " + base64.b64encode(k) + b"\r\n",    # surrounding whitespace ignored
], ids=["raw", "hex-nl", "HEX", "base64-nl", "base64-ws"])
def test_every_encoding_of_the_same_key_decrypts_the_same_file(run, workdir, encode):
    (workdir / "raw.key").write_bytes(AES_KEY)
    (workdir / "a").write_bytes(b"payload")
    run()("envelope", "encrypt", "a", "--raw-key", "raw.key,name=k,namespace=ns")
    (workdir / "other.key").write_bytes(encode(AES_KEY))
    res = run()("envelope", "decrypt", "a.enc", "--raw-key", "other.key,name=k,namespace=ns", "--out", "a.out")
    assert res.exit_code == 0 and (workdir / "a.out").read_bytes() == b"payload"


def test_hex_of_a_16_byte_key_is_that_key_not_32_digit_bytes(run, workdir):
    key16 = bytes(range(16))
    (workdir / "bin.key").write_bytes(key16)
    (workdir / "hex.key").write_bytes(key16.hex().encode())  # 32 characters: also a valid raw AES-256 length
    (workdir / "a").write_bytes(b"x")
    run()("envelope", "encrypt", "a", "--raw-key", "bin.key,name=k,namespace=ns")
    res = run()("envelope", "decrypt", "a.enc", "--raw-key", "hex.key,name=k,namespace=ns", "--out", "o")
    assert res.exit_code == 0 and (workdir / "o").read_bytes() == b"x"


@pytest.mark.parametrize("content, message", [
    (b"0123456789abcdef\n", "the file holds text (8 bytes)"),
    (b"not a key at all!!", "the file holds text (not hex or base64)"),
    (b"\x00" * 20, "the file has 20 bytes"),
])
def test_text_that_is_not_a_key_is_refused_never_used_as_bytes(run, workdir, content, message):
    (workdir / "bad.key").write_bytes(content)
    (workdir / "a").write_bytes(b"x")
    with pytest.raises(UsageError, match=re.escape(message)):
        run()("envelope", "encrypt", "a", "--raw-key", "bad.key")
    assert not (workdir / "a.enc").exists()


def test_format_option_says_it_outright(run, workdir):
    printable = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"  # 32 printable bytes: base64 text by default
    (workdir / "p.key").write_bytes(printable)
    (workdir / "a").write_bytes(b"x")
    run()("envelope", "encrypt", "a", "--raw-key", "p.key,format=raw,name=k,namespace=ns")
    (workdir / "bin.key").write_bytes(printable)
    with pytest.raises(Exception):  # read as base64 it is another (24-byte) key: no data key opens
        run()("envelope", "decrypt", "a.enc", "--raw-key", "bin.key,name=k,namespace=ns", "--out", "o")
    res = run()("envelope", "decrypt", "a.enc", "--raw-key", "bin.key,format=raw,name=k,namespace=ns", "--out", "o")
    assert res.exit_code == 0
    with pytest.raises(UsageError, match="format= is one of raw, hex, base64"):
        run()("envelope", "encrypt", "a", "--raw-key", "p.key,format=pem", "--force")


def test_key_file_read_is_bounded(run, workdir):
    (workdir / "a").write_bytes(b"x")
    with pytest.raises(UsageError, match="--raw-key /dev/zero is larger than 64 KiB"):
        run()("envelope", "encrypt", "a", "--raw-key", "/dev/zero")
