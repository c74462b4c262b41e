"""Answer files: read with tomllib, written with tomli-w (readable names, every question answered), and
the advisor's other outputs, written atomically so a failure never leaves half a file."""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from kmstui.commands.values import MAX_INPUT_BYTES, read_file
from kmstui.errors import UsageError
from kmstui_advisor.questions import normalize, readable


def load_answers(path: str | Path) -> dict[str, Any]:
    """The raw table in an answer file (checked later by `normalize`), or UsageError saying what is wrong.
    Read through the core's bounded reader (docs/inputs.md: whole files read into memory, 64 MiB)."""
    p = Path(path)
    try:
        text = read_file(p, MAX_INPUT_BYTES, f"--answers {p}").decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"--answers: file {p} not found") from None
    except IsADirectoryError:
        raise UsageError(f"--answers: {p} is a folder; give the answer file (TOML)") from None
    except PermissionError:
        raise UsageError(f"--answers: no permission to read {p}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--answers: {p} is not UTF-8 text; an answer file is TOML") from None
    except OSError as exc:
        raise UsageError(f"--answers: cannot read {p} ({exc.strerror or exc})") from None
    except ValueError:  # "embedded null byte"
        raise UsageError("--answers: a file name cannot contain a NUL character") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--answers: {p} is not valid TOML ({exc}); see docs/advisor.md for the format") from None


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
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
