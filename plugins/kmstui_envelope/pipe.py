"""Byte plumbing for the codec: an exact reader that can hash what it hands out, and an output pipe that
writes on a second thread.

Why a thread: AES-GCM (VAES) seals a GiB in about 0.05 s of CPU, so a large file is bound by the two
page-cache copies, not by the cipher; measured on tmpfs, per GiB, reading costs about 0.15 s and writing
into fresh pages about 0.30 s (page allocation included), both in the kernel with the GIL released. The
write is the longest stage, so it gets a thread of its own (OutputPipe): the caller's thread reads and
seals frame N+1 while frame N is written. Memory stays flat whatever the file size (about POOL x frame on
the output side, recycled preallocated buffers, and one block on the input side), no frame allocates,
and nothing waits for a thread on small files: a thread starts only once a second block is needed.

Reading stays on the caller's thread, for files and pipes alike. A regular file never waits, and a read
costs half a write; a pipe's producer is another process, already running beside us. A reader thread was
one busy thread too many on a 2-core machine: with it, file to file encryption was about a quarter slower
and `cat | kmstui | cat` about 3 % slower in both directions (each measured side by side).

Input is read with read()/readinto(), never mmap'ed: a file truncated while we read it then simply ends
early (a clean "truncated" error or a shorter plaintext), where an mmap would raise SIGBUS.
"""

from __future__ import annotations

import io
import os
import queue
import stat
import threading
from typing import Any, BinaryIO, Callable

from kmstui.commands.values import read_waiting, readinto_waiting

POOL = 3  # output buffers in flight: one being filled, one queued, one being written
PIPE_SIZE = 1 << 20
COALESCE = 64 << 10  # writes up to this size may be held and joined with the next


class Source:
    """Exact reads from `stream`: `take(n)` returns n bytes (fewer only at end of input) as a memoryview
    that stays valid until the next call on this Source; `read(n)` returns a copy. `hasher`, when set,
    sees every byte handed out, in order.

    `read_ahead(block, remaining)` switches to block-sized reads into one recycled block (`remaining`, the
    input's size when known, sizes the first block, so a one-block input reads once and a small file
    allocates no full frame). A caller that asks for whole blocks (a frame, aligned to the body's start)
    gets zero-copy views; a field that straddles two blocks is copied.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.hasher: Any = None
        self.pos = 0  # bytes handed out
        self._block = 0  # 0: no read-ahead (read straight from the stream)
        self._remaining: int | None = None
        self._cur: bytearray | None = None  # block being consumed, its length, and the offset in it
        self._cur_len = 0
        self._off = 0
        self._ended = False  # the last block has been loaded (a short read)
        self._first = True  # the next block is the first (sized by `remaining`)
        self._spare: bytearray | None = None  # the consumed block, refilled next

    def read_ahead(self, block: int, remaining: int | None = None) -> None:
        """Read in `block`-sized pieces from here on; `remaining` (bytes left, if known) sizes the first."""
        if not self._block:
            self._block = max(1, block)
            self._remaining = remaining

    def take(self, n: int) -> memoryview:
        if not self._block:
            return memoryview(self.read(n))
        if n <= 0:
            return memoryview(b"")
        start = self._off
        if self._cur is not None and self._cur_len - start >= n:  # inside the current block (the usual case)
            self._off = start + n
            view = memoryview(self._cur)[start:start + n]
        else:
            view = self._take_blocks(n)
        self._account(view)
        return view

    def read(self, n: int) -> bytes:
        """n bytes (fewer only at the end of the input). Header fields come this way, a dozen per message:
        the direct path is kept to one call into the stream."""
        if self._block:
            return bytes(self.take(n))
        if n <= 0:
            return b""
        data = read_waiting(self._stream, n)
        if len(data) < n:
            data = self._read_rest(data, n)
        self.pos += len(data)
        if self.hasher is not None and data:
            self.hasher.update(data)
        return data

    def readinto(self, view: memoryview) -> int:
        """Fill `view` completely unless the input ends first; returns the count."""
        if self._block:
            got = self.take(len(view))
            view[:len(got)] = got
            return len(got)
        total = _fill(self._stream, view)
        self._account(view[:total])
        return total

    def at_eof(self) -> bool:
        return len(self.take(1)) == 0

    def close(self) -> None:
        """Drop the blocks. Safe to call more than once."""
        self._cur = self._spare = None

    # internals ---------------------------------------------------------------------------------------
    def _account(self, data) -> None:
        self.pos += len(data)
        if self.hasher is not None and len(data):
            self.hasher.update(data)

    def _read_rest(self, data: bytes, n: int) -> bytes:
        """`data` (a short read) completed to n bytes, unless the input ends first."""
        parts = [data]
        got = len(data)
        while got < n:
            more = read_waiting(self._stream, n - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def _take_blocks(self, n: int) -> memoryview:
        if self._cur is None or self._off == self._cur_len:
            if not self._advance():
                return memoryview(b"")
        left = self._cur_len - self._off
        if left >= n or (self._ended and left):  # inside the current (or last) block: no copy
            start = self._off
            self._off += min(n, left)
            return memoryview(self._cur)[start:self._off]  # type: ignore[index]
        out = bytearray()  # straddles blocks: gather a copy (grown only as far as the data goes)
        while len(out) < n:
            if self._off == self._cur_len and not self._advance():
                break
            k = min(n - len(out), self._cur_len - self._off)
            out += memoryview(self._cur)[self._off:self._off + k]  # type: ignore[index]
            self._off += k
        return memoryview(out)

    def _advance(self) -> bool:
        """Recycle the current block and load the next one; False at the end of the input."""
        if self._cur is not None:
            self._spare = self._cur
            self._cur, self._cur_len, self._off = None, 0, 0
        if self._ended:
            return False
        size = self._block
        if self._first and self._remaining is not None:
            size = max(1, min(self._block, self._remaining + 1))
        self._first = False
        buf, self._spare = self._spare, None
        if buf is None or len(buf) < size:  # the first block, or a small first block for an input that grew
            buf = _block(size, self._remaining is not None)
        n = _fill(self._stream, memoryview(buf))
        if n < len(buf):
            self._ended = True
        if n == 0:
            return False
        self._cur, self._cur_len, self._off = buf, n, 0
        return True


def _block(size: int, sized: bool) -> Any:
    """A new read block. For an input of unknown size (standard input, a pipe) an anonymous private mapping,
    whose pages are faulted in only as reads fill them: a bytearray zero-fills the whole block first, which
    for a 4 MiB block is about 1.6 ms, the largest share of a one-shot `envelope encrypt -` of a small
    input (a large one pays the same page faults either way, once). An input of known size (a file) gets
    a bytearray: its first block is sized to the file, and across a tree of files the allocator reuses a
    bytearray's memory where a new mapping would fault in fresh pages each time."""
    if sized or size < PIPE_SIZE:
        return bytearray(size)
    import mmap  # here: loaded already with the local backend, not needed by files of known size

    if not hasattr(mmap, "MAP_PRIVATE"):  # Windows
        return bytearray(size)
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)


