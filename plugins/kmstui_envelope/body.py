"""Message body: framed and non-framed encryption/decryption, and the signature footer.

Framed body (data-format/message-body.md):
  regular frame: u32 seq | IV(12) | ciphertext(frame length) | tag(16)
  final frame:   FFFFFFFF | u32 seq | IV(12) | u32 content length | ciphertext | tag(16)
  IV = 8 zero bytes | u32 seq (seq starts at 1); AAD = message id | label | u32 seq | u64 content length.
Non-framed (read only): IV(12) | u64 length | ciphertext | tag(16), label "Single Block", seq 1.
Footer (signed suites): u16 length | DER ECDSA signature over the hash of header and body.

Plaintext leaves `decrypt_body` only through `sink`, and only after its frame's tag verified; segments too
large to hold in memory (non-framed bodies, frames over IN_MEMORY_FRAME) are decrypted incrementally into
`sink.unverified()`, which the caller provides as a place nobody can read until the tag verifies.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # loaded with AESGCM anyway
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui_envelope.errors import MessageError, tampered, truncated
from kmstui_envelope.header import NON_FRAMED, Header
from kmstui_envelope.pipe import OutputPipe, Source
from kmstui_envelope.suites import IV_LEN, TAG_LEN, Suite

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

FRAME_LABEL = b"AWSKMSEncryptionClient Frame"
FINAL_LABEL = b"AWSKMSEncryptionClient Final Frame"
SINGLE_LABEL = b"AWSKMSEncryptionClient Single Block"
FINAL_MARK = b"\xff\xff\xff\xff"
MAX_FRAMES = 0xFFFFFFFF
MAX_NON_FRAMED = 2**36 - 32
IN_MEMORY_FRAME = 16 << 20  # larger frames are decrypted incrementally
STREAM_CHUNK = 1 << 20

_CURVE_ORDER = {
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "p384": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
}


def frame_iv(seq: int) -> bytes:
    return seq.to_bytes(IV_LEN, "big")


def body_aad(message_id: bytes, label: bytes, seq: int, length: int) -> bytes:
    return message_id + label + seq.to_bytes(4, "big") + length.to_bytes(8, "big")


# -- signing ---------------------------------------------------------------------------------------------
# The default suite (0x0478) is unsigned: the ECDSA modules (and the serialization package they pull in,
# a dozen modules) load only when a signed message is written or read.
class Signer:
    """An ephemeral per-message ECDSA key; the public half goes into the context as aws-crypto-public-key."""

    def __init__(self, suite: Suite, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        self.suite = suite
        self._key = key or ec.generate_private_key(suite.curve_obj())
        self.hasher = hashes.Hash(suite.hash_obj())

    def public_key_b64(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        point = self._key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        return base64.b64encode(point).decode("ascii")

    def footer(self) -> bytes:
        """Sign the hash; like the SDKs, fix the DER length (negate s, else re-sign) for predictable sizes."""
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import (Prehashed, decode_dss_signature,
                                                                     encode_dss_signature)

        digest = self.hasher.finalize()
        algo = ec.ECDSA(Prehashed(self.suite.hash_obj()))
        order = _CURVE_ORDER[self.suite.curve or ""]
        while True:
            sig = self._key.sign(digest, algo)
            if len(sig) != self.suite.signature_len:
                r, s = decode_dss_signature(sig)
                sig = encode_dss_signature(r, order - s)
            if len(sig) == self.suite.signature_len:
                return len(sig).to_bytes(2, "big") + sig


def verify_footer(header: Header, source: Source, digest: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    raw_len = source.read(2)
    if len(raw_len) != 2:
        raise truncated("signature footer")
    sig = source.read(int.from_bytes(raw_len, "big"))
    if len(sig) != int.from_bytes(raw_len, "big"):
        raise truncated("signature footer")
    try:
        point = header.public_key() or b""
        pub = ec.EllipticCurvePublicKey.from_encoded_point(header.suite.curve_obj(), point)
        pub.verify(sig, digest, ec.ECDSA(Prehashed(header.suite.hash_obj())))
    except (InvalidSignature, ValueError, TypeError):
        raise tampered("message signature") from None


# -- encryption ------------------------------------------------------------------------------------------
def encrypt_body(suite: Suite, message_id: bytes, key: bytes, frame_length: int, source: Source,
                 out: OutputPipe, progress: Callable[[int], Any] | None = None, size_hint: int | None = None,
                 aead: AESGCM | None = None) -> int:
    """Read `source` to its end, write framed ciphertext to `out`; returns the plaintext length.

    A full last chunk is written as a regular frame followed by an empty final frame (ESDK-Python < 4
    rejects a full-length final frame). `size_hint` (the input file's size) keeps the first read buffer
    small for small files (and threadless); an input that turns out longer continues in full frames."""
    aead = aead or AESGCM(key)
    seq, total = 1, 0
    source.read_ahead(frame_length, size_hint)
    while True:
        block = source.take(frame_length)  # a view into the reader's block: no copy
        n = len(block)
        total += n
        if n == frame_length:
            if seq >= MAX_FRAMES:
                raise MessageError("input too large for this frame length (2^32-1 frames); use a larger --frame-size",
                                   "limit")
            buf = out.buffer(frame_length + 32)
            iv = frame_iv(seq)
            buf[0:4] = seq.to_bytes(4, "big")
            buf[4:16] = iv
            aead.encrypt_into(iv, block, body_aad(message_id, FRAME_LABEL, seq, n),
                              memoryview(buf)[16:frame_length + 32])
            out.submit(buf, frame_length + 32)
            seq += 1
            if progress:
                progress(n)
            continue
        buf = out.buffer(n + 40)
        iv = frame_iv(seq)
        buf[0:4] = FINAL_MARK
        buf[4:8] = seq.to_bytes(4, "big")
        buf[8:20] = iv
        buf[20:24] = n.to_bytes(4, "big")
        aead.encrypt_into(iv, block, body_aad(message_id, FINAL_LABEL, seq, n), memoryview(buf)[24:n + 40])
        out.submit(buf, n + 40)
        if progress:
            progress(n)
        return total


# -- decryption ------------------------------------------------------------------------------------------
class Sink:
    """Where plaintext goes. `pipe` gets authenticated plaintext only. `unverified()` returns a writable
    binary file nobody else can read yet (a temp file), used for segments verified only at their end.

    `private`: nobody can read what reaches `pipe` until the caller commits (an AtomicFile). A non-private
    sink (standard output) never sees a signed message's plaintext before its signature verified:
    decrypt_stream then routes the whole body through a private temporary file first."""

    def __init__(self, pipe: OutputPipe, unverified: Callable[[], BinaryIO], *, private: bool = False) -> None:
        self.pipe = pipe
        self.unverified = unverified
        self.private = private


def _read_exact(source: Source, n: int, what: str) -> bytes:
    data = source.read(n)
    if len(data) != n:
        raise truncated(what)
    return data


def _take_exact(source: Source, n: int, what: str) -> memoryview:
    """Like _read_exact, without a copy: the view is valid until the next read from `source`."""
    data = source.take(n)
    if len(data) != n:
        raise truncated(what)
    return data


def _stream_segment(source: Source, key: bytes, iv: bytes, aad: bytes, length: int, sink: Sink,
                    what: str, progress) -> None:
    """Incremental GCM for a segment too large for memory: plaintext goes to a private spill file and is
    handed to the sink only after the tag verified."""
    dec = Cipher(algorithms.AES(key), modes.GCM(iv)).decryptor()
    dec.authenticate_additional_data(aad)
    spill = sink.unverified()
    left = length
    while left:
        chunk = source.read(min(STREAM_CHUNK, left))
        if not chunk:
            raise truncated(what)
        left -= len(chunk)
        spill.write(dec.update(chunk))
    tag = _read_exact(source, TAG_LEN, what)
    try:
        dec.finalize_with_tag(tag)
    except InvalidTag:
        raise tampered(what) from None
    spill.flush()
    spill.seek(0)
    while True:
        block = spill.read(STREAM_CHUNK)
        if not block:
            break
        sink.pipe.write(block)
        if progress:
            progress(len(block))
    spill.close()


def decrypt_body(header: Header, key: bytes, source: Source, sink: Sink,
                 progress: Callable[[int], Any] | None = None, size_hint: int | None = None,
                 aead: AESGCM | None = None) -> int:
    """Decrypt the body that follows `header` in `source`; returns the plaintext length. `size_hint`: the
    whole message's size when known (a one-frame message then reads without a thread)."""
    mid = header.message_id
    if header.content_type == NON_FRAMED:
        iv = _read_exact(source, IV_LEN, "non-framed body")
        length = int.from_bytes(_read_exact(source, 8, "non-framed body"), "big")
        if length > MAX_NON_FRAMED:
            raise MessageError(f"non-framed body claims {length} bytes; the format allows at most 2^36-32")
        _stream_segment(source, key, iv, body_aad(mid, SINGLE_LABEL, 1, length), length, sink,
                        "non-framed body", progress)
        return length
    aead = aead or AESGCM(key)
    flen = header.frame_length
    seq, total = 1, 0
    big = flen > IN_MEMORY_FRAME
    if not big:  # whole frames per block, aligned to the body: each frame is handed over without a copy
        source.read_ahead(4 + IV_LEN + flen + TAG_LEN, None if size_hint is None else max(0, size_hint - source.pos))
    while True:
        mark = _read_exact(source, 4, f"frame {seq}")
        if mark == FINAL_MARK:
            fields = _read_exact(source, 4 + IV_LEN + 4, "final frame")  # sequence number, IV, length
            fseq = int.from_bytes(fields[:4], "big")
            if fseq != seq:
                raise tampered(f"final frame (sequence number {fseq}, expected {seq})")
            iv = fields[4:4 + IV_LEN]
            n = int.from_bytes(fields[4 + IV_LEN:], "big")
            if n > flen:
                raise MessageError(f"final frame claims {n} bytes, more than the frame length {flen}")
            aad = body_aad(mid, FINAL_LABEL, seq, n)
            if n > IN_MEMORY_FRAME:
                _stream_segment(source, key, iv, aad, n, sink, "final frame", progress)
            else:
                ct = _take_exact(source, n + TAG_LEN, "final frame")
                buf = sink.pipe.buffer(max(n, 1))
                try:
                    aead.decrypt_into(iv, ct, aad, memoryview(buf)[:n])
                except InvalidTag:
                    raise tampered("final frame") from None
                sink.pipe.submit(buf, n)
                if progress:
                    progress(n)
            return total + n
        if int.from_bytes(mark, "big") != seq:
            raise tampered(f"frame {seq} (found sequence number {int.from_bytes(mark, 'big')}: frames "
                           "reordered, dropped or duplicated)")
        aad = body_aad(mid, FRAME_LABEL, seq, flen)
        if big:
            iv = _read_exact(source, IV_LEN, f"frame {seq}")
            _stream_segment(source, key, iv, aad, flen, sink, f"frame {seq}", progress)
        else:
            view = _take_exact(source, IV_LEN + flen + TAG_LEN, f"frame {seq}")
            buf = sink.pipe.buffer(flen)
            try:
                aead.decrypt_into(view[:IV_LEN], view[IV_LEN:], aad, memoryview(buf)[:flen])
            except InvalidTag:
                raise tampered(f"frame {seq}") from None
            sink.pipe.submit(buf, flen)
            if progress:
                progress(flen)
        total += flen
        seq += 1
        if seq > MAX_FRAMES:
            raise MessageError("message has more than 2^32-1 frames")
