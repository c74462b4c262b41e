"""The local HSM's audit log: one CloudTrail-shaped JSON line per backend call, hash-chained.

Each line is the event's JSON with ``seq`` and ``prevHash`` inside it, followed by two fields appended
after serialisation::

    {...event..., "seq": 7, "prevHash": "<hex>", "hash": "<sha256 of the event JSON>", "mac": "<hex>"}

``hash`` is SHA-256 over the exact bytes of the event JSON (the line minus the trailing ``hash``/``mac``
fields, closed with ``}``), so verification never re-serialises; ``mac`` is HMAC-SHA256 (truncated to 128
bits) of that hash under a key derived from the HSM's root key, so nobody without the root key can forge a
line. The newest (seq, hash) is also kept in the sealed store (the "head"), so deleting or truncating
lines is detected.

Writing is one ``flock``-ed ``O_APPEND`` write per line: several processes can share a log. Before a process
chains a line onto the log's tail it proves that tail is genuine and not behind the sealed head (`_sync`):
the first time, and again whenever the file is not the size this process left it. A process that is busy
(a line follows another within LEASE_BUSY) keeps the lock between calls (the writer lease, `_acquire`): the tail is proven in full when the lease is
taken (the path checked to name the open file), and each call under it checks with one fstat only that
the file is still the size this process left it and still linked (not deleted or replaced); the lease ends after LEASE_IDLE s without a line, LEASE_MAX s after it began, before any
store transaction of this process, and at close, so another process waits at most about LEASE_MAX. A torn last line (a write
cut short by a crash or a full disk, no newline) is cut off and the cut recorded in the chain; complete
lines missing (the tail behind the sealed head, or the head row gone) are evidence loss, refused with
AuditGapError until `audit acknowledge-gap` records the gap. Events never carry plaintext, data keys,
passphrases, grant tokens or other secrets: request parameters are copied through an allow-list.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hmac
import json
import os
import re
import stat
import threading
import time
import weakref
from hashlib import sha256
from pathlib import Path
from json.encoder import c_make_encoder as _c_make_encoder, encode_basestring as _encode_basestring
from typing import Any, Callable, Iterator, NamedTuple

from kmstui.errors import ConfigError, KMSInternalException

GENESIS = "0" * 64
_SUFFIX_LEN = len(',"hash":""') + 64 + len(',"mac":""') + 32 + 1  # '...,"hash":"<64>","mac":"<32>"}'
_SUFFIX_HEAD = ',"hash":"'
_HASH_BACK = 64 + len('","mac":""}\n') + 32  # the last line's hash starts this many bytes before the end

# Request parameters that may appear in an audit line (KMS name -> CloudTrail's camelCase name).
_ALLOWED = ("KeyId", "EncryptionContext", "EncryptionAlgorithm", "KeySpec", "NumberOfBytes", "KeyUsage",
            "Description", "Origin", "AliasName", "TargetKeyId", "TagKeys", "PendingWindowInDays",
            "RotationPeriodInDays", "PolicyName", "Policy", "GranteePrincipal", "RetiringPrincipal", "Operations",
            "Constraints", "GrantId", "Name", "SigningAlgorithm", "MessageType", "MacAlgorithm", "SourceKeyId",
            "DestinationKeyId", "SourceEncryptionContext", "DestinationEncryptionContext", "WrappingAlgorithm",
            "WrappingKeySpec", "ExpirationModel", "ValidTo", "Limit", "CustomerMasterKeySpec", "MultiRegion",
            "BypassPolicyLockoutSafetyCheck", "Principal", "PolicyDocument", "IncludeKeyMaterial",
            "DestinationEncryptionAlgorithm", "SourceEncryptionAlgorithm", "RetiringPrincipal", "UserName",
            "AccessKeyId", "ViaService", "RoleName", "RoleArn", "RoleSessionName", "DurationSeconds",
            "MaxSessionDuration", "ExternalId", "SourceIdentity")
CAMEL = {name: name[0].lower() + name[1:] for name in _ALLOWED}
CAMEL["KeyId"] = "keyId"

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
# The same encoder without its cycle check (its set-up is a measurable share of a call's cost); a cyclic
# value recurses until RecursionError, and is then encoded by _ENCODER, which refuses it as json does.
_FAST = (_c_make_encoder(None, str, _encode_basestring, None, ":", ",", False, False, True)
         if _c_make_encoder is not None else None)


def dumps(obj: Any) -> str:
    """How every line's event is serialised (compact, UTF-8 kept as it is; `Encoded` heads use it too):
    what `_ENCODER.encode(obj)` gives, through json's C encoder called directly."""
    if _FAST is not None:
        try:
            return "".join(_FAST(obj, 0))
        except RecursionError:
            pass
    return _ENCODER.encode(obj)


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


