"""Reading a `kmstui serve` access log as it grows: one JSON object per line (what
`handler.AccessRecord.to_json` writes: time, requestId, sourceIp, principal, accessKeyId, service,
operation, key, decision, status, error, latencyMs), for `kmstui serve log` and the TUI's request tail.

`AccessLogTail.read()` returns the records appended since the last call, and never reads more than
`chunk` bytes per call, so a face can call it on a timer whatever the request rate. It copes with what
happens to a log file under a reader: lines still being written (a partial last line waits for its
newline; the writer may buffer), a file replaced (rotation: a new inode is read from its start), a file
truncated (a server restarted on the same port), a missing file, over-long or malformed lines (skipped and
counted). A reader that falls more than `max_lag` bytes behind jumps to the end and counts what it skipped.

The records are plain data with the writer's field names. Their text comes from the network (principals
from access keys, key ids from request bodies): faces must show it through `kmstui.visible`.
"""

from __future__ import annotations

import json
import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

FIELDS = ("time", "requestId", "sourceIp", "principal", "accessKeyId", "service", "operation", "key", "decision",
          "status", "error", "latencyMs")
DECISIONS = ("allow", "deny", "unauthenticated", "error")
MAX_LINE = 64 * 1024  # an access-log line is a few hundred bytes; the writer bounds every field
MAX_FIELD = 2048  # characters kept of any one field


def record_of(line: bytes) -> dict[str, Any] | None:
    """One access-log line as a record with exactly FIELDS (missing ones None), or None if it is not one."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = raw.get(name)
        if name in ("status",):
            value = value if isinstance(value, int) and not isinstance(value, bool) else None
        elif name == "latencyMs":
            value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        elif value is not None:
            value = str(value)[:MAX_FIELD]
        out[name] = value
    return out


def is_denied(record: dict[str, Any]) -> bool:
    """Refused by authorization (a decision trace exists: `whatif --request-id`) or by authentication."""
    return record.get("decision") in ("deny", "unauthenticated")


@dataclass
class TailStats:
    records: int = 0
    bad_lines: int = 0  # malformed or over-long lines skipped
    skipped_bytes: int = 0  # jumped over when the reader fell behind
    restarts: int = 0  # the file was replaced or truncated and read again from its start


class AccessLogTail:
    """Incremental reader of one access-log file.

    backlog: on the first read, start this many bytes before the end (the newest requests), dropping the
    first, partial line; 0 starts at the end, None at the beginning. chunk: the most bytes one read()
    consumes. max_lag: when more than this is unread, skip to the last `backlog` (or `chunk`) bytes, at most
    max_lag."""

    def __init__(self, path: Path | str, *, backlog: int | None = 64 * 1024, chunk: int = 256 * 1024,
                 max_lag: int = 8 * 1024 * 1024) -> None:
        self.path = Path(path)
        self.backlog, self.chunk, self.max_lag = backlog, chunk, max_lag
        self.stats = TailStats()
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._discard_first = False
        self.pending = 0  # bytes known to be unread after the last read (read again soon when > 0)
        self.not_a_file = False  # the path names a FIFO, device or folder: nothing is read from it

    @property
    def offset(self) -> int:
        return self._offset

    def _start(self, size: int, *, fresh: bool) -> None:
        """Position for a file seen for the first time (fresh) or replaced/truncated (from its start)."""
        self._partial = b""
        self._seek_to(max(0, size - self.backlog) if fresh and self.backlog is not None else 0)

    def _seek_to(self, offset: int) -> None:
        """Continue at `offset`; when it may be mid-line, from one byte earlier, dropping everything up to the
        first newline (which is then the line cut in half, or nothing if `offset` began a line)."""
        self._partial = b""
        self._offset = max(0, offset - 1)
        self._discard_first = self._offset > 0

    def read(self) -> list[dict[str, Any]]:
        """The complete records appended since the last call (at most `chunk` bytes of the file)."""
        try:  # O_NONBLOCK: a FIFO named as the log must not hang the reader waiting for a writer
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return []
        st = os.fstat(fd)
        self.not_a_file = not stat.S_ISREG(st.st_mode)
        if self.not_a_file:  # only a regular file has offsets to follow
            os.close(fd)
            return []
        with os.fdopen(fd, "rb") as fh:
            ident = (st.st_dev, st.st_ino)
            if ident != self._ident:
                fresh = self._ident is None
                if not fresh:
                    self.stats.restarts += 1
                self._ident = ident
                self._start(st.st_size, fresh=fresh)
            elif st.st_size < self._offset:
                self.stats.restarts += 1
                self._start(st.st_size, fresh=False)
            lag = st.st_size - self._offset
            if lag > self.max_lag:
                target = st.st_size - min(self.backlog or self.chunk, self.max_lag)
                self.stats.skipped_bytes += target - self._offset
                self._seek_to(target)
            if st.st_size <= self._offset:
                return []
            fh.seek(self._offset)
            data = fh.read(self.chunk)
        self._offset += len(data)
        self.pending = max(0, st.st_size - self._offset)
        return list(self._records(data))

    def _records(self, data: bytes) -> Iterable[dict[str, Any]]:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE:  # no newline in sight: not a line we will ever use
            self.stats.bad_lines += 1
            self._partial, self._discard_first = b"", True
        for line in lines:
            if self._discard_first:
                self._discard_first = False
                continue
            if not line.strip():
                continue
            record = record_of(line) if len(line) <= MAX_LINE else None
            if record is None:
                self.stats.bad_lines += 1
                continue
            self.stats.records += 1
            yield record


def last_records(path: Path | str, limit: int, *, denied: bool = False, window: int = 4 * 1024 * 1024
                 ) -> list[dict[str, Any]]:
    """The newest `limit` records of a log (only denied ones with denied=True), reading at most the last
    `window` bytes of it."""
    tail = AccessLogTail(path, backlog=window, chunk=window, max_lag=window * 2)
    kept: deque[dict[str, Any]] = deque(maxlen=limit)
    for record in tail.read():
        if not denied or is_denied(record):
            kept.append(record)
    return list(kept)
