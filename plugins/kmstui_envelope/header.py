"""Message header: parse and serialize versions 1 and 2, encrypted data keys and the encryption context.

Layout (all integers big-endian), from data-format/message-header.md:
  v1: 01 | 80 | suite(2) | message id(16) | aad | edks | content type(1) | 00000000 | iv len(1) | frame len(4)
      then header IV(12) | header tag(16)
  v2: 02 | suite(2) | message id(32) | aad | edks | content type(1) | frame len(4) | commit key(32)
      then header tag(16)            (the header IV is implicit: 12 zero bytes)
  aad  = u16 length | serialized context (empty context: length 0, nothing else)
  edks = u16 count | count x (u16 len, provider id | u16 len, provider info | u16 len, ciphertext)
Parsing keeps the exact header-body bytes, so authentication and rewrap never depend on re-serializing.
"""

from __future__ import annotations

import base64
import hmac
from typing import Callable, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui_envelope.errors import MessageError, tampered, truncated
from kmstui_envelope.suites import IV_LEN, TAG_LEN, Suite, suite_by_id

FRAMED = 2
NON_FRAMED = 1
RESERVED_PREFIX = "aws-crypto-"
PUBLIC_KEY_FIELD = "aws-crypto-public-key"
DEFAULT_MAX_EDKS = 10
U16 = 0xFFFF
# A header is read into memory before anything else can be checked. Ten data keys of the largest size the
# format allows (3 x 64 KiB fields each) and a full encryption context fit in 4 MiB; nothing real comes close.
MAX_HEADER_BYTES = 4 << 20


class _EDKFields(NamedTuple):
    provider_id: str
    provider_info: bytes
    ciphertext: bytes


class EncryptedDataKey(_EDKFields):
    """One encrypted data key (EDK): whose key wraps it (provider id and info) and the wrapped key. Equal
    (and hashed) by those three fields; a subclass of their NamedTuple only to hold the wire form's memo."""

    def serialize(self) -> bytes:
        """The wire form, computed once (a cached data key's EDKs go into every message that uses it)."""
        done = self.__dict__.get("_wire")
        if done is not None:
            return done
        pid = self.provider_id.encode("utf-8")
        for name, value in (("provider id", pid), ("provider info", self.provider_info),
                            ("ciphertext", self.ciphertext)):
            if len(value) > U16:
                raise ValueError(f"encrypted data key {name} is {len(value)} bytes; the format allows 65535")
        wire = b"".join(len(v).to_bytes(2, "big") + v for v in (pid, self.provider_info, self.ciphertext))
        self._wire = wire  # every field is immutable: the memo stays true
        return wire


class Header:
    """A message header as parsed or built; `body_bytes` are the exact bytes the header tag covers."""

    __slots__ = ("suite", "message_id", "context", "edks", "frame_length", "content_type", "commit_key",
                 "header_iv", "tag", "body_bytes", "raw", "context_bytes")

    def __init__(self, suite: Suite, message_id: bytes, context: dict[str, str], edks: list[EncryptedDataKey],
                 frame_length: int, content_type: int = FRAMED, commit_key: bytes = b"",
                 header_iv: bytes = bytes(IV_LEN), tag: bytes = b"", body_bytes: bytes = b"", raw: bytes = b"",
                 context_bytes: bytes | None = None) -> None:
        self.suite = suite
        self.message_id = message_id
        self.context = context
        self.edks = edks
        self.frame_length = frame_length
        self.content_type = content_type
        self.commit_key = commit_key  # v2 suite data
        self.header_iv = header_iv  # v1 only; v2 is implicitly zero
        self.tag = tag
        self.body_bytes = body_bytes  # exact serialized header body (what the tag authenticates)
        self.raw = raw  # body + authentication, as read or written
        self.context_bytes = context_bytes  # the context as read (None: not parsed)

    @property
    def version(self) -> int:
        return self.suite.version

    def public_key(self) -> bytes | None:
        value = self.context.get(PUBLIC_KEY_FIELD)
        return base64.b64decode(value) if value is not None else None


