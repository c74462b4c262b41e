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