def widen_pipe(stream: Any) -> None:
    """Give a pipe (standard input or output) a 1 MiB kernel buffer instead of 64 KiB, so each side
    wakes 16x less often (F_SETPIPE_SZ, Linux; 1 MiB is the unprivileged maximum by default). Anything
    else (a file, a terminal, another OS, a refused size) is left as it is."""
    import fcntl

    try:
        fd = stream.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode) or not hasattr(fcntl, "F_SETPIPE_SZ"):
            return
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        pass


def _fill(stream: BinaryIO, view: memoryview) -> int:
    """readinto until `view` is full or the input ends."""
    total, n = 0, len(view)
    while total < n:
        got = readinto_waiting(stream, view[total:])
        if not got:
            break
        total += got
    return total


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
        self._pending: list = []  # writes held back before the thread starts
        self._pending_pooled = False  # ... one of them a pooled buffer (a second one starts the thread)
        self._closed = False

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

        The writer thread starts with the second pooled buffer, so a one-frame message costs no thread, and
        until then small writes are held and joined: a small file's header and body go out in one write."""
        self._check()
        view = memoryview(buf) if n is None else memoryview(buf)[:n]
        pooled = self._is_pooled(buf)
        if self._thread is None:
            if pooled and self._pending_pooled and self._threaded:
                self._flush_pending()
            elif self._closed or not self._threaded or (not pooled and len(view) > COALESCE):
                self._emit_pending()
                self._emit(view)
                self._recycle(buf)
                return
            else:
                self._pending.append((buf, view))
                self._pending_pooled |= pooled
                return
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
            self._emit_pending()
        self._closed = True
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
        self._pending_pooled = False
        self._closed = True
        for buf in self._pool:
            buf[:] = bytes(len(buf))

    # internals -------------------------------------------------------------------------------------
    def _emit_pending(self) -> None:
        """Write what was held back, as one write when it is small."""
        pending, self._pending = self._pending, []
        self._pending_pooled = False
        if len(pending) > 1 and sum(len(v) for _, v in pending) <= 4 * COALESCE:
            self._emit(memoryview(b"".join(v for _, v in pending)))
        else:
            for _, view in pending:
                self._emit(view)
        for buf, _ in pending:
            self._recycle(buf)

    def _flush_pending(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kmstui-envelope-writer", daemon=True)
            self._thread.start()
        for item in self._pending:
            self._todo.put(item)
        self._pending.clear()
        self._pending_pooled = False

    def _emit(self, view: memoryview) -> None:
        if self.hasher is not None:
            self.hasher.update(view)
        self._write(view)
        self.written += len(view)

    def _recycle(self, buf: Any) -> None:
        if self._is_pooled(buf):
            self._free.put(buf)

    def _is_pooled(self, buf: Any) -> bool:
        if type(buf) is not bytearray:
            return False
        for b in self._pool:  # at most POOL entries, compared by identity
            if b is buf:
                return True
        return False

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
