"""The local HSM's audit log: one CloudTrail-shaped JSON line per backend call, hash-chained.

Each line is the event's JSON with ``seq`` and ``prevHash`` inside it, followed by two fields appended
after serialisation::

    {...event..., "seq": 7, "prevHash": "<hex>", "hash": "<sha256 of the event JSON>", "mac": "<hex>"}

``hash`` is SHA-256 over the exact bytes of the event JSON (the line minus the trailing ``hash``/``mac``
fields, closed with ``}``), so verification never re-serialises; ``mac`` is HMAC-SHA256 (truncated to 128
bits) of that hash under a key derived from the HSM's root key, so nobody without the root key can forge a
line. The newest (seq, hash) is also kept in the sealed store (the "anchor"), updated right after every
change to the store and at most a second behind for other calls, so deleting or truncating lines is detected.

Writing is one ``flock``-ed ``O_APPEND`` write per line: several processes can share a log, and the chain
stays linear because each writer reads the tail again whenever the file grew under someone else.
Events never carry plaintext, data keys, passphrases, grant tokens or other secrets: request parameters are
copied through an allow-list.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hmac
import json
import os
import time
import weakref
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable, Iterator

GENESIS = "0" * 64
_SUFFIX_LEN = len(',"hash":""') + 64 + len(',"mac":""') + 32 + 1  # '...,"hash":"<64>","mac":"<32>"}'
_SUFFIX_HEAD = ',"hash":"'

# Request parameters that may appear in an audit line (KMS name -> CloudTrail's camelCase name).
_ALLOWED = ("KeyId", "EncryptionContext", "EncryptionAlgorithm", "KeySpec", "NumberOfBytes", "KeyUsage",
            "Description", "Origin", "AliasName", "TargetKeyId", "TagKeys", "PendingWindowInDays",
            "RotationPeriodInDays", "PolicyName", "Policy", "GranteePrincipal", "RetiringPrincipal", "Operations",
            "Constraints", "GrantId", "Name", "SigningAlgorithm", "MessageType", "MacAlgorithm", "SourceKeyId",
            "DestinationKeyId", "SourceEncryptionContext", "DestinationEncryptionContext", "WrappingAlgorithm",
            "WrappingKeySpec", "ExpirationModel", "ValidTo", "Limit", "CustomerMasterKeySpec", "MultiRegion",
            "BypassPolicyLockoutSafetyCheck", "Principal", "PolicyDocument", "IncludeKeyMaterial",
            "DestinationEncryptionAlgorithm", "SourceEncryptionAlgorithm", "RetiringPrincipal")
CAMEL = {name: name[0].lower() + name[1:] for name in _ALLOWED}
CAMEL["KeyId"] = "keyId"


def request_parameters(params: dict[str, Any]) -> dict[str, Any] | None:
    """The CloudTrail requestParameters for a call: allow-listed fields only, tag values dropped."""
    out = {}
    for name, value in params.items():
        camel = CAMEL.get(name)
        if camel is not None and value is not None:
            out[camel] = value if not isinstance(value, bytes) else None
        elif name == "Tags" and value:
            out["tags"] = [{"tagKey": t.get("TagKey")} for t in value if isinstance(t, dict)]
    return out or None


@dataclass
class Anchor:
    seq: int
    hash: str


class AuditLog:
    """Appends chained lines to one log file. `anchor(seq, hash)` persists the head in the sealed store."""

    def __init__(self, path: Path, key: bytes, *, anchor: Callable[[int, str], None] | None = None,
                 clock: Callable[[], float] = time.time, source: str = "kmstui") -> None:
        self.path = path
        self.key = key
        self.anchor = anchor
        self.clock = clock
        self.source = source
        self._fd: int | None = None
        self._size = -1
        self._seq = 0
        self._hash = GENESIS
        self._anchored_seq = 0
        self._last_anchor = time.monotonic()
        self._tsec = -1
        self._tstr = ""
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
        ref = weakref.ref(self)
        atexit.register(lambda: (lambda log: log is not None and log.close())(ref()))  # anchor the tail at exit

    # -- writing ---------------------------------------------------------------------------------
    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def _event_time(self) -> str:
        t = int(self.clock())
        if t != self._tsec:
            self._tsec = t
            self._tstr = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        return self._tstr

    def append(self, event: dict[str, Any]) -> int:
        """Write one event (eventTime, eventID, requestID filled in); returns its sequence number."""
        if "eventTime" not in event:
            event["eventTime"] = self._event_time()
        rnd = os.urandom(32).hex()
        event["eventID"] = _uuid4(rnd[:32])
        if "requestID" not in event:
            event["requestID"] = _uuid4(rnd[32:])
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            prefix = b""
            if size != self._size:
                self._seq, self._hash, torn = read_tail(self.path, size)
                prefix = b"\n" if torn else b""
            event["seq"] = self._seq + 1
            event["prevHash"] = self._hash
            body = self._dumps(event).encode()
            digest = sha256(body).hexdigest()
            mac = hmac.new(self.key, digest.encode(), sha256).hexdigest()[:32]
            line = prefix + body[:-1] + b',"hash":"' + digest.encode() + b'","mac":"' + mac.encode() + b'"}\n'
            os.write(fd, line)
            self._size = size + len(line)
            self._seq += 1
            self._hash = digest
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        # A change to the store anchors its line at once; read-only and failed calls (which changed nothing) at
        # most once a second, and at exit.
        changed = event.get("readOnly") is False and "errorCode" not in event
        if self.anchor is not None and (changed or time.monotonic() - self._last_anchor > 1.0):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the call itself succeeded; the next flush anchors this line
                self._last_anchor = time.monotonic()
        return self._seq

    def flush(self) -> None:
        """Persist the newest head this process wrote into the sealed store."""
        if self.anchor is not None and self._seq > self._anchored_seq:
            self.anchor(self._seq, self._hash)
            self._anchored_seq = self._seq
        self._last_anchor = time.monotonic()

    def head(self) -> Anchor:
        return Anchor(self._seq, self._hash)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _uuid4(h: str) -> str:
    """A random (version 4) UUID string from 32 random hex digits; cheaper than uuid.uuid4() per line."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def read_tail(path: Path, size: int) -> tuple[int, str, bool]:
    """(seq, hash) of the last complete line, and whether a torn partial line follows it."""
    if size <= 0:
        return 0, GENESIS, False
    chunk = 8192
    with open(path, "rb") as fh:
        while True:
            start = max(0, size - chunk)
            fh.seek(start)
            data = fh.read(size - start)
            torn = not data.endswith(b"\n")
            text = data if not torn else data[: data.rfind(b"\n") + 1]
            lines = text.rstrip(b"\n").split(b"\n")
            if (len(lines) >= 2 or start == 0) and text:
                last = lines[-1]
                try:
                    body = last[:-_SUFFIX_LEN] + b"}"
                    ev = json.loads(body)
                    return int(ev["seq"]), last[-_SUFFIX_LEN + len(_SUFFIX_HEAD):][:64].decode(), torn
                except (ValueError, KeyError, TypeError):
                    return 0, GENESIS, torn  # a broken tail: verify will say where
            if start == 0:
                return 0, GENESIS, torn
            chunk *= 4


