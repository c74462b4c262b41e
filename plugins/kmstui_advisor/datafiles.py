"""Reading the TOML data files shipped inside the package (data/)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """The parsed data file `name` (e.g. "rules.toml"); a broken file is a packaging bug, so it raises."""
    text = resources.files("kmstui_advisor").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)
