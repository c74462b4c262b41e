"""kmstui/xdg_dirs.py finds the folders platformdirs would, without importing it (issue 13).

platformdirs is the oracle: every environment below is given to both, and they must agree exactly, or
xdg_dirs must step aside (None) where platformdirs then answers or fails on its own. The rules followed are
the XDG Base Directory spec's: "All paths set in these environment variables must be absolute. If an
implementation encounters a relative path in any of these variables it should consider the path invalid and
ignore it." (https://specifications.freedesktop.org/basedir/latest/), as platformdirs applies them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager, nullcontext
from itertools import product
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from platformdirs.unix import Unix

from kmstui import xdg_dirs

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="platformdirs' Unix class platforms")

VARIABLES = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
UNSET = None
# Unset, empty, blank, absolute (plain, with blanks around it, the root, doubled and trailing slashes),
# relative, and with a `~` the spec does not expand.
XDG_VALUES = (UNSET, "", "   ", "/srv/xdg", " /srv/xdg", "/srv/xdg ", "/", "//srv//xdg/", "/srv/x\u00e9 dir",
              "rel/dir", ".", "~/xdg", "~", "$HOME/xdg")
HOMES = (UNSET, "", "  ", "rel/home", "~", "/home/ann", "/home/ann/", "/", "//", " /home/ann")
# root, a user with a password-database entry (nobody), and a uid without one.
UIDS = (0, 65534, 54321)


@contextmanager
def environment(values: dict[str, str | None], uid: int, pw_dir: str | None = None):
    """os.environ with `values` set (None: removed) and os.getuid() answering `uid`, restored afterwards;
    with `pw_dir`, the password database gives that home folder for `uid` (and knows no other user)."""
    def getpwuid(asked):
        if asked != uid:
            raise KeyError(asked)
        return SimpleNamespace(pw_dir=pw_dir)

    with (mock.patch.dict(os.environ), mock.patch("os.getuid", return_value=uid),
          mock.patch("pwd.getpwuid", getpwuid) if pw_dir is not None else nullcontext()):
        for name in (*VARIABLES, "HOME", "ANDROID_DATA", "ANDROID_ROOT"):
            os.environ.pop(name, None)
        for name, value in values.items():
            if value is not None:
                os.environ[name] = value
        yield


def oracle() -> tuple[str, str, str] | RuntimeError:
    """platformdirs' own answer (its Unix class, what PlatformDirs is here), or the error it raises."""
    dirs = Unix("kmstui")
    try:
        return dirs.user_config_dir, dirs.user_data_dir, dirs.user_state_dir
    except RuntimeError as exc:
        return exc


def assert_agrees(values: dict[str, str | None], uid: int, pw_dir: str | None = None) -> None:
    with environment(values, uid, pw_dir):
        ours, theirs = xdg_dirs.user_dirs(), oracle()
    if ours is None:
        # Stepping aside is only allowed where platformdirs cannot name a home either.
        assert isinstance(theirs, RuntimeError), f"{values} uid {uid}: fast path gave up, platformdirs says {theirs}"
    else:
        assert ours == theirs, f"{values} uid {uid} pw_dir {pw_dir!r}"


def test_agrees_with_platformdirs_over_a_matrix_of_environments():
    n = len(XDG_VALUES)
    for i, home, uid in product(range(n), HOMES, UIDS):
        # Each variable meets every value, in a different combination with the other two.
        values = dict(zip(VARIABLES, (XDG_VALUES[i], XDG_VALUES[(i + 3) % n], XDG_VALUES[(i + 7) % n])))
        assert_agrees({**values, "HOME": home}, uid)


def test_agrees_with_platformdirs_whatever_home_the_password_database_gives():
    # Used when HOME is unset, empty or relative: a trailing slash, the root, a relative or empty entry.
    for pw_dir, home in product(("/home/bo", "/home/bo/", "/", "//", "", "rel", " /home/bo"), HOMES):
        assert_agrees({"HOME": home, "XDG_DATA_HOME": "/d"}, 4242, pw_dir)


