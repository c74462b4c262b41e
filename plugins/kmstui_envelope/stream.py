"""Whole messages: encrypt a stream into a message, decrypt a message into a sink.

Order on decrypt follows client-apis/decrypt.md: parse header (bounded EDK count), check the expected
context, unwrap a data key, check commitment then the header tag, then the body frame by frame, then the
signature, then that nothing follows the message. Only after all of that does the caller commit output.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui.errors import UsageError
from kmstui_envelope.body import Signer, Sink, decrypt_body, encrypt_body, verify_footer
from kmstui_envelope.errors import MessageError
from kmstui_envelope.header import DEFAULT_MAX_EDKS, Header, authenticate, finish, read_header, serialize_body
from kmstui_envelope.keyrings import Keyring, wipe
from kmstui_envelope.materials import EncryptionMaterials, UnwrapCache, decrypt_data_key
from kmstui_envelope.pipe import OutputPipe, Source

DEFAULT_FRAME = 2 << 20  # see docs/format.md "Frame length" for the measurements behind it
MAX_FRAME = 2**31 - 1  # ESDK-Python refuses larger frames; the format allows 2^32-1
HOLD_CHUNK = 1 << 20  # copy-out block of a held (signed) message


class DecryptOptions:
    """What a decryption accepts: legacy suites, how many EDKs, which context it must find."""

    __slots__ = ("allow_legacy", "max_edks", "expect_context", "refuse_signed", "unwrap_cache")

    def __init__(self, allow_legacy: bool = False, max_edks: int | None = DEFAULT_MAX_EDKS,
                 expect_context: dict[str, str] | None = None, refuse_signed: bool = False,
                 unwrap_cache: UnwrapCache | None = None) -> None:
        self.allow_legacy = allow_legacy
        self.max_edks = max_edks
        self.expect_context = expect_context
        self.refuse_signed = refuse_signed  # streaming to a reader who must not see unverified plaintext
        self.unwrap_cache = unwrap_cache  # data keys already unwrapped in this run

    def replace(self, **changes: Any) -> DecryptOptions:
        """A copy with `changes`; an unknown name is a TypeError."""
        return DecryptOptions(**{**{name: getattr(self, name) for name in DecryptOptions.__slots__}, **changes})


class Decrypted:
    """What decrypt_stream read: the header, the plaintext length, and which EDK (and key) opened it."""

    __slots__ = ("header", "plaintext_len", "edk_index", "key_label")

    def __init__(self, header: Header, plaintext_len: int, edk_index: int, key_label: str) -> None:
        self.header = header
        self.plaintext_len = plaintext_len
        self.edk_index = edk_index
        self.key_label = key_label


def encrypt_stream(src: BinaryIO, write: Callable[[Any], Any], mats: EncryptionMaterials, frame_length: int,
                   progress: Callable[[int], Any] | None = None, size_hint: int | None = None) -> tuple[int, int]:
    """Write one message; returns (plaintext bytes, ciphertext bytes)."""
    if not 1 <= frame_length <= MAX_FRAME:
        raise ValueError(f"frame length must be 1..{MAX_FRAME}")
    suite = mats.suite
    message_id = os.urandom(suite.message_id_len)
    enc_key, commit = suite.derive(mats.data_key, message_id)
    aead = AESGCM(enc_key)  # header tag and frames: one key set-up
    header_bytes = finish(serialize_body(suite, message_id, mats.context, mats.edks, frame_length, commit or b""),
                          suite, enc_key, aead=aead)
    pipe = OutputPipe(write)
    signer = Signer(suite, mats.signing_key) if suite.signed else None
    if signer is not None:
        pipe.hasher = signer.hasher
    source = Source(src)
    try:
        pipe.write(header_bytes)
        n = encrypt_body(suite, message_id, enc_key, frame_length, source, pipe, progress, size_hint, aead)
        pipe.close()
    except BaseException:
        pipe.abort()
        raise
    finally:
        source.close()
    if signer is not None:
        pipe.hasher = None
        pipe.write(signer.footer())
    return n, pipe.written


def decrypt_stream(src: BinaryIO, keyrings: list[Keyring], sink: Sink, opts: DecryptOptions,
                   progress: Callable[[int], Any] | None = None, size_hint: int | None = None) -> Decrypted:
    """Decrypt one message from `src` into `sink`; raises before the caller may commit anything.
    `size_hint`: the message's size when known (small messages then read without a thread)."""
    source = Source(src)
    try:
        return _decrypt(source, keyrings, sink, opts, progress, size_hint)
    finally:
        source.close()