# -- encryption context --------------------------------------------------------------------------------
def serialize_context(context: dict[str, str]) -> bytes:
    """Spec serialization: empty -> b''; else u16 count, then (u16 len, key, u16 len, value) sorted by key bytes."""
    if not context:
        return b""
    items = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    if len(items) > U16:
        raise ValueError("encryption context has more than 65535 pairs")
    out = [len(items).to_bytes(2, "big")]
    for k, v in items:
        if len(k) > U16 or len(v) > U16:
            raise ValueError("an encryption context key or value is longer than 65535 bytes")
        out += [len(k).to_bytes(2, "big"), k, len(v).to_bytes(2, "big"), v]
    data = b"".join(out)
    if len(data) > U16:
        raise ValueError(f"encryption context serializes to {len(data)} bytes; the format allows 65535")
    return data


def parse_context(data: bytes) -> dict[str, str]:
    if not data:
        return {}
    view, pos = memoryview(data), 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(view):
            raise MessageError("encryption context is malformed: a length points past its end")
        out = bytes(view[pos:pos + n])
        pos += n
        return out

    count = int.from_bytes(take(2), "big")
    if count == 0:
        raise MessageError("encryption context is malformed: non-empty field with zero pairs")
    context: dict[str, str] = {}
    for _ in range(count):
        try:
            key = take(int.from_bytes(take(2), "big")).decode("utf-8")
            value = take(int.from_bytes(take(2), "big")).decode("utf-8")
        except UnicodeDecodeError:
            raise MessageError("encryption context is malformed: not UTF-8") from None
        if key in context:
            raise MessageError(f"encryption context is malformed: key {key!r} appears twice")
        context[key] = value
    if pos != len(view):
        raise MessageError("encryption context is malformed: bytes left after the last pair")
    return context


