"""Byte plumbing for the codec: an exact reader that can hash what it reads, and an output pipe that writes
on a second thread.

Why a thread: on a 2-core machine AES-GCM (VAES) runs at several GB/s, so a file-to-file run is bound by
the two page-cache copies (read and write). Both system calls release the GIL, so writing frame N while
frame N+1 is read and sealed overlaps them; measured, this is what lets a Python process keep up with
`cat`. The pipe recycles a few preallocated buffers, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, BinaryIO, Callable

POOL = 3  # buffers in flight: one being filled, one queued, one being written


class Source:
    """read(n) that returns fewer than n bytes only at end of input; optional hashing of everything read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.hasher: Any = None
        self.pos = 0

    def read(self, n: int) -> bytes:
        if n <= 0:
            return b""
        data = self._stream.read(n) or b""
        if len(data) < n:
            parts = [data]
            got = len(data)
            while got < n:
                more = self._stream.read(n - got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        self.pos += len(data)
        if self.hasher is not None and data:
            self.hasher.update(data)
        return data

    def readinto(self, view: memoryview) -> int:
        """Fill `view` completely unless the input ends first; returns the count."""
        total, n = 0, len(view)
        while total < n:
            got = self._stream.readinto(view[total:])
            if not got:
                break
            total += got
        self.pos += total
        if self.hasher is not None and total:
            self.hasher.update(view[:total])
        return total

    def at_eof(self) -> bool:
        return self.read(1) == b""


class OutputPipe:
    """Ordered writes of recycled buffers, on a writer thread once more than one buffer is in play.

    `hasher` (when set) sees every byte in write order, before it is written (the message signature)."""

    def __init__(self, write: Callable[[Any], Any], *, threaded: bool = True) -> None:
        self._write = write
        self.hasher: Any = None
        self.written = 0
        self._threaded = threaded
        self._pool: list[bytearray] = []
        self._free: queue.SimpleQueue = queue.SimpleQueue()  # SimpleQueue: cheap enough to make per file
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._pending: list = []  # writes queued before the thread starts (first buffer)

    # buffers ---------------------------------------------------------------------------------------
    def buffer(self, size: int) -> bytearray:
        """A buffer of at least `size` bytes that is not in flight."""
        self._check()
        if len(self._pool) < POOL:
            buf = bytearray(size)
            self._pool.append(buf)
            return buf
        while True:
            try:
                buf = self._free.get(timeout=0.5)
                break
            except queue.Empty:
                self._check()
        if len(buf) < size:
            self._pool = [b for b in self._pool if b is not buf]
            buf = bytearray(size)
            self._pool.append(buf)
        return buf

    def submit(self, buf: Any, n: int | None = None) -> None:
        """Write buf[:n] (all of buf when n is None) in order, then recycle buf if it came from buffer().

        The writer thread starts with the second pooled buffer, so a one-frame message costs no thread."""
        self._check()
        view = memoryview(buf) if n is None else memoryview(buf)[:n]
        pooled = self._is_pooled(buf)
        if self._thread is None and not self._pending:
            if not pooled or not self._threaded:
                self._emit(view)
                self._recycle(buf)
                return
            self._pending.append((buf, view))
            return
        self._flush_pending()
        self._todo.put((buf, view))

    def write(self, data: bytes) -> None:
        self.submit(data)

    def close(self) -> None:
        """Finish every queued write; re-raise a writer failure."""
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None
        else:
            for buf, view in self._pending:
                self._emit(view)
                self._recycle(buf)
            self._pending.clear()
        self._check()

    def abort(self) -> None:
        """Stop without caring about queued data (the caller discards the output)."""
        if self._thread is not None:
            while not self._todo.empty():
                try:
                    self._todo.get_nowait()
                except queue.Empty:
                    break
            self._todo.put(None)
            self._thread.join()
            self._thread = None
        self._pending.clear()
        for buf in self._pool:
            buf[:] = bytes(len(buf))

    # internals -------------------------------------------------------------------------------------
    def _flush_pending(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kmstui-envelope-writer", daemon=True)
            self._thread.start()
        for item in self._pending:
            self._todo.put(item)
        self._pending.clear()

    def _emit(self, view: memoryview) -> None:
        if self.hasher is not None:
            self.hasher.update(view)
        self._write(view)
        self.written += len(view)

    def _recycle(self, buf: Any) -> None:
        if self._is_pooled(buf):
            self._free.put(buf)

    def _is_pooled(self, buf: Any) -> bool:
        return isinstance(buf, bytearray) and any(b is buf for b in self._pool)

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            buf, view = item
            if self._error is None:
                try:
                    self._emit(view)
                except BaseException as exc:  # noqa: BLE001 - handed to the producing thread
                    self._error = exc
            self._recycle(buf)

    def _check(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
