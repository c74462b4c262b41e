"""Reading TOML: the data files shipped inside the package (data/), and the user's own (answers, facts)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from kmstui.commands.values import MAX_INPUT_BYTES, read_file


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """The parsed data file `name` (e.g. "rules.toml"); a broken file is a packaging bug, so it raises."""
    text = resources.files("kmstui_advisor").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def read_user_toml(path: str | Path, what: str, kind: str, error: type[Exception]) -> dict[str, Any]:
    """The parsed TOML file a user named with `what` (e.g. "--answers"), read through the core's bounded
    reader (docs/inputs.md: whole files read into memory, 64 MiB); `error` with one line saying what is wrong
    and what `kind` of file is wanted ("answer file")."""
    p = Path(path)
    try:
        text = read_file(p, MAX_INPUT_BYTES, f"{what} {p}").decode("utf-8")
    except FileNotFoundError:
        raise error(f"{what}: file {p} not found") from None
    except IsADirectoryError:
        raise error(f"{what}: {p} is a folder; give the {kind} (TOML)") from None
    except PermissionError:
        raise error(f"{what}: no permission to read {p}") from None
    except UnicodeDecodeError:
        raise error(f"{what}: {p} is not UTF-8 text; an {kind} is TOML") from None
    except OSError as exc:
        raise error(f"{what}: cannot read {p} ({exc.strerror or exc})") from None
    except ValueError:  # "embedded null byte"
        raise error(f"{what}: a file name cannot contain a NUL character") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what}: {p} is not valid TOML ({exc}); see docs/advisor.md for the format") from None
