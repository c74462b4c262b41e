"""kmstui's symmetric ciphertext blob, so `decrypt` and `inspect` need no key id.

Layout (all integers big-endian)::

    offset  size  field
    0       3     magic b"KMT"
    3       1     format version (1)
    4       16    key id (the key's UUID, raw bytes)
    20      4     key material version (1 = the key's first material, +1 per rotation)
    24      12    AES-GCM IV
    36      n+16  AES-256-GCM ciphertext followed by the 16-byte tag

The AAD is the 36-byte header followed by the canonical encryption context, so neither the key reference
nor the context can be changed without the tag failing.
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from typing import NamedTuple

from kmstui.errors import InvalidCiphertextException, ValidationException

MAGIC = b"KMT"
VERSION = 1
HEADER = struct.Struct(">3sB16sI12s")
HEADER_LEN = HEADER.size  # 36
TAG_LEN = 16
IV_LEN = 12


# A NamedTuple rather than a dataclass: it is defined at every command's start-up, for a fifth of the cost.
class Blob(NamedTuple):
    key_id: str
    key_version: int
    iv: bytes
    header: bytes
    body: bytes  # ciphertext + tag


@lru_cache(maxsize=8192)
def _key_bytes(key_id: str) -> bytes:
    """uuid.UUID(key_id).bytes. A key id in the form the local backend writes (str(uuid.uuid4()): the one
    `_key_id` gives back) is converted without the uuid module, whose import (it loads `platform`) every
    command would otherwise pay for at start-up; anything else is left to uuid.UUID to read or refuse."""
    try:
        raw = bytes.fromhex(key_id.replace("-", ""))
    except (AttributeError, ValueError):
        raw = b""
    if len(raw) == 16 and _key_id(raw) == key_id:
        return raw
    import uuid

    return uuid.UUID(key_id).bytes


def pack_header(key_id: str, key_version: int, iv: bytes) -> bytes:
    return HEADER.pack(MAGIC, VERSION, _key_bytes(key_id), key_version, iv)


def looks_like_blob(data: bytes) -> bool:
    return len(data) >= HEADER_LEN + TAG_LEN and data[:3] == MAGIC


def parse(data: bytes) -> Blob:
    """Split a blob into its parts; InvalidCiphertextException for anything that is not one of ours."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValidationException("CiphertextBlob must be bytes")
    data = bytes(data)
    if len(data) < HEADER_LEN + TAG_LEN or data[:3] != MAGIC:
        raise InvalidCiphertextException("the ciphertext is not a kmstui ciphertext blob (bad magic or too short)")
    magic, version, kid, key_version, iv = HEADER.unpack_from(data)
    if version != VERSION:
        raise InvalidCiphertextException(f"unsupported ciphertext blob version {version}")
    return Blob(_key_id(kid), key_version, iv, data[:HEADER_LEN], data[HEADER_LEN:])


@lru_cache(maxsize=8192)
def _key_id(raw: bytes) -> str:
    """str(uuid.UUID(bytes=raw)) for the 16 bytes of a blob's key id field."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_EMPTY = b""


def canonical_context(context: dict[str, str] | None) -> bytes:
    """The encryption context as AAD: JSON with sorted keys, no whitespace, UTF-8. Empty context -> b""."""
    if not context:
        return _EMPTY
    if not isinstance(context, dict):
        raise ValidationException("EncryptionContext must map strings to strings")
    try:
        items = tuple(context.items())
        return _canonical(items if len(items) == 1 else tuple(sorted(items)))
    except TypeError:  # unhashable or unsortable values
        raise ValidationException("EncryptionContext must map strings to strings") from None


@lru_cache(maxsize=1024)
def _canonical(items: tuple) -> bytes:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
        raise ValidationException("EncryptionContext must map strings to strings")
    return json.dumps(dict(items), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
