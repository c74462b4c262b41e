"""Output files that appear whole or not at all.

Everything is written to a private temporary file beside the destination (same filesystem, mode 0600),
and moved into place only when the caller commits, i.e. after the whole message authenticated. Without
--force the move uses link()+unlink(), which fails if the destination appeared meanwhile, so an existing
file is never replaced by a race. Ctrl-C or any error removes the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from kmstui.errors import UsageError

TMP_SUFFIX = ".kmstui-part"


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
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=TMP_SUFFIX, dir=parent)
        except OSError as exc:
            raise UsageError(f"cannot write in {parent} ({exc.strerror})") from None
        self.tmp = Path(tmp)
        self.file: BinaryIO = os.fdopen(fd, "wb", buffering=0)
        self._spills: list = []

    def write(self, data) -> int:
        return self.file.write(data)

    def spill(self) -> BinaryIO:
        """A private anonymous file in the destination's folder (for segments verified at their end)."""
        f = tempfile.TemporaryFile(dir=self.tmp.parent)
        self._spills.append(f)
        return f

    def commit(self) -> None:
        self.file.close()
        if not self.private:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)
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

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)
        for f in self._spills:
            with contextlib.suppress(OSError):
                f.close()

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
