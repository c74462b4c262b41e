"""REPL history that never keeps a line carrying a secret, in memory or on disk.

The decision (kmstui.lines.has_secret) is core, so the TUI console filters the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from prompt_toolkit.history import FileHistory


class SecretFilteringHistory(FileHistory):
    """A FileHistory (private file, 0600) that drops lines for which `is_secret(line)` is true."""

    def __init__(self, path: Path, is_secret: Callable[[str], bool]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        self.is_secret = is_secret
        super().__init__(str(path))

    def append_string(self, string: str) -> None:
        if not string.strip() or self.is_secret(string):
            return
        super().append_string(string)
