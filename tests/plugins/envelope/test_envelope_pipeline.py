"""The streaming pipeline (reads and AEAD on the caller's thread -> writer thread): failures on either
thread reach the caller as themselves, no thread outlives its message, small inputs never start a thread,
and frames that straddle the reader's blocks decrypt exactly."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import tempfile
import threading

import pytest

from envelope_helpers import aes_keyring, decrypt_bytes, encrypt_bytes
from kmstui.errors import KmstuiError
from kmstui_envelope.body import Sink
from kmstui_envelope.materials import encryption_materials
from kmstui_envelope.pipe import OutputPipe, Source
from kmstui_envelope.stream import DecryptOptions, decrypt_stream, encrypt_stream
from kmstui_envelope.suites import SUITES

KEYS = [aes_keyring()]
FRAME = 4096


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kmstui-envelope-")]


class FailingReader(io.RawIOBase):
    """A readable stream that fails with `exc` once `after` bytes have been read (a disk error, a
    vanished network file)."""

    def __init__(self, data: bytes, after: int, exc: BaseException) -> None:
        self._data, self._after, self._exc, self._pos = data, after, exc, 0

    def readable(self) -> bool:
        return True

    def readinto(self, view) -> int:
        if self._pos >= self._after:
            raise self._exc
        n = min(len(view), self._after - self._pos, len(self._data) - self._pos)
        view[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


def encrypt(src, write, size_hint=None, frame=FRAME):
    mats = encryption_materials(KEYS, SUITES[0x0478], {})
    try:
        return encrypt_stream(src, write, mats, frame, size_hint=size_hint)
    finally:
        mats.release()


def test_a_read_error_on_the_reader_thread_reaches_the_caller_and_stops_the_pipeline():
    data = bytes(range(256)) * 200  # 12 frames
    err = OSError(errno.EIO, "Input/output error")
    out = io.BytesIO()
    with pytest.raises(OSError) as caught:
        encrypt(FailingReader(data, 5 * FRAME + 100, err), out.write)
    assert caught.value is err
    assert pipeline_threads() == []


def test_a_broken_pipe_on_the_writer_thread_reaches_the_caller():
    """`kmstui envelope encrypt - | head -c 10`: the reader of our output went away (EPIPE)."""
    written = []

    def write(view):
        if written:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        written.append(bytes(view))

    with pytest.raises(BrokenPipeError):
        encrypt(io.BytesIO(bytes(50 * FRAME)), write)
    assert pipeline_threads() == []
    ct = encrypt_bytes(bytes(50 * FRAME), KEYS, frame=FRAME)
    written.clear()
    with pytest.raises(BrokenPipeError):
        decrypt_stream(io.BytesIO(ct), KEYS, Sink(OutputPipe(write), tempfile.TemporaryFile), DecryptOptions())
    assert pipeline_threads() == []


@pytest.mark.parametrize("size", [0, 1, FRAME - 1, FRAME, FRAME + 1, 3 * FRAME, 3 * FRAME + 7])
def test_round_trip_at_block_boundaries(size):
    """Full-length last frames (followed by an empty final frame), final frames that straddle two read
    blocks, and the footer of a signed message right after them."""
    plain = bytes((i * 7) % 251 for i in range(size))
    for suite in (0x0478, 0x0578):
        ct = encrypt_bytes(plain, KEYS, suite=suite, frame=FRAME)
        assert decrypt_bytes(ct, KEYS) == plain
        out = io.BytesIO()
        decrypt_stream(io.BytesIO(ct), KEYS, Sink(OutputPipe(out.write), tempfile.TemporaryFile, private=True),
                       DecryptOptions(), size_hint=len(ct))
        assert out.getvalue() == plain
    assert pipeline_threads() == []


def test_truncated_messages_release_only_authenticated_frames_through_the_reader_thread():
    plain = bytes(range(256)) * 64  # 4 frames
    ct = encrypt_bytes(plain, KEYS, frame=FRAME)
    for cut in (len(ct) - 1, len(ct) - 17, len(ct) - FRAME - 40, 2 * FRAME + 300):
        out = io.BytesIO()
        with pytest.raises(KmstuiError):
            decrypt_stream(io.BytesIO(ct[:cut]), KEYS, Sink(OutputPipe(out.write), tempfile.TemporaryFile),
                           DecryptOptions())
        assert plain.startswith(out.getvalue()) and len(out.getvalue()) % FRAME == 0
    assert pipeline_threads() == []


def test_an_input_longer_than_announced_is_encrypted_whole():
    """The size hint only sizes the first read: a file that grew after stat() is still read to its end."""
    plain = bytes(range(256)) * 100
    out = io.BytesIO()
    n, _ = encrypt(io.BytesIO(plain), out.write, size_hint=100)
    assert n == len(plain)
    assert decrypt_bytes(out.getvalue(), KEYS) == plain


def test_small_inputs_start_no_thread(monkeypatch):
    """Trees of small files: a one-frame message costs no thread start on either side."""
    started = _started_threads(monkeypatch)
    plain = bytes(4096)
    out = io.BytesIO()
    encrypt(io.BytesIO(plain), out.write, size_hint=len(plain), frame=4 << 20)
    ct = out.getvalue()
    back = io.BytesIO()
    decrypt_stream(io.BytesIO(ct), KEYS, Sink(OutputPipe(back.write), tempfile.TemporaryFile, private=True),
                   DecryptOptions(), size_hint=len(ct))
    assert back.getvalue() == plain
    assert started == []


def _started_threads(monkeypatch) -> list[str]:
    started: list[str] = []
    real_start = threading.Thread.start

    def start(self):
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


def test_files_and_streams_are_read_on_the_callers_thread(monkeypatch, tmp_path):
    """Reading a file never waits and costs half what writing does, and a pipe's producer is another
    process already running beside us: a reader thread would only share a core with the writer (file to
    file was a quarter slower with one, `cat | kmstui | cat` 3 % slower). Only the writer thread starts,
    and a file and a stream give the same message."""
    plain = os.urandom(5 * FRAME + 123)
    src = tmp_path / "plain.bin"
    src.write_bytes(plain)
    started = _started_threads(monkeypatch)
    from_file = io.BytesIO()
    with open(src, "rb", buffering=0) as f:
        encrypt(f, from_file.write, size_hint=len(plain))
    assert started == ["kmstui-envelope-writer"]
    (tmp_path / "ct").write_bytes(from_file.getvalue())
    started.clear()
    back = io.BytesIO()
    with open(tmp_path / "ct", "rb") as f:
        decrypt_stream(f, KEYS, Sink(OutputPipe(back.write), tempfile.TemporaryFile, private=True),
                       DecryptOptions(), size_hint=len(from_file.getvalue()))
    assert back.getvalue() == plain and started == ["kmstui-envelope-writer"]
    started.clear()
    read_fd, write_fd = os.pipe()
    with open(read_fd, "rb", buffering=0) as stream:
        feeder = threading.Thread(target=lambda: (os.write(write_fd, plain), os.close(write_fd)), name="feeder")
        feeder.start()
        from_stream = io.BytesIO()
        encrypt(stream, from_stream.write)
        feeder.join()
    assert sorted(started) == ["feeder", "kmstui-envelope-writer"]  # the feeder is this test's producer
    assert decrypt_bytes(from_stream.getvalue(), KEYS) == decrypt_bytes(from_file.getvalue(), KEYS) == plain
    assert pipeline_threads() == []


def test_source_views_are_zero_copy_for_whole_blocks_and_exact_across_blocks():
    data = bytes(range(256)) * 40
    src = Source(io.BytesIO(data))
    src.read_ahead(1000)
    first = src.take(1000)
    assert bytes(first) == data[:1000]
    assert isinstance(first.obj, bytearray) and len(first.obj) == 1000  # a view of the reader's block
    assert bytes(src.take(1500)) == data[1000:2500]  # straddles blocks 2 and 3
    assert src.read(100000) == data[2500:]
    assert src.at_eof()
    src.close()
    assert pipeline_threads() == []


def test_a_stream_of_unknown_size_reads_into_a_mapping_a_file_into_a_bytearray():
    """Standard input (no size) gets a block whose pages are touched only as reads fill them, so a small
    input does not pay for zeroing a whole frame-sized block; frames still round-trip exactly across blocks."""
    import mmap

    block = 1 << 20
    data = os.urandom(2 * block + 12345)
    src = Source(io.BytesIO(data))
    src.read_ahead(block)
    first = src.take(block)
    assert isinstance(first.obj, mmap.mmap) and bytes(first) == data[:block]
    assert bytes(src.take(block + 100)) == data[block:2 * block + 100]  # straddles blocks 2 and 3
    assert bytes(src.take(len(data))) == data[2 * block + 100:] and src.at_eof()
    src.close()
    sized = Source(io.BytesIO(data))
    sized.read_ahead(block, len(data))
    assert isinstance(sized.take(block).obj, bytearray)
    for plain in (b"", b"small", data):
        out = io.BytesIO()
        encrypt(io.BytesIO(plain), out.write, frame=block)
        assert decrypt_bytes(out.getvalue(), KEYS) == plain
        back = io.BytesIO()
        decrypt_stream(io.BytesIO(out.getvalue()), KEYS, Sink(OutputPipe(back.write), tempfile.TemporaryFile,
                                                                private=True), DecryptOptions())
        assert back.getvalue() == plain
    assert pipeline_threads() == []


def test_cli_reader_going_away_ends_quietly(kmstui_home, tmp_path, keyfiles):
    """`kmstui envelope encrypt - | head -c 10`: a real pipe whose reader exits early (EPIPE on the
    writer thread) ends quietly as a CLI does (issue 11 item 14): no traceback, no claim about what was
    written, the status a SIGPIPE'd writer gets (141), and the command does not hang."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(8 << 20))
    env = {**os.environ, "KMSTUI_HOME": str(kmstui_home)}
    with open(src, "rb") as stdin:
        proc = subprocess.Popen([sys.executable, "-m", "kmstui", "envelope", "encrypt", "-", "--raw-key",
                                 keyfiles["aes"]], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        proc.stdout.read(10)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141
    assert err == ""


@pytest.mark.parametrize("block", [0, 8])
def test_a_nonblocking_standard_input_is_encrypted_whole(block):
    """Standard input left in non-blocking mode (O_NONBLOCK set by another program sharing it) returns None
    while the producer pauses; that used to end the message there, encrypted and reported as complete."""
    import fcntl
    import time

    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
    parts = [b"first part ", b"second part ", b"the end"]

    def feed():
        for part in parts:
            time.sleep(0.2)
            os.write(w, part)
        os.close(w)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    with os.fdopen(r, "rb") as stream:
        source = Source(stream)
        if block:
            source.read_ahead(block)
        got = b"".join(bytes(source.take(5)) if block else source.read(5) for _ in range(10))
    thread.join(5)
    assert got == b"".join(parts)
