"""kmstui.commands.args: writing --out files."""

from __future__ import annotations

import os
import stat

import pytest

from kmstui.commands.args import write_output
from kmstui.errors import UsageError


def test_an_out_that_becomes_a_named_pipe_while_writing_is_not_replaced(session, tmp_path, monkeypatch):
    """--force checks the destination before writing and again just before the rename: a destination that
    became a device or named pipe in between (a named pipe stands in for /dev/null) is refused, not replaced."""
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "out.bin"
    dest.write_bytes(b"old")
    real_fsync = os.fsync

    def fsync_then_swap(fd):
        real_fsync(fd)
        dest.unlink()
        os.mkfifo(dest)

    monkeypatch.setattr(os, "fsync", fsync_then_swap)
    with pytest.raises(UsageError, match=r"--out .*out.bin is a named pipe, not a regular file"):
        write_output(session, str(dest), b"new", force=True)
    assert stat.S_ISFIFO(os.lstat(dest).st_mode)
    assert sorted(p.name for p in work.iterdir()) == ["out.bin"]  # no temporary file left


@pytest.mark.parametrize("buffering", [0, -1])  # 0: raw, as sys.stdout.buffer is under PYTHONUNBUFFERED=1
def test_write_all_to_a_full_nonblocking_pipe_waits_and_loses_nothing(buffering):
    """Standard output can be non-blocking (O_NONBLOCK set by another program sharing the pipe). A full pipe
    made a raw write return None, which write_all took for 'all written': `envelope decrypt --out -` then
    dropped all but the first pipe-full of plaintext and reported success."""
    import fcntl
    import threading
    import time

    from kmstui.commands.args import flush_all, write_all

    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    data = os.urandom(3 << 20)  # several pipe-fulls
    got = bytearray()

    def slow_reader():
        time.sleep(0.2)  # the pipe fills first
        with os.fdopen(r, "rb") as f:
            while chunk := f.read(1 << 16):
                got.extend(chunk)

    reader = threading.Thread(target=slow_reader, daemon=True)
    reader.start()
    with os.fdopen(w, "wb", buffering=buffering) as out:
        write_all(out, data)
        flush_all(out)
    reader.join(30)
    assert bytes(got) == data