_PARAMETER_TEXTS: dict[tuple, str] = {}  # request_parameters_json's memo: parameters -> their JSON text
_MAX_PARAMETER_TEXTS = 1024
_MAX_REMEMBERED_TEXT = 512  # characters: so the memo holds at most about a megabyte


def request_parameters_json(params: dict[str, Any]) -> str:
    """`dumps(request_parameters(params))`, remembered for parameters made only of text (and maps of text
    to text, such as an encryption context): a hot loop of Encrypt or Decrypt calls with the same key and
    context serialises them once. The memo's key is every allow-listed parameter's name with its exact
    value, in the call's order (which is the JSON's order); a value of any other type (bytes, numbers,
    lists, a str subclass) is not remembered and is serialised as before."""
    key = []
    for name, value in params.items():
        if name not in CAMEL or value is None:
            if name == "Tags":
                key = None
                break
            continue
        kind = type(value)
        if kind is str:
            key.append((name, value))
        elif kind is dict:
            items = tuple(value.items())
            for k, v in items:
                if type(k) is not str or type(v) is not str:
                    break
            else:
                key.append((name, items))
                continue
            key = None
            break
        else:
            key = None
            break
    if key is None:
        return dumps(request_parameters(params))
    key = tuple(key)
    text = _PARAMETER_TEXTS.get(key)
    if text is None:
        text = dumps(request_parameters(params))
        if len(text) <= _MAX_REMEMBERED_TEXT:
            if len(_PARAMETER_TEXTS) >= _MAX_PARAMETER_TEXTS:
                _PARAMETER_TEXTS.clear()
            _PARAMETER_TEXTS[key] = text
    return text


class Encoded:
    """An event already serialised, for the hot path: `head` is the event's JSON text without its closing
    brace, exactly what `dumps(event)` gives before eventTime, eventID, requestID, seq and prevHash are
    added; `_write` appends those as it does to a dict. `has_request_id`: the head already holds a
    requestID. `changed`: the call changed the store (its line is anchored at once)."""

    __slots__ = ("head", "has_request_id", "changed")

    def __init__(self, head: str, has_request_id: bool = False, changed: bool = False) -> None:
        self.head, self.has_request_id, self.changed = head, has_request_id, changed


