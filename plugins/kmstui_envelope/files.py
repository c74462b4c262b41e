"""Output files that appear whole or not at all.

Everything is written to a file beside the destination (same filesystem) that nobody else can open, and
moved into place only when the caller commits, i.e. after the whole message authenticated. On Linux that file is an
unnamed O_TMPFILE: it has no name until it is linked, so even a SIGKILL or a crash leaves nothing behind,
and creating it is one metadata operation instead of three (it matters for trees of small files).
Elsewhere a named temporary file (0600 until commit) is used and removed on error or Ctrl-C. Without --force the final step
is link(), which fails if the destination appeared meanwhile, so an existing file is never replaced.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

from kmstui.commands.args import refuse_special_file, replace_file
from kmstui.errors import UsageError

TMP_SUFFIX = ".kmstui-part"
_HAVE_TMPFILE = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")
_proc_fd_dir = -1  # descriptor of /proc/<this pid>/fd, opened on first use


def _umask() -> int:
    old = os.umask(0o077)
    os.umask(old)
    return old


def _forget_proc_fds() -> None:
    global _proc_fd_dir
    _proc_fd_dir = -1  # a forked child has its own /proc/<pid>/fd


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_proc_fds)


def _proc_fds() -> int:
    """An open descriptor of this process's /proc/PID/fd folder (kept for the process: one open, not
    one per file)."""
    global _proc_fd_dir
    if _proc_fd_dir < 0:
        _proc_fd_dir = os.open(f"/proc/{os.getpid()}/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return _proc_fd_dir


class AtomicFile:
    """`source_stat`: os.fstat() of the input, when it is a file: refuse a destination that is the input
    itself (under any name), checked with the same single stat that checks the destination.

    Writes go straight to the descriptor (os.write), with no file object in between: trees of small
    files pay for one system call per write and nothing else."""

    def __init__(self, dest: Path | str, *, force: bool, private: bool,
                 source_stat: os.stat_result | None = None) -> None:
        self.dest = dest
        self.force = force
        self.private = private
        try:
            st = os.stat(dest)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is not None and source_stat is not None and os.path.samestat(st, source_stat):
            raise UsageError("output would overwrite the input")
        if st is not None:
            refuse_special_file(dest, st=st)
        if st is not None and not force:
            raise UsageError(f"{dest} exists; use --force to overwrite it, or choose another --out")
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{dest} is a directory")
        parent = os.path.dirname(dest) or "."  # strings, not Path objects: trees have many files
        self.parent = parent
        self.tmp: str | None = None
        self._spills: list = []
        fd = -1
        if _HAVE_TMPFILE:
            # Unnamed until commit, so nobody can open it meanwhile: create it with its final mode (the
            # umask applies) and save a chmod per file.
            try:
                fd = os.open(parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600 if private else 0o666)
            except OSError:
                fd = -1  # filesystem without O_TMPFILE: fall back to a named file
        if fd < 0:
            import tempfile  # only here and in spill(): it loads shutil, random, bz2, lzma (2-3 ms at start-up)

            try:
                fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=TMP_SUFFIX, dir=parent)
            except OSError as exc:
                raise UsageError(f"cannot write in {parent} ({exc.strerror})") from None
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def write(self, data) -> int:
        """Write all of `data`, bytes or a byte view (a file may accept less than asked, e.g. near a full
        disk)."""
        total = len(data)
        n = os.write(self.fd, data)
        if n < total:
            view = memoryview(data)[n:]
            while view:
                view = view[os.write(self.fd, view):]
        return total

    def spill(self) -> BinaryIO:
        """A private anonymous file in the destination's folder (for segments verified at their end)."""
        import tempfile

        f = tempfile.TemporaryFile(dir=self.parent)
        self._spills.append(f)
        return f

    def commit(self) -> None:
        if self.tmp is None:
            self._link_anonymous()
            return
        if not self.private:  # mkstemp made it 0600: give it the mode a new file gets
            os.fchmod(self.fd, 0o666 & ~_umask())
        self._close()
        if self.force:
            try:
                replace_file(self.tmp, self.dest)
            except UsageError:
                self.abort()
                raise
        else:
            try:
                os.link(self.tmp, self.dest)
            except FileExistsError:
                self.abort()
                raise UsageError(f"{self.dest} appeared while writing; nothing was overwritten (use --force)") from None
            except OSError:
                # Filesystems without hard links: fall back to a checked rename.
                if os.path.lexists(self.dest):
                    self.abort()
                    raise UsageError(f"{self.dest} exists; use --force to overwrite it") from None
                os.replace(self.tmp, self.dest)
                self._close_spills()
                return
            os.unlink(self.tmp)
        self._close_spills()

    def _link_anonymous(self) -> None:
        """linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: the documented way to name an O_TMPFILE file.
        (os.link only passes that flag when a dir_fd is given: the source side uses an open /proc/self/fd
        folder, kept for the process, so naming a file costs one system call.)"""
        fds, name = _proc_fds(), str(self.fd)
        dest = os.fspath(self.dest)
        try:
            if self.force:
                staged = os.path.join(self.parent, f".{os.path.basename(dest)}.{os.getpid()}.{id(self)}{TMP_SUFFIX}")
                os.link(name, staged, src_dir_fd=fds, follow_symlinks=True)
                try:
                    replace_file(staged, dest)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(staged)
                    raise
            else:
                try:
                    os.link(name, dest, src_dir_fd=fds, follow_symlinks=True)
                except FileExistsError:
                    raise UsageError(f"{self.dest} appeared while writing; nothing was overwritten "
                                     "(use --force)") from None
        finally:
            self._close()
            self._close_spills()

    def _close_spills(self) -> None:
        for f in self._spills:
            with contextlib.suppress(OSError):
                f.close()

    def _close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._close()
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
        self._close_spills()

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
