"""A plain (non-editable) install ships the plugins and the themes: build the wheel, install it with
--no-deps into a fresh venv that borrows the dependencies already installed here, run the installed
`kmstui`. Needs the build backend (hatchling) from the package index, hence the `packaging` marker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGINS = {"envelope", "whatif", "grants", "advisor"}

pytestmark = pytest.mark.packaging


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="the 'build' package is needed (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (found,) = out.glob("kmstui-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies come from this environment's site-packages, appended after the venv's own (a plain path
    # entry: this environment's .pth files, such as the editable kmstui, are not processed there).
    (site / "_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                           "--no-compile", str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return venv


def test_wheel_contains_plugins_and_themes(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for plugin in PLUGINS:
        assert f"kmstui_{plugin}/hookimpl.py" in names
    assert any(n.startswith("kmstui/_themes/") and n.endswith(".toml") for n in names)
    assert "kmstui/cli.py" in names and "kmstui/shell/app.py" in names


def test_installed_kmstui_lists_the_plugins_and_has_themes(installed, tmp_path):
    env = {**os.environ, "KMSTUI_HOME": str(tmp_path / "home"), "PYTHONPATH": ""}
    env.pop("KMSTUI_PLUGINS", None)
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import kmstui, kmstui_envelope, pathlib; p = pathlib.Path(kmstui.__file__).parent; "
                            "print(p); print((p / '_themes').is_dir()); print(kmstui_envelope.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    pkg, themes, envelope = where.stdout.split()
    assert pkg.startswith(str(installed)) and themes == "True", where.stderr
    assert envelope.startswith(str(installed))  # the plugin came from the wheel, not the source tree
    proc = subprocess.run([str(installed / "bin" / "kmstui"), "plugins", "--output", "json"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = {p["Name"]: p for p in json.loads(proc.stdout)["Plugins"]}
    assert PLUGINS <= set(loaded), proc.stderr
    assert all(loaded[name]["Version"] for name in PLUGINS)