class _Mac:
    """HMAC-SHA256 of a line's hash under the log key, with the key's inner and outer blocks hashed once:
    per line this costs two hash copies instead of the key schedule (the same value as hmac.new)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = (sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = sha256(bytes(b ^ 0x36 for b in block))
        self._outer = sha256(bytes(b ^ 0x5C for b in block))

    def hex32(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:32]


# A NamedTuple rather than a dataclass: it is defined at every command's start-up, for a fifth of the cost.
class Anchor(NamedTuple):
    seq: int
    hash: str


class AuditGapError(ConfigError):
    """Complete audit lines are missing: the log's tail is behind the head sealed in the HSM file, that head is
    gone, or the last line is not one kmstui wrote. Evidence loss: every backend call is refused (exit 253)
    until `audit acknowledge-gap` records the gap in the chain."""


SERVICE_SOURCE = "hsm.kmstui.local"
LEASE_IDLE = 0.02  # s without a line before a process gives the log's lock back (the writer lease)
LEASE_MAX = 0.1  # s a lease lasts at most, so a busy process lets others in ...
LEASE_PAUSE = 0.005  # ... and then locks per line for this long before it takes a new lease
LEASE_BUSY = 1.0  # s: a lease begins only at a line that follows another line of this process this closely
MAX_TAIL_SCAN = 4 << 20  # a last line longer than this is not an audit record (lines are at most ~100 KB)
_TAIL_FIELDS = re.compile(rb',"seq":(\d+),"prevHash":"[0-9a-f]{64}","hash":"([0-9a-f]{64})","mac":"[0-9a-f]{32}"}$')


class Tail(NamedTuple):  # a NamedTuple as Anchor is
    """The end of the log: its last complete line, and any torn bytes after it (a write cut short)."""

    seq: int  # sequence number of the last complete line (0: there is none)
    hash: str  # its hash (GENESIS: there is none)
    end: int  # file offset just after the last complete line
    fragment: bytes  # bytes after that line without a newline, b"" when the log ends cleanly
    genuine: bool  # the last complete line's hash and MAC check out (True when there is none)
    lines: list[bytes]  # complete lines read near the end (the first may be cut), to find the sealed head

    def hash_of(self, seq: int) -> str | None:
        """The hash of event `seq` if it is among the lines read (parsed from each line's fixed suffix)."""
        if seq == self.seq:
            return self.hash
        for line in reversed(self.lines):
            m = _TAIL_FIELDS.search(line)
            if m and int(m.group(1)) == seq:
                return m.group(2).decode()
        return None


def read_tail(fd: int, size: int, key: bytes) -> Tail:
    """Read the end of the log through `fd` (bounded: MAX_TAIL_SCAN) and check its last complete line."""
    if size <= 0:
        return Tail(0, GENESIS, 0, b"", True, [])
    chunk = 16384
    while True:
        start = max(0, size - chunk)
        data = os.pread(fd, size - start, start)
        nl = data.rfind(b"\n")
        prev = data.rfind(b"\n", 0, nl) if nl > 0 else -1
        if start > 0 and prev < 0:  # the last complete line (or the fragment) does not fit in what was read
            if chunk < MAX_TAIL_SCAN:
                chunk *= 4
                continue
            return Tail(0, GENESIS, size, b"", False, [])
        break
    if nl < 0:  # no complete line at all: the whole (small) file is one torn write
        return Tail(0, GENESIS, 0, data, True, [])
    fragment = data[nl + 1:]
    lines = data[:nl].split(b"\n")
    last = lines[-1]
    parts = split_line(last)
    m = _TAIL_FIELDS.search(last)
    genuine = bool(parts and m and sha256(parts[0]).hexdigest() == parts[1]
                   and hmac.compare_digest(hmac.new(key, parts[1].encode(), sha256).hexdigest()[:32], parts[2]))
    if not genuine:
        return Tail(0, GENESIS, start + nl + 1, fragment, False, [])
    return Tail(int(m.group(1)), parts[1], start + nl + 1, fragment, True, lines[1:] if start > 0 else lines)


class AuditLog:
    """Appends chained lines to one log file.

    `head()` reads the head sealed in the HSM file (None when its row is missing) and `anchor(seq, hash)`
    moves it forward; both are optional (a log without a sealed head is only chained). Standalone
    `append` anchors a change at once and other events at most once a second; inside a store transaction
    the owner uses `append_held` (the log stays locked), seals the head itself before COMMIT and calls
    `release(committed)`, which cuts its lines off again if the transaction rolled back."""

    def __init__(self, path: Path, key: bytes, *, anchor: Callable[[int, str], None] | None = None,
                 head: Callable[[], Anchor | None] | None = None, version: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.time,
                 source: str = "kmstui", context: dict[str, Any] | None = None) -> None:
        self.path = path
        self.key = key
        self.anchor = anchor
        self.sealed_head = head
        self.head_version = version  # changes whenever another process may have moved the sealed head
        self._version: Any = None
        self.clock = clock
        self.source = source
        self.context = dict(context or {})  # awsRegion, recipientAccountId for kmstui's own records
        self.gap: AuditGapError | None = None
        self._fd: int | None = None
        self._ident: tuple[int, int] = (0, 0)
        self._size = -1  # the size this process last left the file at (-1: tail not checked yet)
        self._seq = 0
        self._hash = GENESIS
        self._anchored_seq = 0
        self._held = 0
        self._held_state: tuple[int, int, str] = (-1, 0, GENESIS)
        self._last_anchor = time.monotonic()
        self._tsec = -1
        self._tstr = ""
        self._mac = _Mac(key)
        # The writer lease: this process keeps the log locked between lines while it is busy (see `_acquire`).
        self.lease_idle = LEASE_IDLE  # 0: no lease, lock and prove the tail per line
        self._mutex = threading.RLock()  # the lease's state, shared with the thread that ends an idle lease
        self._leased = False
        self._lease_start = 0.0
        self._last_use = 0.0
        self._last_held = 0.0  # when this process last wrote a line inside a store transaction
        self._no_lease_until = 0.0
        self._releaser = False  # the idle-release thread is running
        self._ids: list[str] = []  # random UUIDs for eventIDs and requestIDs, made in batches; pop() takes one
        ref = weakref.ref(self)
        atexit.register(lambda: (lambda log: log is not None and log.close())(ref()))  # anchor the tail at exit

    # -- opening ---------------------------------------------------------------------------------
    def _open(self) -> int:
        """The log's descriptor (read-write, append, never through a symlink): one clear line when it cannot be."""
        if self._fd is not None:
            return self._fd
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, flags, 0o600)
        except IsADirectoryError:
            raise ConfigError(f"the audit log {self.path} is a folder, not a file; move it away (kmstui creates "
                              "the log itself): every backend call is audited, so none can run") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError(f"the audit log {self.path} is a symbolic link; kmstui writes its audit log only "
                                  "to a regular file (remove the link)") from None
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise self._write_error(exc) from None
            raise ConfigError(f"cannot open the audit log {self.path} for writing ({exc.strerror}): every backend "
                              "call is audited, so none can run; fix the permissions or the file system") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise ConfigError(f"the audit log {self.path} is not a regular file; move it away (kmstui creates "
                              "the log itself)")
        os.set_blocking(fd, True)
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        self._size = -1  # a file not seen before: prove its tail before writing
        return fd

    def _lock(self) -> int:
        """Lock the log and return its descriptor, reopening it first if the path now names another file
        (the log was moved aside or replaced: lines must go where the path points)."""
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._ident:
                return fd
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        self._fd = None
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _write_error(self, exc: OSError) -> KMSInternalException:
        return KMSInternalException(f"could not write the audit log {self.path} ({exc.strerror or exc}); the "
                                    "call was not carried out and nothing was changed")

    # -- the tail check --------------------------------------------------------------------------
    def _gap_in(self, tail: Tail) -> str | None:
        """Why the log cannot be appended to, or None. Checked: the last complete line is genuine (hash,
        MAC); the sealed head exists; the log reaches it (tail seq >= head seq); and where the head's line
        is among those read, it is the line that was sealed."""
        if not tail.genuine:
            return "its last line is not a record kmstui wrote (edited, forged or from another HSM file)"
        if self.sealed_head is None:
            return None
        head = self.sealed_head()
        if head is None:
            return "the HSM file's sealed audit head is missing (its row was deleted)"
        if tail.seq < head.seq:
            return (f"the log ends at event {tail.seq} but the HSM file sealed event {head.seq}: "
                    f"{head.seq - tail.seq} complete line(s) missing (the log was truncated or lines deleted)")
        known = tail.hash_of(head.seq) if head.seq else GENESIS
        if known is not None and known != head.hash:
            return f"event {head.seq} in the log is not the one the HSM file sealed (the log was rewritten)"
        return None

    def _sync(self, fd: int, size: int) -> None:
        """Prove the tail before chaining onto it (call with the lock held); recover a torn last line."""
        if self.head_version is not None:
            self._version = self.head_version()  # read before the head: a later move shows as a new version
        tail = read_tail(fd, size, self.key)
        problem = self._gap_in(tail)
        if problem is not None:
            self._size = -1
            self.gap = AuditGapError(
                f"the audit log {self.path} is missing events: {problem}. Every backend call is refused until "
                "this is resolved: put the complete log back, or record the gap with 'kmstui audit "
                "acknowledge-gap' ('kmstui audit verify' shows where the chain ends)")
            raise self.gap
        self.gap = None
        self._seq, self._hash, self._size = tail.seq, tail.hash, size
        if tail.fragment:
            self._recover_torn(fd, tail)

    def _recover_torn(self, fd: int, tail: Tail) -> None:
        """Cut off a torn last line (a write cut short; never a sealed one: the head check came first) and
        record what was cut, so the chain says so."""
        try:
            os.ftruncate(fd, tail.end)
        except OSError as exc:
            raise self._write_error(exc) from None
        self._size = tail.end
        self._write(fd, self.service_event("RecoverAuditLogTail", {
            "removedBytes": len(tail.fragment), "removedSha256": sha256(tail.fragment).hexdigest(),
            "afterSeq": tail.seq}))

    def _prepare(self, fd: int) -> None:
        """Before chaining (lock held): if the file is the size this process left it, still ends with the
        line this process last wrote or checked (its hash read back: one pread), and no other process has
        committed to the HSM file since (`head_version`: so the sealed head cannot have moved), then
        nothing was written or cut; otherwise prove the tail against the sealed head again (`_sync`)."""
        size = os.fstat(fd).st_size
        if self.gap is None and size == self._size and (
                size == 0 or (size >= _HASH_BACK
                              and os.pread(fd, _HASH_BACK, size - _HASH_BACK)[:64] == self._hash.encode())) and (
                self.head_version is None or self.head_version() == self._version):
            return
        self._sync(fd, size)

    def check(self) -> None:
        """Refuse (AuditGapError) before a call runs when the log has lost lines. Costs nothing once this
        process has checked the tail; later appends check again whenever the file changed under it."""
        if self._held or (self.gap is None and self._size >= 0):
            return
        self.end_lease()
        fd = self._lock()
        try:
            self._prepare(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    # -- the writer lease ------------------------------------------------------------------------
    def _acquire(self) -> int:
        """Lock the log with its tail proven and return its descriptor (call with the mutex held).

        Under a lease the lock is already held, and the tail was proven when the lease began; since then
        only this process could write (the lock is exclusive), and the sealed head can only have moved to
        lines at or before this process's tail (another process anchors only lines it wrote, under the
        lock). What is left to check is that nothing outside kmstui changed the file, with one fstat: it
        must still be the size this process left it (a truncation, an append or a torn write shows) and
        still be linked (a log deleted, or replaced by renaming another file over it, has no link left).
        That the path still names this file is checked when the lease begins (`_lock`): a log renamed
        aside during a lease keeps receiving this process's lines (a complete chain, on disk) until the
        lease ends, at most LEASE_MAX later, and the next call then finds the path's log behind the sealed
        head. Anything else ends the lease and proves the tail again, exactly as without one."""
        if self._leased:
            fd = self._fd
            if self.gap is None and fd is not None:
                st = os.fstat(fd)
                if st.st_size == self._size and st.st_nlink:
                    return fd
            self.end_lease()
        fd = self._lock()
        try:
            self._prepare(fd)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise
        return fd

    def _keep(self, fd: int) -> None:
        """After a line: keep the lock as a lease (or let it go when leases are off, the lease is old, in
        the pause after one, or when this process wrote no other line in the LEASE_BUSY before this one:
        a lease pays off only for calls in quick succession, and a one-shot command's single call then
        starts no lease and no release thread, about 0.1-0.2 ms of its start-up)."""
        now = time.monotonic()
        previous = max(self._last_use, self._last_held)
        self._last_use = now
        if self._leased:
            if now - self._lease_start <= LEASE_MAX:
                return
            self.end_lease()
            self._no_lease_until = now + LEASE_PAUSE  # let processes waiting for the lock in
            return
        if self.lease_idle <= 0 or now < self._no_lease_until or now - previous > LEASE_BUSY:
            fcntl.flock(fd, fcntl.LOCK_UN)  # no lease for a call with no other line just before it (below)
            return
        self._leased, self._lease_start = True, now
        if not self._releaser:
            self._releaser = True
            threading.Thread(target=self._release_when_idle, name="kmstui-audit-lease", daemon=True).start()

    def end_lease(self) -> None:
        """Give the log's lock back if this process holds it as a lease (not while a transaction holds it)."""
        with self._mutex:
            if self._leased and not self._held:
                self._leased = False
                if self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _release_when_idle(self) -> None:
        """The lease's timer: end it once no line was written for `lease_idle` s, then stop."""
        while True:
            with self._mutex:
                wait = self._last_use + self.lease_idle - time.monotonic()
                if not self._leased or (wait <= 0 and not self._held):
                    self.end_lease()
                    self._releaser = False
                    return
            time.sleep(max(wait, 0.002))

    # -- writing ---------------------------------------------------------------------------------
    def _event_time(self) -> str:
        t = int(self.clock())
        if t != self._tsec:
            self._tsec = t
            self._tstr = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        return self._tstr

    def service_event(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """A record kmstui writes about the log itself (a torn tail cut off, a gap acknowledged)."""
        return {"eventVersion": "1.08", "userIdentity": {"type": "LocalUser", "invokedBy": "kmstui"},
                "eventSource": SERVICE_SOURCE, "eventName": name, "awsRegion": self.context.get("awsRegion"),
                "sourceIPAddress": "local", "userAgent": "kmstui", "requestParameters": None,
                "additionalEventData": data, "resources": [], "readOnly": False, "eventType": "KmstuiAuditEvent",
                "recipientAccountId": self.context.get("recipientAccountId")}

    def _write(self, fd: int, event: dict[str, Any] | Encoded) -> None:
        """Chain and write one line (lock held, tail proven); a short write is cut off again."""
        ids = self._ids
        if len(ids) < 2:
            ids += _uuid4_batch(128)
        if type(event) is Encoded:  # the same bytes `dumps` gives for the dict below
            body = "".join((event.head, ',"eventTime":"', self._event_time(), '","eventID":"', ids.pop(),
                            '"' if event.has_request_id else f'","requestID":"{ids.pop()}"',
                            ',"seq":', str(self._seq + 1), ',"prevHash":"', self._hash, '"}')).encode()
        else:
            if "eventTime" not in event:
                event["eventTime"] = self._event_time()
            event["eventID"] = ids.pop()
            if "requestID" not in event:
                event["requestID"] = ids.pop()
            event["seq"] = self._seq + 1
            event["prevHash"] = self._hash
            body = dumps(event).encode()
        digest = sha256(body).hexdigest()
        hexhash = digest.encode()
        line = b"".join((body[:-1], b',"hash":"', hexhash, b'","mac":"', self._mac.hex32(hexhash).encode(),
                         b'"}\n'))
        start = self._size
        try:
            written = os.write(fd, line)
        except OSError as exc:
            written, error = 0, exc
        else:
            error = None if written == len(line) else OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if error is not None:
            if written:
                try:
                    os.ftruncate(fd, start)  # never leave a torn line of our own
                except OSError:
                    self._size = -1  # the next append finds the torn line and recovers it
            raise self._write_error(error)
        self._size = start + written
        self._seq += 1
        self._hash = digest

    def append(self, event: dict[str, Any] | Encoded) -> int:
        """Write one event (eventTime, eventID, requestID filled in); returns its sequence number."""
        with self._mutex:
            if self._held:
                return self.append_held(event)
            fd = self._acquire()
            try:
                self._write(fd, event)
            except BaseException:
                self._leased = False
                fcntl.flock(fd, fcntl.LOCK_UN)
                raise
            now = time.monotonic()
            if self._leased and now - self._lease_start <= LEASE_MAX:  # (the common case of `_keep`)
                self._last_use = now
            else:
                self._keep(fd)
            # A change to the store anchors its line at once; read-only and failed calls (which changed
            # nothing) at most once a second, and at exit.
            changed = (event.changed if type(event) is Encoded
                       else event.get("readOnly") is False and "errorCode" not in event)
            if self.anchor is not None and (changed or self._last_use - self._last_anchor > 1.0):
                try:
                    self.flush()
                except Exception:  # noqa: BLE001 - the call itself succeeded; the next flush anchors this line
                    self._last_anchor = time.monotonic()
            return self._seq

    def append_held(self, event: dict[str, Any] | Encoded) -> int:
        """Write one event and keep the log locked until `release` (a store transaction is open: its head
        is sealed before COMMIT, and a rollback cuts these lines off again)."""
        with self._mutex:
            if not self._held:
                self._acquire()
                self._held_state = (self._size, self._seq, self._hash)
                self._last_held = time.monotonic()
            self._held += 1
            self._write(self._fd, event)
            return self._seq

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def sync_data(self) -> None:
        """Put the lines written so far on disk (before a sealed head that names them is committed)."""
        if self._fd is not None:
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                raise self._write_error(exc) from None

    def release(self, committed: bool) -> None:
        """End a held append: keep the lines (committed) or cut them off (rolled back); unlock (a lease
        held before the transaction ends with it)."""
        with self._mutex:
            self._release(committed)

    def _release(self, committed: bool) -> None:
        if not self._held or self._fd is None:
            return
        fd = self._fd
        try:
            if committed:
                self._anchored_seq = self._seq
                self._last_anchor = time.monotonic()
            elif self._size != self._held_state[0]:
                try:
                    os.ftruncate(fd, self._held_state[0])
                    self._size, self._seq, self._hash = self._held_state
                except OSError:
                    self._size = -1
        finally:
            self._held = 0
            self._leased = False
            fcntl.flock(fd, fcntl.LOCK_UN)

    def acknowledge_gap(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Record a gap (call inside a store transaction; the caller seals the head to this line and releases).
        Returns what was recorded, or None when there is no gap (nothing written, log not held)."""
        self.end_lease()
        fd = self._lock()
        try:
            size = os.fstat(fd).st_size
            tail = read_tail(fd, size, self.key)
            if not tail.genuine:
                raise ConfigError(
                    f"the last line of the audit log {self.path} is not a record kmstui wrote, so no chain can "
                    "continue from it: move the log aside (keep it: it is evidence), then run 'kmstui audit "
                    "acknowledge-gap' again to start a new chain that records the loss")
            problem = self._gap_in(tail)
            if problem is None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                self.gap = None
                return None
            head = self.sealed_head() if self.sealed_head is not None else None
            details: dict[str, Any] = {
                "problem": problem, "logEndsAtSeq": tail.seq, "logEndsAtHash": tail.hash,
                "sealedHeadSeq": head.seq if head else None, "sealedHeadHash": head.hash if head else None}
            if head is not None and head.seq > tail.seq:
                details["missingEvents"] = head.seq - tail.seq
            if tail.fragment:
                os.ftruncate(fd, tail.end)
                details.update(removedBytes=len(tail.fragment), removedSha256=sha256(tail.fragment).hexdigest())
            self._seq, self._hash, self._size = tail.seq, tail.hash, tail.end
            self._held_state = (tail.end, tail.seq, tail.hash)
            self._held = 1
        except BaseException:
            if not self._held:
                fcntl.flock(fd, fcntl.LOCK_UN)
            raise
        event.setdefault("additionalEventData", {}).update(details)
        self._write(fd, event)
        self.gap = None
        return details

    def flush(self) -> None:
        """Persist the newest head this process wrote into the sealed store (its lines put on disk first).
        A lease ends first: the store is never written while this process holds the log's lock as a lease
        (another process may be waiting for that lock inside a store transaction)."""
        self.end_lease()
        if self.anchor is not None and self._seq > self._anchored_seq:
            self.sync_data()
            self.anchor(self._seq, self._hash)
            self._anchored_seq = self._seq
        self._last_anchor = time.monotonic()

    def head(self) -> Anchor:
        return Anchor(self._seq, self._hash)

    def close(self) -> None:
        with self._mutex:
            with contextlib.suppress(Exception):
                self.flush()
            if self._fd is not None:
                if self._held:
                    self._release(False)
                self.end_lease()
                os.close(self._fd)
                self._fd = None

_UUID_HEX_AT = [at for at in range(36) if at not in (8, 13, 18, 23)]  # where a UUID's 32 hex digits go
_UUID_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")  # RFC 4122 variant digit


def _uuid4_batch(n: int) -> list[str]:
    """`n` random version 4 UUIDs (as str(uuid.uuid4()) gives them), laid out column by column with slice
    assignments over all of them at once: about a third of the cost of formatting each one."""
    digits = os.urandom(16 * n).hex().encode()
    out = bytearray(b"-" * (37 * n))  # 36 characters and a newline each
    for k, at in enumerate(_UUID_HEX_AT):
        out[at::37] = digits[k::32]
    out[14::37] = b"4" * n  # the version digit
    out[19::37] = digits[16::32].translate(_UUID_VARIANT)
    out[36::37] = b"\n" * n
    return out.decode().split()


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
    recorded: dict[str, list] = {"AcknowledgedGaps": [], "RecoveredTornLines": []}

    def broken(n: int, why: str) -> dict[str, Any]:
        return {"Valid": False, "Lines": count, "BrokenAtLine": n, "Problem": why,
                "SealedHeadSeq": anchor.seq if anchor else None, **recorded}

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
        kind = _loss_record(event)
        if kind is not None:
            recorded[kind].append({"Line": n, "Seq": line_seq, "Event": event.get("eventName"),
                                   "Time": event.get("eventTime"), **event["additionalEventData"]})
        if anchor is not None and line_seq == anchor.seq:
            if digest != anchor.hash:
                return broken(n, f"event {line_seq} differs from the head sealed in the HSM file (log rewritten)")
            anchor_seen = True
    if not anchor_seen:
        return broken(count + 1, f"the log ends at event {seq} but the HSM file's sealed head is event "
                                 f"{anchor.seq} (lines deleted or the log truncated)")
    return {"Valid": True, "Lines": count, "LastSeq": seq, "SealedHeadSeq": anchor.seq if anchor else None,
            **recorded}


def _loss_record(event: dict[str, Any]) -> str | None:
    """Which list of lost lines a record belongs to (shown by `audit verify` even when the chain is intact):
    gaps acknowledged (by `audit acknowledge-gap`, or by the restore of a backup without its log) and torn
    lines cut off."""
    data = event.get("additionalEventData")
    if event.get("eventSource") != SERVICE_SOURCE or not isinstance(data, dict):
        return None
    if "logEndsAtSeq" in data:
        return "AcknowledgedGaps"
    return "RecoveredTornLines" if event.get("eventName") == "RecoverAuditLogTail" else None