# -- parsing ---------------------------------------------------------------------------------------------
class _Recorder:
    """Reads exactly n bytes from a stream, keeping a copy of everything read (the header bytes)."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.buf = bytearray()

    def take(self, n: int, what: str) -> bytes:
        if len(self.buf) + n > MAX_HEADER_BYTES:
            raise MessageError(f"header is larger than {MAX_HEADER_BYTES >> 20} MiB, kmstui's bound for a message "
                               "header (docs/inputs.md)", "limit")
        data = self._read(n) if n else b""
        if len(data) != n:
            if not self.buf and not data:
                raise MessageError("input is empty: not an encrypted message", "truncated")
            raise truncated(what)
        self.buf += data
        return data

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "big")


def looks_base64(first: bytes) -> bool:
    """Spec: decoders SHOULD recognise the Base64 of a message start (v1 "AY", v2 "AgR4"/"AgV4")."""
    return first[:2] == b"AY" or first[:4] in (b"AgR4", b"AgV4")


def read_header(read: Callable[[int], bytes], *, allow_legacy: bool = False,
                max_edks: int | None = DEFAULT_MAX_EDKS) -> Header:
    """Parse a header from `read(n)` (a stream's read, or exact_reader). Checks structure, not authenticity."""
    r = _Recorder(read)
    version = r.u8("header version")
    if version == 1:
        msg_type = r.u8("header type")
        if msg_type != 0x80:
            raise MessageError(f"header type is 0x{msg_type:02X}; the only defined type is 0x80")
    elif version != 2:
        first = bytes(r.buf) + (read(3) or b"")
        if looks_base64(first):
            raise MessageError("this looks like a Base64-encoded message; decode it first (base64 -d)")
        raise MessageError(f"not an AWS Encryption SDK message (first byte 0x{version:02X}; expected 0x01 or 0x02)")
    suite_id = r.u16("algorithm suite id")
    suite = suite_by_id(suite_id, allow_legacy=allow_legacy)
    if suite.version != version:
        raise MessageError(f"suite {suite.hex} needs header version {suite.version}, found {version}")
    message_id = r.take(suite.message_id_len, "message id")
    aad_len = r.u16("encryption context length")
    context_bytes = r.take(aad_len, "encryption context")
    context = parse_context(context_bytes)
    count = r.u16("encrypted data key count")
    if count == 0:
        raise MessageError("header has no encrypted data keys")
    if max_edks is not None and count > max_edks:
        raise MessageError(f"header lists {count} encrypted data keys; the limit is {max_edks} "
                           "(raise it with --max-edks if you expect that many)", "limit")
    edks = []
    for i in range(count):  # each field with the next one's length: three reads per key, not six
        pid_raw = r.take(r.u16("encrypted data key") + 2, "encrypted data key")
        info = r.take(int.from_bytes(pid_raw[-2:], "big") + 2, "encrypted data key")
        ct = r.take(int.from_bytes(info[-2:], "big"), "encrypted data key")
        pid_raw, info = pid_raw[:-2], info[:-2]
        try:
            pid = pid_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MessageError(f"encrypted data key {i + 1}: provider id is not UTF-8") from None
        edks.append(EncryptedDataKey(pid, info, ct))
    content_type = r.u8("content type")
    if content_type not in (FRAMED, NON_FRAMED):
        raise MessageError(f"content type 0x{content_type:02X} is not defined (0x01 non-framed, 0x02 framed)")
    if version == 1:
        if r.take(4, "reserved field") != b"\0\0\0\0":
            raise MessageError("header reserved field is not zero")
        iv_len = r.u8("IV length")
        if iv_len != IV_LEN:
            raise MessageError(f"header IV length is {iv_len}; suite {suite.hex} uses {IV_LEN}")
    frame_length = r.u32("frame length")
    if content_type == FRAMED and frame_length == 0:
        raise MessageError("framed message with frame length 0")
    if content_type == NON_FRAMED and frame_length != 0:
        raise MessageError("non-framed message with a non-zero frame length")
    commit_key = r.take(suite.suite_data_len, "commitment key")
    body_bytes = bytes(r.buf)
    header_iv = r.take(IV_LEN, "header authentication") if version == 1 else bytes(IV_LEN)
    tag = r.take(TAG_LEN, "header authentication")
    header = Header(suite, message_id, context, edks, frame_length, content_type, commit_key, header_iv, tag,
                    body_bytes, bytes(r.buf), context_bytes)
    if suite.signed and PUBLIC_KEY_FIELD not in context:
        raise MessageError(f"signed suite {suite.hex} but no {PUBLIC_KEY_FIELD} in the encryption context")
    return header


# -- serializing and authenticating -------------------------------------------------------------------
def serialize_body(suite: Suite, message_id: bytes, context: dict[str, str], edks: list[EncryptedDataKey],
                   frame_length: int, commit_key: bytes = b"", content_type: int = FRAMED) -> bytes:
    """Header body bytes. kmstui writes v2 framed; v1 and non-framed serve rewrap of legacy messages."""
    if not edks or len(edks) > U16:
        raise ValueError("a message needs 1..65535 encrypted data keys")
    ctx = serialize_context(context)
    parts = [bytes([suite.version])]
    if suite.version == 1:
        parts.append(b"\x80")
    parts += [suite.id.to_bytes(2, "big"), message_id, len(ctx).to_bytes(2, "big"), ctx,
              len(edks).to_bytes(2, "big"), *(e.serialize() for e in edks), bytes([content_type])]
    if suite.version == 1:
        parts += [b"\0\0\0\0", bytes([IV_LEN])]
    parts += [frame_length.to_bytes(4, "big"), commit_key]
    return b"".join(parts)


def header_tag(key: bytes, body_bytes: bytes, iv: bytes = bytes(IV_LEN), aead: AESGCM | None = None) -> bytes:
    """`aead`: AESGCM(key) when the caller has one (the body uses the same key: one key set-up per message)."""
    return (aead or AESGCM(key)).encrypt(iv, b"", body_bytes)


def authenticate(header: Header, enc_key: bytes, commit_key: bytes | None, aead: AESGCM | None = None) -> None:
    """Check commitment (constant time) and then the header tag; raise on either failure."""
    if header.suite.committing:
        if commit_key is None or not hmac.compare_digest(commit_key, header.commit_key):
            raise MessageError("key commitment does not match: the data key unwrapped by this key is not the "
                               "one the message was written with (tampered or forged message)", "tampered")
    try:
        (aead or AESGCM(enc_key)).decrypt(header.header_iv, header.tag, header.body_bytes)
    except InvalidTag:
        raise tampered("header (encryption context, data keys or settings)") from None


def finish(header_body: bytes, suite: Suite, enc_key: bytes, iv: bytes = bytes(IV_LEN),
           aead: AESGCM | None = None) -> bytes:
    """Header body + authentication, ready to write (v1 carries its header IV; v2's is implicit zero)."""
    tag = header_tag(enc_key, header_body, iv if suite.version == 1 else bytes(IV_LEN), aead)
    return header_body + (iv if suite.version == 1 else b"") + tag
