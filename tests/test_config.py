"""Configuration: precedence and the config file's own mistakes."""

from __future__ import annotations

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
