"""Hand text to the user's editor and read it back: multi-line JSON such as key policies.

Plain subprocess, no UI library, so the CLI on a terminal can offer it too (`policy put --edit`). Faces
install `edit_text` as `session.edit_text`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path


def editor_command() -> list[str]:
    """$VISUAL, then $EDITOR, then the first of sensible-editor, nano, vi found on PATH."""
    for var in ("VISUAL", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            return shlex.split(value)
    for name in ("sensible-editor", "nano", "vi"):
        found = shutil.which(name)
        if found:
            return [found]
    return []


def edit_text(initial: str, suffix: str = ".txt") -> str | None:
    """Open `initial` in the editor; the edited text, or None when there is no editor, it failed, or the
    user left the file empty (cancel). The temporary file is private (0600) and removed afterwards."""
    command = editor_command()
    if not command:
        return None
    fd, name = tempfile.mkstemp(prefix="kmstui-edit-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(initial)
        try:
            code = subprocess.call([*command, str(path)])
        except OSError:
            return None
        if code != 0:
            return None
        text = path.read_text(encoding="utf-8")
        return text if text.strip() else None
    finally:
        path.unlink(missing_ok=True)