# -- reading and verifying ---------------------------------------------------------------------------
def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            yield n, line


def split_line(line: bytes) -> tuple[bytes, str, str] | None:
    """(event JSON bytes, hash, mac) or None for a malformed line."""
    line = line.rstrip(b"\n")
    tail = line[-_SUFFIX_LEN:]
    if len(line) <= _SUFFIX_LEN or not tail.startswith(_SUFFIX_HEAD.encode()):
        return None
    body = line[:-_SUFFIX_LEN] + b"}"
    try:
        digest = tail[len(_SUFFIX_HEAD):len(_SUFFIX_HEAD) + 64].decode()
        mac = tail[-34:-2].decode()
    except UnicodeDecodeError:
        return None
    return body, digest, mac


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    for _n, line in iter_lines(path):
        with contextlib.suppress(ValueError):
            yield json.loads(line)


def verify(path: Path, key: bytes, anchor: Anchor | None) -> dict[str, Any]:
    """Check every line's hash, MAC, sequence and link, and that the sealed head is in the log."""
    prev, seq, count = GENESIS, 0, 0
    anchor_seen = anchor is None or anchor.seq == 0

    def broken(n: int, why: str) -> dict[str, Any]:
        return {"Valid": False, "Lines": count, "BrokenAtLine": n, "Problem": why,
                "SealedHeadSeq": anchor.seq if anchor else None}

    for n, line in iter_lines(path):
        if not line.endswith(b"\n"):
            return broken(n, "the last line is incomplete (torn write)")
        parts = split_line(line)
        if parts is None:
            return broken(n, "the line is not an audit record (edited or inserted)")
        body, digest, mac = parts
        if sha256(body).hexdigest() != digest:
            return broken(n, "the line's content does not match its hash (edited)")
        if not hmac.compare_digest(hmac.new(key, digest.encode(), sha256).hexdigest()[:32], mac):
            return broken(n, "the line's MAC is wrong (forged or from another HSM file)")
        try:
            event = json.loads(body)
            line_seq, line_prev = int(event["seq"]), event["prevHash"]
        except (ValueError, KeyError, TypeError):
            return broken(n, "the line has no sequence number or previous hash")
        if line_prev != prev or line_seq != seq + 1:
            return broken(n, f"the chain breaks here: expected event {seq + 1} after the previous line, found "
                             f"event {line_seq} (lines deleted, reordered or inserted)")
        prev, seq, count = digest, line_seq, count + 1
        if anchor is not None and line_seq == anchor.seq:
            if digest != anchor.hash:
                return broken(n, f"event {line_seq} differs from the head sealed in the HSM file (log rewritten)")
            anchor_seen = True
    if not anchor_seen:
        return broken(count + 1, f"the log ends at event {seq} but the HSM file's sealed head is event "
                                 f"{anchor.seq} (lines deleted or the log truncated)")
    return {"Valid": True, "Lines": count, "LastSeq": seq, "SealedHeadSeq": anchor.seq if anchor else None}
