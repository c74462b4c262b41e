"""Output files appear whole or not at all (kmstui_envelope/files.py), also where the file system has no
O_TMPFILE (a named 0600 temporary file is used there), and every byte reaches the file even when the
kernel takes a write in pieces."""

from __future__ import annotations

import os
import stat

import pytest

from envelope_helpers import listing
from kmstui.errors import KmstuiError
from kmstui_envelope import files


def _umask() -> int:
    old = os.umask(0o077)
    os.umask(old)
    return old


@pytest.fixture
def no_tmpfile(monkeypatch):
    """A file system without O_TMPFILE (some network and FUSE file systems)."""
    monkeypatch.setattr(files, "_HAVE_TMPFILE", False)


def test_without_o_tmpfile_outputs_get_their_modes_and_no_temporary_file_stays(run, workdir, keyfiles, no_tmpfile):
    (workdir / "doc").write_bytes(os.urandom(10000))
    run()("envelope", "encrypt", "doc", "--raw-key", keyfiles["aes"], "--frame-size", "4096")
    assert stat.S_IMODE(os.stat(workdir / "doc.enc").st_mode) == 0o666 & ~_umask()  # as any new file
    run()("envelope", "decrypt", "doc.enc", "--raw-key", keyfiles["aes"], "--out", "back")
    assert stat.S_IMODE(os.stat(workdir / "back").st_mode) == 0o600  # plaintext stays private
    assert (workdir / "back").read_bytes() == (workdir / "doc").read_bytes()
    run()("envelope", "encrypt", "doc", "--raw-key", keyfiles["aes"], "--force")  # replaces, as asked
    assert listing(workdir) == ["back", "doc", "doc.enc"]


def test_without_o_tmpfile_a_failure_leaves_nothing_behind(run, workdir, keyfiles, no_tmpfile):
    (workdir / "doc").write_bytes(os.urandom(10000))
    run()("envelope", "encrypt", "doc", "--raw-key", keyfiles["aes"], "--frame-size", "4096")
    damaged = bytearray((workdir / "doc.enc").read_bytes())
    damaged[-100] ^= 1
    (workdir / "bad.enc").write_bytes(bytes(damaged))
    with pytest.raises(KmstuiError, match="does not authenticate"):
        run()("envelope", "decrypt", "bad.enc", "--raw-key", keyfiles["aes"], "--out", "back")
    assert listing(workdir) == ["bad.enc", "doc", "doc.enc"]


def test_writes_the_kernel_takes_in_pieces_are_completed(run, workdir, keyfiles, monkeypatch):
    """os.write may accept less than asked (a nearly full disk, a signal): the rest is written too."""
    real_write = os.write

    def short_write(fd, data):
        return real_write(fd, memoryview(data)[:1000])

    (workdir / "doc").write_bytes(os.urandom(20000))
    monkeypatch.setattr(files.os, "write", short_write)
    run()("envelope", "encrypt", "doc", "--raw-key", keyfiles["aes"], "--frame-size", "4096")
    run()("envelope", "decrypt", "doc.enc", "--raw-key", keyfiles["aes"], "--out", "back")
    monkeypatch.undo()
    assert (workdir / "back").read_bytes() == (workdir / "doc").read_bytes()


@pytest.mark.parametrize("cmd", [("envelope", "encrypt", "doc"), ("envelope", "decrypt", "doc.enc")])
def test_an_existing_device_or_named_pipe_is_never_replaced_even_with_force(run, workdir, keyfiles, cmd):
    """`--out /dev/null --force` used to rename a regular file over the device (as root: the machine lost
    /dev/null). A named pipe stands in for the device here: the same file type check refuses both."""
    (workdir / "doc").write_bytes(os.urandom(5000))
    run()("envelope", "encrypt", "doc", "--raw-key", keyfiles["aes"])
    os.mkfifo(workdir / "fifo")
    with pytest.raises(KmstuiError, match=r"--out fifo is a named pipe, not a regular file: .*use --out - and "
                                          r"redirect standard output to it"):
        run()(*cmd, "--raw-key", keyfiles["aes"], "--out", "fifo", "--force")
    assert stat.S_ISFIFO(os.lstat(workdir / "fifo").st_mode)
    assert listing(workdir) == ["doc", "doc.enc", "fifo"]


@pytest.mark.parametrize("o_tmpfile", [True, False])
def test_a_destination_that_becomes_a_named_pipe_while_writing_is_not_replaced(tmp_path, monkeypatch, o_tmpfile):
    """The first check is made before the (possibly long) write; the rename is checked again at commit, so an
    --out that became a device or named pipe meanwhile is refused, not replaced, and no temporary is left."""
    monkeypatch.setattr(files, "_HAVE_TMPFILE", o_tmpfile)
    dest = tmp_path / "out"
    dest.write_bytes(b"old")
    with pytest.raises(KmstuiError, match=r"is a named pipe, not a regular file"):
        with files.AtomicFile(str(dest), force=True, private=False) as out:
            out.write(b"new contents")
            dest.unlink()
            os.mkfifo(dest)
            out.commit()
    assert stat.S_ISFIFO(os.lstat(dest).st_mode)
    assert listing(tmp_path) == ["out"]