def test_the_usual_cases_give_the_xdg_folders():
    with environment({"HOME": "/home/ann"}, 1000):
        assert xdg_dirs.user_dirs() == ("/home/ann/.config/kmstui", "/home/ann/.local/share/kmstui",
                                        "/home/ann/.local/state/kmstui")
    with environment({"HOME": "/home/ann", "XDG_CONFIG_HOME": "/cfg", "XDG_DATA_HOME": "data",
                      "XDG_STATE_HOME": ""}, 1000):
        # a relative XDG_DATA_HOME is ignored, as the spec says
        assert xdg_dirs.user_dirs() == ("/cfg/kmstui", "/home/ann/.local/share/kmstui", "/home/ann/.local/state/kmstui")


def test_a_home_that_cannot_be_found_is_left_to_platformdirs():
    # No HOME and no password-database entry: platformdirs refuses with its own message; we do not guess.
    with environment({}, 54321):
        assert xdg_dirs.user_dirs() is None
        with pytest.raises(RuntimeError, match="could not determine the home directory"):
            Unix("kmstui").user_config_dir
    with environment({"XDG_CONFIG_HOME": "/c", "XDG_DATA_HOME": "/d", "XDG_STATE_HOME": "/s"}, 54321):
        assert xdg_dirs.user_dirs() == ("/c/kmstui", "/d/kmstui", "/s/kmstui")  # no home needed


env_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(values=st.fixed_dictionaries({name: st.none() | env_text | env_text.map(lambda t: "/" + t)
                                     for name in (*VARIABLES, "HOME")}),
       uid=st.sampled_from(UIDS))
def test_agrees_with_platformdirs_for_arbitrary_values(values, uid):
    assert_agrees(values, uid)


@pytest.mark.parametrize("platform", ["linux", "freebsd14", "openbsd7", "netbsd10", "cygwin", "sunos5", "aix"])
def test_platforms_platformdirs_serves_with_its_unix_class_take_the_fast_path(platform, monkeypatch):
    monkeypatch.setattr(sys, "platform", platform)
    with environment({"HOME": "/home/ann", "XDG_STATE_HOME": "/st"}, 1000):
        assert xdg_dirs.user_dirs() == oracle()


@pytest.mark.parametrize("platform", ["win32", "darwin", "ios"])
def test_other_platforms_are_left_to_platformdirs(platform, monkeypatch):
    monkeypatch.setattr(sys, "platform", platform)
    with environment({"HOME": "/home/ann"}, 1000):
        assert xdg_dirs.user_dirs() is None


def test_what_platformdirs_might_take_for_an_android_app_is_left_to_it(monkeypatch):
    with environment({"HOME": "/home/ann", "ANDROID_DATA": "/data", "ANDROID_ROOT": "/system"}, 1000):
        assert xdg_dirs.user_dirs() is None
    with environment({"HOME": "/home/ann", "ANDROID_DATA": "/data"}, 1000):
        assert xdg_dirs.user_dirs() == oracle()
    monkeypatch.setattr(sys, "getandroidapilevel", lambda: 34, raising=False)  # an Android build of Python
    with environment({"HOME": "/home/ann"}, 1000):
        assert xdg_dirs.user_dirs() is None


def test_paths_discover_without_kmstui_home_imports_neither_platformdirs_nor_tempfile(tmp_path):
    """A fresh process, as every one-shot command is: the folders come from xdg_dirs, and equal
    platformdirs' (asked afterwards in the same process)."""
    (tmp_path / "run").mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "KMSTUI_"))}
    env.update(HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path / "run"), XDG_DATA_HOME=str(tmp_path / "d"))
    script = (
        "import sys\n"
        "from kmstui.config import Paths\n"
        "p = Paths.discover()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('platformdirs', 'tempfile', 'shutil')))\n"
        "import platformdirs\n"
        "print((p.config_dir, p.data_dir, p.state_dir) == (platformdirs.user_config_path('kmstui'), "
        "platformdirs.user_data_path('kmstui'), platformdirs.user_state_path('kmstui')))\n"
        "print(p.data_dir, p.runtime_dir)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported, agrees, where = proc.stdout.splitlines()
    assert imported == "[]"
    assert agrees == "True"
    assert where == f"{tmp_path}/d/kmstui {tmp_path}/run/kmstui"
