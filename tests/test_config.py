"""Configuration: precedence and the config file's own mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from kmstui.config import Config, Paths


def test_an_unknown_setting_is_reported_not_silently_ignored(kmstui_home, capsys):
    paths = Paths.discover()
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text('default_profile = "local"\n[project.entry-points.kmstui]\nx = "y"\n')
    config = Config.load(paths)
    err = capsys.readouterr().err
    assert "unknown setting 'project'" in err and "default_profile" in err
    assert config.default_profile == "local"


def test_profile_precedence_environment_over_file(kmstui_home, monkeypatch):
    paths = Paths.discover()
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text('default_profile = "prod"\n[profiles.prod]\nbackend = "aws"\n'
                                 '[profiles.lab]\nbackend = "local"\n')
    assert Config.load(paths).default_profile == "prod"
    monkeypatch.setenv("KMSTUI_PROFILE", "lab")
    assert Config.load(paths).profile().backend == "local"


def test_without_kmstui_home_or_xdg_runtime_dir_the_runtime_folder_is_per_user_in_the_temp_dir(monkeypatch):
    monkeypatch.delenv("KMSTUI_HOME", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert str(Paths.discover().runtime_dir) == os.path.join(tempfile.gettempdir(), f"kmstui-{os.getuid()}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    assert str(Paths.discover().runtime_dir) == "/run/user/1234/kmstui"


@pytest.mark.parametrize("make, kind", [(os.mkfifo, "a named pipe"), (os.mkdir, "a folder")], ids=["fifo", "folder"])
def test_a_config_file_that_is_not_a_regular_file_is_refused_in_one_line_not_waited_on(kmstui_home, make, kind):
    """A named pipe where config.toml belongs used to hold every command at start-up (reading it waits for a
    writer); now every command says what is wrong with it, at once."""
    paths = Paths.discover()
    paths.config_dir.mkdir(parents=True)
    make(paths.config_file)
    proc = subprocess.run([sys.executable, "-m", "kmstui", "key", "list"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and f"{paths.config_file} is {kind}, not a regular file" in proc.stderr
