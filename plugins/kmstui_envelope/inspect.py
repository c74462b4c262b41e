"""Header inspection without key access: what a file is, who can decrypt it, how big it is, and whether
it is complete. Nothing here is authenticated (the header tag needs the data key), and the report says so.

Recognises AWS Encryption SDK messages (v1/v2, framed/non-framed), kmstui's own ciphertext blobs from
`encrypt` (kmstui/backends/local/blob.py), Base64-encoded messages, and otherwise says what it found.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from kmstui.visible import visible_data
from kmstui_envelope.body import FINAL_MARK
from kmstui_envelope.header import (DEFAULT_MAX_EDKS, NON_FRAMED, EncryptedDataKey, Header, looks_base64,
                                    read_header)
from kmstui_envelope.keyrings import BACKEND_PROVIDERS
from kmstui_envelope.suites import IV_LEN, TAG_LEN

UNVERIFIED = ("Header fields are NOT authenticated: anyone can edit them without a key. Run "
              "'inspect PATH --verify' (unwraps a data key, checks commitment and the header tag).")
UNRECOGNISED = "not a kmstui/ESDK message"
RAW_AES_INFO = b"\0\0\0\x80\0\0\0\x0c"


class _Walker:
    """Counts and skips bytes through a file without reading it all (seek when possible)."""

    def __init__(self, f: BinaryIO, size: int | None, start: int) -> None:
        self.f, self.size, self.pos = f, size, start

    def read(self, n: int) -> bytes:
        data = self.f.read(n) or b""
        while len(data) < n:
            more = self.f.read(n - len(data))
            if not more:
                break
            data += more
        self.pos += len(data)
        return data

    def skip(self, n: int) -> bool:
        if self.size is not None:
            if self.pos + n > self.size:
                self.pos = self.size
                return False
            self.f.seek(n, os.SEEK_CUR)
            self.pos += n
            return True
        left = n
        while left:
            chunk = self.f.read(min(left, 1 << 20))
            if not chunk:
                return False
            left -= len(chunk)
            self.pos += len(chunk)
        return True


def describe_edk(edk: EncryptedDataKey) -> dict[str, Any]:
    out: dict[str, Any] = {"ProviderId": edk.provider_id, "CiphertextBytes": len(edk.ciphertext)}
    info = edk.provider_info
    if edk.provider_id in BACKEND_PROVIDERS or edk.provider_id.startswith("aws-kms"):
        out["Kind"] = {"aws-kms": "AWS KMS key", "kmstui-local": "kmstui local HSM key",
                       "kmstui-pkcs11": "kmstui PKCS#11 key"}.get(edk.provider_id, "AWS KMS keyring")
        out["KeyArn"] = info.decode("utf-8", "replace")
    elif len(info) >= 20 and info[-20:-12] == RAW_AES_INFO:
        out["Kind"] = "raw AES key"
        out["KeyName"] = info[:-20].decode("utf-8", "replace")
    else:
        out["Kind"] = "raw RSA key" if len(edk.ciphertext) in (128, 256, 384, 512, 768, 1024) else "unknown"
        out["KeyName"] = info.decode("utf-8", "replace")
    return out


def _walk_body(header: Header, w: _Walker) -> dict[str, Any]:
    """Frame count, plaintext length, footer, completeness: structure only, no keys."""
    out: dict[str, Any] = {}
    if header.content_type == NON_FRAMED:
        head = w.read(IV_LEN + 8)
        if len(head) < IV_LEN + 8:
            return {"Body": "truncated (inside the non-framed body header)"}
        n = int.from_bytes(head[IV_LEN:], "big")
        out["PlaintextLength"] = n
        if not w.skip(n + TAG_LEN):
            out["Body"] = "truncated (non-framed body shorter than declared)"
            return out
    else:
        frames, plain = 0, 0
        while True:
            mark = w.read(4)
            if len(mark) < 4:
                out.update(FrameCount=frames, PlaintextLength=None,
                           Body=f"truncated after {frames} frames (no final frame)")
                return out
            if mark == FINAL_MARK:
                rest = w.read(4 + IV_LEN + 4)
                if len(rest) < 4 + IV_LEN + 4:
                    out.update(FrameCount=frames, Body="truncated inside the final frame")
                    return out
                n = int.from_bytes(rest[-4:], "big")
                frames += 1
                seq = int.from_bytes(rest[:4], "big")
                if seq != frames:  # decrypt refuses it (the sequence number is in the frame's AAD)
                    out.update(FrameCount=frames, Body=f"malformed: final frame has sequence number {seq}, "
                                                       f"expected {frames}")
                    return out
                if n > header.frame_length:
                    out.update(FrameCount=frames, Body="malformed final frame (longer than the frame length)")
                    return out
                if not w.skip(n + TAG_LEN):
                    out.update(FrameCount=frames, Body="truncated inside the final frame")
                    return out
                plain += n
                break
            frames += 1
            if int.from_bytes(mark, "big") != frames:
                out.update(FrameCount=frames, Body=f"malformed: frame {frames} has sequence number "
                                                   f"{int.from_bytes(mark, 'big')}")
                return out
            if not w.skip(IV_LEN + header.frame_length + TAG_LEN):
                out.update(FrameCount=frames, Body=f"truncated inside frame {frames}")
                return out
            plain += header.frame_length
        out.update(FrameCount=frames, PlaintextLength=plain)
    if header.suite.signed:
        raw = w.read(2)
        sig = w.read(int.from_bytes(raw, "big")) if len(raw) == 2 else b""
        if len(raw) < 2 or len(sig) != int.from_bytes(raw, "big"):
            out.update(SignatureFooter=False, Body="truncated (signature footer missing or cut)")
            return out
        out["SignatureFooter"] = True
    else:
        out["SignatureFooter"] = False
    extra = (w.size - w.pos) if w.size is not None else len(w.read(1 << 16))
    out["Body"] = "complete" if not extra else f"complete, but followed by {extra} unexpected bytes"
    return out


def _complete_fields(header: Header, walked: dict[str, Any]) -> dict[str, Any]:
    """Every body field present in every report (None = unknown because the body is cut or malformed), plus
    `Complete`, so scripts need not guess from which keys are missing."""
    complete = walked.get("Body") == "complete"
    out = {"FrameCount": None if header.content_type == NON_FRAMED else walked.get("FrameCount"),
           "PlaintextLength": walked.get("PlaintextLength") if complete else None,
           "SignatureFooter": bool(walked.get("SignatureFooter")), "Body": walked.get("Body"), "Complete": complete}
    if not complete and walked.get("PlaintextLength") is not None:
        out["DeclaredPlaintextLength"] = walked["PlaintextLength"]  # what the intact part claims
    return out


def inspect_esdk(f: BinaryIO, size: int | None, max_edks: int = DEFAULT_MAX_EDKS) -> dict[str, Any]:
    header = read_header(f.read, allow_legacy=True, max_edks=max_edks)
    s = header.suite
    data: dict[str, Any] = {
        "Format": "AWS Encryption SDK message",
        "FormatVersion": header.version,
        "AlgorithmSuite": {"Id": s.hex, "Name": s.name, "Committing": s.committing, "Signed": s.signed,
                           "Legacy": not s.committing},
        "MessageId": header.message_id.hex(),
        "EncryptionContext": dict(header.context),
        "EncryptedDataKeys": [describe_edk(e) for e in header.edks],
        "ContentType": "non-framed" if header.content_type == NON_FRAMED else "framed",
        "FrameLength": header.frame_length,
        "HeaderBytes": len(header.raw),
    }
    data.update(_complete_fields(header, _walk_body(header, _Walker(f, size, len(header.raw)))))
    data["TotalBytes"] = size
    data["Authenticated"] = False
    data["Note"] = UNVERIFIED
    return data


def inspect_blob(head: bytes, size: int | None) -> dict[str, Any]:
    try:
        from kmstui.backends.local import blob
    except ImportError:  # pragma: no cover - the local backend is part of kmstui
        return {"Format": "kmstui ciphertext blob (layout unknown to this version)"}
    if len(head) < blob.HEADER_LEN or head[3] != blob.VERSION:
        return {"Format": UNRECOGNISED, "Found": f"starts with 'KMT' but version/length do not fit a kmstui "
                                                      f"blob (byte 3 = {head[3] if len(head) > 3 else None})"}
    magic, version, kid, key_version, iv = blob.HEADER.unpack_from(head)
    import uuid

    return {"Format": "kmstui ciphertext blob (from 'kmstui encrypt')", "FormatVersion": version,
            "KeyId": str(uuid.UUID(bytes=kid)), "KeyMaterialVersion": key_version,
            "PlaintextLength": (size - blob.HEADER_LEN - blob.TAG_LEN) if size is not None else None,
            "TotalBytes": size, "Authenticated": False,
            "Note": "decrypt with 'kmstui decrypt --in PATH' on the backend that made it (local HSM or PKCS#11 "
                    "token); not an envelope message"}


def identify(head: bytes, size: int | None) -> str:
    """What an unrecognised file seems to be, for the error message."""
    from kmstui import sniff

    if not head:
        return "the file is empty"
    if head.startswith(b"age-encryption.org/"):
        return "an age-encrypted file (use age to decrypt it)"
    if head.startswith(b"-----BEGIN"):
        return "a PEM text block (" + head.split(b"\n", 1)[0].decode("ascii", "replace") + ")"
    known = sniff.common_type(head)
    if known:
        return known
    if head[:1] in (b"{", b"["):
        return "JSON or other text"
    shown = head[:8].hex(" ")
    kind = "text" if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:64]) else "binary data"
    return f"{kind} starting with bytes {shown}"


def inspect_file(f: BinaryIO, size: int | None, *, max_edks: int = DEFAULT_MAX_EDKS) -> dict[str, Any]:
    """Report what `f` holds (MessageError when an ESDK header cannot be parsed, or lists more than
    `max_edks` data keys, as decrypt would refuse it). `size` None: a stream, read to its end."""
    head = f.peek(64)[:64]  # f is a BufferedReader: a file, or standard input
    if head[:3] == b"KMT":
        return inspect_blob(head, size)
    if head[:1] in (b"\x01", b"\x02"):
        return inspect_esdk(f, size, max_edks)
    if looks_base64(head):
        return {"Format": UNRECOGNISED, "Found": "Base64 text that decodes to an AWS Encryption SDK "
                                                   "message; decode it first (base64 -d FILE > FILE.bin)"}
    return {"Format": UNRECOGNISED, "Found": identify(head, size)}


# -- the text report ------------------------------------------------------------------------------------
def inspect_problem(d: dict) -> str:
    """The one-line message of an inspect that found something wrong (the full report is the text)."""
    if d.get("Format") == UNRECOGNISED or "Error" in d:
        return render_inspect(d).splitlines()[0]
    return f"{d['Path']}: {d.get('Format')} is not complete: {d.get('Body')}"


def render_inspect(d: dict) -> str:
    """The text report. Every field comes from an unauthenticated header: each goes through visible() so
    a context value or provider id cannot add a line or drive the terminal."""
    d = visible_data(d)
    lines = [f"{d['Path']}: {d.get('Format')}"]
    if d.get("Format") == UNRECOGNISED:
        lines[0] = f"{d['Path']}: {UNRECOGNISED}: {d.get('Found')}"
        return "\n".join(lines)
    if "Error" in d:
        lines.append(f"  error: {d['Error']}")
        return "\n".join(lines)
    s = d.get("AlgorithmSuite")
    if s:
        flags = ", ".join(x for x in ("committing" if s["Committing"] else "NOT committing (legacy)",
                                      "signed" if s["Signed"] else "unsigned"))
        lines.append(f"  version {d['FormatVersion']}, suite {s['Id']} {s['Name']} ({flags})")
        lines.append(f"  message id        {d['MessageId']}")
        ctx = d["EncryptionContext"]
        lines.append("  encryption context " + (", ".join(f"{k}={v}" for k, v in ctx.items()) if ctx else "(empty)"))
        for i, e in enumerate(d["EncryptedDataKeys"], 1):
            who = e.get("KeyArn") or e.get("KeyName")
            lines.append(f"  data key {i}: {e['Kind']} {who} (provider {e['ProviderId']})")
        frames = d.get("FrameCount")
        plain = d.get("PlaintextLength")
        footer = ("present" if d.get("SignatureFooter") else "MISSING") if s["Signed"] else "none (unsigned suite)"
        lines.append(f"  body: {d['ContentType']}, frame length {d['FrameLength']}, "
                     f"frames {'-' if frames is None else frames}, "
                     f"plaintext {'unknown (body incomplete)' if plain is None else f'{plain} bytes'}, "
                     f"signature footer {footer}")
        lines.append(f"  status: {d.get('Body')}" + ("" if d.get("Complete") else " (NOT a complete message)"))
    else:
        for k in ("KeyId", "KeyMaterialVersion", "PlaintextLength"):
            if k in d:
                lines.append(f"  {k}: {d[k]}")
    if d.get("Note"):
        lines.append(f"  NOTE: {d['Note']}")
    return "\n".join(lines)
