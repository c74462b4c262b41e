"""The core imports no UI library and no web server: import every core module (and run a command) in a fresh
interpreter and look at sys.modules. This also catches imports hidden inside functions that run at import
time. The faces that may import them: kmstui/tui/ (Textual), kmstui/shell/ (prompt_toolkit) and
kmstui/server/ (uvicorn, for `kmstui serve`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kmstui

UI = ("textual", "prompt_toolkit")
WEB = ("uvicorn", "httptools", "h11", "starlette", "aiohttp", "flask", "werkzeug")
PROBE = r"""
import importlib, json, pkgutil, sys
import kmstui
failed = {}
names = []
for info in pkgutil.walk_packages(kmstui.__path__, "kmstui."):
    if info.name.startswith(("kmstui.shell", "kmstui.tui", "kmstui.server")) or info.name == "kmstui.__main__":
        continue
    names.append(info.name)
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
import io
from kmstui.session import Session
from kmstui.runner import Runner
session = Session()
session.stdout = io.BytesIO()
for words in (["help"], ["help", "key", "create"], ["plugins"], ["config", "show"], ["backend", "list"],
              ["version", "--output", "yaml"], ["help", "serve"]):
    Runner(session, stdout_tty=False).run(words)
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"names": names, "failed": failed, "loaded": loaded}))
"""


def probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                         cwd=Path(kmstui.__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_imports_no_ui_library():
    result = probe()
    assert "kmstui.session" in result["names"] and "kmstui.completion" in result["names"]
    assert result["failed"] == {}
    assert not [m for m in UI if m in result["loaded"]], result["loaded"]
    assert not [m for m in WEB if m in result["loaded"]], result["loaded"]


def test_shell_is_the_one_that_brings_prompt_toolkit():
    out = subprocess.run([sys.executable, "-c", "import kmstui.shell.app, sys; print('prompt_toolkit' in sys.modules)"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True"  # the probe above would notice if the core pulled it in


def test_server_is_the_one_that_brings_the_web_server():
    code = "import kmstui.server.run, sys; print('uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"  # imported when `kmstui serve` runs, not even when its module loads
    code = "import kmstui.server.handler, sys; print(sorted(m for m in %r if m in sys.modules))" % (WEB,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr  # the protocol layer is plain Python


def test_server_state_and_access_log_readers_are_plain_python():
    """The TUI's server indicator and request tail read through these two core-side modules: no UI library,
    no web server, and not the rest of the server either."""
    code = ("import kmstui.server.status, kmstui.server.accesslog, sys; "
            "print(sorted(m for m in %r if m in sys.modules), 'kmstui.server.handler' in sys.modules)" % (UI + WEB,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[] False", out.stderr
