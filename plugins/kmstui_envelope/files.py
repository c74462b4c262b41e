"""Output files that appear whole or not at all.

Everything is written to a private (0600) file beside the destination (same filesystem) and moved into
place only when the caller commits, i.e. after the whole message authenticated. On Linux that file is an
unnamed O_TMPFILE: it has no name until it is linked, so even a SIGKILL or a crash leaves nothing behind,
and creating it is one metadata operation instead of three (it matters for trees of small files).
Elsewhere a named temporary file is used and removed on error or Ctrl-C. Without --force the final step
is link(), which fails if the destination appeared meanwhile, so an existing file is never replaced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from kmstui.errors import UsageError

TMP_SUFFIX = ".kmstui-part"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    def __init__(self, dest: Path, *, force: bool, private: bool) -> None:
        self.dest = dest
        self.force = force
        self.private = private
        if dest.exists() and not force:
            raise UsageError(f"{dest} exists; use --force to overwrite it, or choose another --out")
        if dest.is_dir():
            raise UsageError(f"{dest} is a directory")
        parent = dest.parent if str(dest.parent) else Path(".")
        self.parent = parent
        self.tmp: Path | None = None
        self._spills: list = []
        fd = -1
        if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
            try:
                fd = os.open(parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
            except OSError:
                fd = -1  # filesystem without O_TMPFILE: fall back to a named file
        if fd < 0:
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=TMP_SUFFIX, dir=parent)
            except OSError as exc:
                raise UsageError(f"cannot write in {parent} ({exc.strerror})") from None
            self.tmp = Path(tmp)
        self.file: BinaryIO = os.fdopen(fd, "wb", buffering=0)

    def write(self, data) -> int:
        """Write all of `data` (a raw file may accept less than asked, e.g. near a full disk)."""
        view = memoryview(data)
        total = len(view)
        while view:
            n = self.file.write(view)
            view = view[n:]
        return total

    def spill(self) -> BinaryIO:
        """A private anonymous file in the destination's folder (for segments verified at their end)."""
        f = tempfile.TemporaryFile(dir=self.parent)
        self._spills.append(f)
        return f

    def commit(self) -> None:
        if not self.private:
            os.fchmod(self.file.fileno(), 0o666 & ~_umask())
        if self.tmp is None:
            self._link_anonymous()
            return
        self.file.close()
        if self.force:
            os.replace(self.tmp, self.dest)
        else:
            try:
                os.link(self.tmp, self.dest)
            except FileExistsError:
                self.abort()
                raise UsageError(f"{self.dest} appeared while writing; nothing was overwritten (use --force)") from None
            except OSError:
                # Filesystems without hard links: fall back to a checked rename.
                if self.dest.exists():
                    self.abort()
                    raise UsageError(f"{self.dest} exists; use --force to overwrite it") from None
                os.replace(self.tmp, self.dest)
                return
            os.unlink(self.tmp)

    def _link_anonymous(self) -> None:
        """linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: the documented way to name an O_TMPFILE file.
        (os.link only passes that flag when a dir_fd is given, hence the directory descriptor.)"""
        source = f"/proc/self/fd/{self.file.fileno()}"
        dirfd = os.open(self.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if self.force:
                staged = f".{self.dest.name}.{os.getpid()}.{id(self)}{TMP_SUFFIX}"
                os.link(source, staged, dst_dir_fd=dirfd, follow_symlinks=True)
                os.replace(staged, self.dest.name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            else:
                try:
                    os.link(source, self.dest.name, dst_dir_fd=dirfd, follow_symlinks=True)
                except FileExistsError:
                    raise UsageError(f"{self.dest} appeared while writing; nothing was overwritten "
                                     "(use --force)") from None
        finally:
            os.close(dirfd)
            self.file.close()
            self._close_spills()

    def _close_spills(self) -> None:
        for f in self._spills:
            with contextlib.suppress(OSError):
                f.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
        self._close_spills()

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
