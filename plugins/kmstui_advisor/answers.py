"""Answer files: read with tomllib, written with tomli-w (readable names, every question answered), and
the advisor's other outputs, written atomically so a failure never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from kmstui.commands.args import refuse_special_file, replace_file
from kmstui.errors import UsageError
from kmstui_advisor import datafiles
from kmstui_advisor.questions import normalize, readable


def load_answers(path: str | Path) -> dict[str, Any]:
    """The raw table in an answer file (checked later by `normalize`), or UsageError saying what is wrong."""
    return datafiles.read_user_toml(path, "--answers", "answer file", UsageError)


def dump_answers(answers: Mapping[str, Any]) -> str:
    """TOML text of the answers under their readable names, defaults filled in."""
    return tomli_w.dumps(readable(normalize(answers)))


def check_target(path: str | Path, *, force: bool, what: str) -> Path:
    """UsageError unless `path` can be written: its folder exists, it is not a folder, and it does not
    exist yet unless force. Checked for every output before any is written, so a bad second path leaves
    no first file behind."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what}: {p} is a folder; give a file name")
    refuse_special_file(p, what, dash=False)
    if p.exists() and not force:
        raise UsageError(f"{what}: {p} exists; pass --force to overwrite it")
    if not p.parent.is_dir():
        raise UsageError(f"{what}: folder {p.parent} does not exist")
    return p


def write_atomic(path: str | Path, text: str, *, force: bool, what: str) -> Path:
    """Write `text` to `path` through a temporary file and os.replace; refuse to overwrite without force."""
    p = check_target(path, force=force, what=what)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        replace_file(tmp, p, what, dash=False)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