def _decrypt(source: Source, keyrings: list[Keyring], sink: Sink, opts: DecryptOptions,
             progress: Callable[[int], Any] | None, size_hint: int | None) -> Decrypted:
    header = read_header(source.read, allow_legacy=opts.allow_legacy, max_edks=opts.max_edks)
    if opts.refuse_signed and header.suite.signed:
        raise UsageError(f"message uses signed suite {header.suite.hex}: streaming it to standard output would "
                         "release plaintext before the signature is checked; add --buffer-signed (buffers in a "
                         "private temporary file) or write to a file")
    check_expected_context(header, opts.expect_context)
    if header.suite.signed:
        from cryptography.hazmat.primitives import hashes  # signed suites only

        source.hasher = hashes.Hash(header.suite.hash_obj())
        source.hasher.update(header.raw)
    found = decrypt_data_key(header, keyrings, opts.unwrap_cache)
    try:
        enc_key, commit = header.suite.derive(found.data_key, header.message_id)
    finally:
        wipe(found.data_key)
    aead = AESGCM(enc_key)  # header tag and frames: one key set-up
    authenticate(header, enc_key, commit, aead)
    # Signed suites: the signature covers the whole message, so a reader who could see plaintext early
    # (standard output) gets nothing before it verified; the body goes to a private temporary file first.
    hold = sink.unverified() if header.suite.signed and not sink.private else None
    body_sink = sink if hold is None else Sink(OutputPipe(hold.write), sink.unverified, private=True)
    try:
        n = decrypt_body(header, enc_key, source, body_sink, progress, size_hint, aead)
        if source.hasher is not None:
            digest = source.hasher.finalize()
            source.hasher = None
            verify_footer(header, source, digest)
        if not source.at_eof():
            raise MessageError("unexpected bytes after the end of the message (two messages joined, or "
                               "trailing garbage)", "tampered")
        if hold is not None:
            body_sink.pipe.close()
            _release(hold, sink.pipe)
        sink.pipe.close()
    except BaseException:
        if hold is not None:
            body_sink.pipe.abort()
        sink.pipe.abort()
        raise
    finally:
        if hold is not None:
            hold.close()
    return Decrypted(header, n, found.edk_index, found.keyring.label)


def _release(hold: BinaryIO, pipe: OutputPipe) -> None:
    """Copy a verified message's plaintext from its private holding file to the real output."""
    hold.flush()
    hold.seek(0)
    while True:
        buf = pipe.buffer(HOLD_CHUNK)
        n = hold.readinto(buf)
        if not n:
            break
        pipe.submit(buf, n)


def check_expected_context(header: Header, expected: dict[str, str] | None) -> None:
    """--expect-context: every pair must be in the stored context (authenticated once the header tag checks)."""
    for key, value in (expected or {}).items():
        if header.context.get(key) != value:
            found = "missing" if key not in header.context else f"'{header.context[key]}'"
            raise MessageError(f"encryption context does not match: expected {key}={value}, found {found}",
                               "context")


def verify_header(src: BinaryIO, keyrings: list[Keyring], opts: DecryptOptions) -> tuple[Header, int, str]:
    """Unwrap a data key and check commitment and header tag, without touching the body."""
    source = Source(src)
    header = read_header(source.read, allow_legacy=opts.allow_legacy, max_edks=opts.max_edks)
    check_expected_context(header, opts.expect_context)
    found = decrypt_data_key(header, keyrings, opts.unwrap_cache)
    try:
        enc_key, commit = header.suite.derive(found.data_key, header.message_id)
    finally:
        wipe(found.data_key)
    authenticate(header, enc_key, commit)
    return header, found.edk_index, found.keyring.label
