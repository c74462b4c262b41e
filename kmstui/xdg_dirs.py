"""kmstui's config, data and state folders on XDG platforms, found without importing platformdirs.

Why not platformdirs here (a deliberate exception to "use the library", like SigV4 with botocore as the
oracle): every command without KMSTUI_HOME (the README flow) asks for these folders, and `platformdirs.unix`
imports tempfile at module level, and with it shutil, bz2, lzma, random and some twenty other modules: about
4 ms of a 75 ms `kmstui envelope encrypt`. On the platforms platformdirs serves with its Unix class (Linux, the
BSDs, anything that is not Windows, macOS, iOS or an Android app) the three folders are a few lines of the XDG
Base Directory spec, which this module follows exactly as platformdirs does (its `_xdg.py`: `xdg_dir` and
`expand_user`):

- `$XDG_CONFIG_HOME`, `$XDG_DATA_HOME`, `$XDG_STATE_HOME` are used only when absolute, taken verbatim (no
  strip, no `~`): "All paths set in these environment variables must be absolute. If an implementation
  encounters a relative path in any of these variables it should consider the path invalid and ignore it."
- otherwise `~/.config`, `~/.local/share`, `~/.local/state`, with `~` from an absolute HOME, or from the
  password database when HOME is unset, empty or relative.

Anything this module cannot answer exactly (another platform, an Android app, a home that cannot be found)
returns None and the caller asks platformdirs, so kmstui never disagrees with it; tests/test_xdg_dirs.py
compares the two over a matrix of environments, platformdirs being the oracle. These are the rules of
platformdirs 4.14.3 and later (pyproject.toml's floor): earlier releases took relative XDG values and a
relative HOME as they were.
"""

from __future__ import annotations

import os
import sys

APP = "kmstui"
# (environment variable, default under the home folder) for config, data and state, as platformdirs' Unix class.
_FOLDERS = (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"), ("XDG_STATE_HOME", ".local/state"))


def user_dirs() -> tuple[str, str, str] | None:
    """kmstui's (config, data, state) folders as platformdirs' Unix class gives them, or None where platformdirs
    must answer: not a platform it serves with that class, or no absolute home folder to be found."""
    if not _platformdirs_uses_unix():
        return None
    found = []
    for variable, default in _FOLDERS:
        base = os.environ.get(variable, "")
        if not os.path.isabs(base):
            base = _under_home(default)
            if base is None:
                return None
        found.append(os.path.join(base, APP))
    return found[0], found[1], found[2]


def _platformdirs_uses_unix() -> bool:
    """True where `platformdirs.PlatformDirs` is its Unix class (platformdirs/__init__.py): not Windows,
    macOS or iOS, and not what its `_is_android_app` might take for an Android app (left to platformdirs)."""
    if sys.platform in ("win32", "darwin", "ios") or hasattr(sys, "getandroidapilevel"):
        return False
    return not (os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system")


def _under_home(folder: str) -> str | None:
    """`~/folder` as platformdirs' `expand_user` makes it: os.path.expanduser when HOME is unset or absolute,
    the password database's home when HOME is set but empty or relative; None when that is not absolute."""
    home = os.environ.get("HOME")
    if home is not None and not os.path.isabs(home):
        try:
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        except (ImportError, KeyError):
            return None
        expanded = home.rstrip("/") + "/" + folder
    else:
        expanded = os.path.expanduser("~/" + folder)
    return expanded if os.path.isabs(expanded) else None
