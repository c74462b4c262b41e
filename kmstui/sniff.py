"""What a blob of bytes is, from its first bytes, so a message can say "this is a PDF" or "this is an envelope
file" instead of a generic "not a ciphertext", and never suggest a fix (a missing --context) that cannot apply.

Only well-known signatures are named; anything else is None. Pure functions on bytes, no I/O.
"""

from __future__ import annotations

# (prefix, name) checked in order; the name reads after "this is ".
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or a ZIP-based file: docx, xlsx, jar, ...)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"(\xb5/\xfd", "zstd data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"age-encryption.org/", "an age-encrypted file"),
    (b"-----BEGIN ", "a PEM text block"),
)

_ESDK_SUITES_V2 = frozenset({0x0478, 0x0578})
_ESDK_SUITES_V1 = frozenset({0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378})


def common_type(head: bytes) -> str | None:
    """The name of a common file type `head` (a file's first bytes) starts, or None."""
    for prefix, name in _SIGNATURES:
        if head.startswith(prefix):
            return name
    return None


def is_esdk_message(head: bytes) -> bool:
    """Whether `head` starts an AWS Encryption SDK message (kmstui's envelope format): a known version byte,
    then (v1: type 0x80) a known algorithm suite."""
    if len(head) >= 3 and head[0] == 0x02:
        return int.from_bytes(head[1:3], "big") in _ESDK_SUITES_V2
    if len(head) >= 4 and head[0] == 0x01 and head[1] == 0x80:
        return int.from_bytes(head[2:4], "big") in _ESDK_SUITES_V1
    return False


def is_local_blob(head: bytes) -> bool:
    """Whether `head` starts a ciphertext blob of kmstui's local backend ('encrypt', 'data-key generate')."""
    return head[:3] == b"KMT" and len(head) > 3


def describe(head: bytes) -> str | None:
    """A short name for what `head` is (a common type, an envelope file, a local blob), or None."""
    if is_esdk_message(head):
        return "an envelope file (AWS Encryption SDK message): use 'envelope decrypt' or 'inspect'"
    if is_local_blob(head):
        return "a kmstui ciphertext blob (from 'encrypt')"
    return common_type(head)
