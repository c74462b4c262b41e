"""Theme files: parsing, validation, user themes overriding shipped ones, and the saved choice."""

from __future__ import annotations

import os
import stat
import tomllib

import pytest

from kmstui.config import Config
from kmstui.errors import ConfigError, UsageError
from kmstui.themes import (active_theme, builtin_themes_dir, load_themes, parse_theme, save_theme_choice)


def test_shipped_themes_load_and_style_both_faces():
    themes, errors = load_themes(Config.load())
    assert errors == []
    assert {"dark", "light", "high-contrast"} <= set(themes)
    assert themes["light"].dark is False and themes["dark"].dark is True
    style = themes["high-contrast"].prompt_style()
    # The file's own [prompt] entries win over the ones derived from its colours.
    assert style["completion-menu.completion.current"] == "bg:#ffff00 #000000 bold"
    assert style["bottom-toolbar"].startswith("noreverse")
    assert builtin_themes_dir().name in ("themes", "_themes")


def test_every_prompt_style_parses_with_prompt_toolkit():
    from prompt_toolkit.styles import Style

    for spec in load_themes(Config.load())[0].values():
        Style.from_dict(spec.prompt_style())  # raises on a malformed style string


@pytest.mark.parametrize("text, problem", [
    ('[colors]\nsecondary = "#000000"', "needs at least 'primary'"),
    ('[colors]\nprimary = "blue"', "not a #rgb or #rrggbb"),
    ('[colors]\nprimary = "#123456"\nprimray = "#000000"', "unknown colour(s) primray"),
    ('dark = "yes"\n[colors]\nprimary = "#123456"', "'dark' must be true or false"),
    ('[colors]\nprimary = "#123456"\n[prompt]\ncompletion-menu.completion = "bold"', "quote keys that contain dots"),
    ('[colors\nprimary = "#123456"', "not valid TOML"),
])
def test_bad_theme_files_name_the_problem(text, problem):
    with pytest.raises(ConfigError) as info:
        parse_theme(text, name="broken")
    assert problem in str(info.value) and "broken" in str(info.value)


def test_user_themes_override_and_broken_ones_are_reported(kmstui_home):
    config = Config.load()
    folder = config.paths.themes_dir
    folder.mkdir(parents=True)
    (folder / "dark.toml").write_text('name = "dark"\ndescription = "mine"\n[colors]\nprimary = "#abcdef"\n')
    (folder / "solar.toml").write_text('[colors]\nprimary = "#b58900"\n')
    (folder / "bad.toml").write_text('[colors]\nprimary = "nope"\n')
    themes, errors = load_themes(config)
    assert themes["dark"].source == "user" and themes["dark"].colors == {"primary": "#abcdef"}
    assert themes["solar"].name == "solar"
    assert len(errors) == 1 and "bad.toml" in errors[0]


def test_choice_is_saved_without_losing_other_settings(kmstui_home, monkeypatch):
    config = Config.load()
    config.paths.config_dir.mkdir(parents=True)
    config.paths.config_file.write_text('default_profile = "dev"\n[profiles.dev]\nbackend = "local"\n')
    config = Config.load()
    save_theme_choice(config, "light")
    data = tomllib.loads(config.paths.config_file.read_text())
    assert data["theme"] == "light" and data["profiles"]["dev"]["backend"] == "local"
    assert active_theme(Config.load())[0].name == "light"
    monkeypatch.setenv("KMSTUI_THEME", "high-contrast")
    assert active_theme(Config.load())[0].name == "high-contrast"


def test_unknown_configured_theme_falls_back_with_a_message(kmstui_home, monkeypatch):
    monkeypatch.setenv("KMSTUI_THEME", "nosuch")
    spec, errors = active_theme(Config.load())
    assert spec.name == "dark" and any("'nosuch' not found" in e for e in errors)


def test_a_symlinked_config_file_is_edited_where_it_points(kmstui_home, tmp_path):
    """Dotfile managers (stow, chezmoi, home-manager) keep config.toml as a link into a repository: saving the
    theme edits that file, comments included, and the link stays a link."""
    config = Config.load()
    config.paths.config_dir.mkdir(parents=True)
    real = tmp_path / "dotfiles" / "kmstui.toml"
    real.parent.mkdir()
    real.write_text('# mine\ndefault_profile = "local"\n')
    config.paths.config_file.symlink_to(real)
    save_theme_choice(Config.load(), "light")
    assert config.paths.config_file.is_symlink() and config.paths.config_file.resolve() == real
    assert real.read_text().startswith("# mine\n") and tomllib.loads(real.read_text())["theme"] == "light"
    assert sorted(p.name for p in real.parent.iterdir()) == ["kmstui.toml"]  # no temporary file left


def test_a_config_file_that_became_a_named_pipe_while_saving_is_not_replaced(kmstui_home, monkeypatch):
    """The file is checked again just before the rename: a named pipe (or device, or socket) that took its
    place meanwhile is refused in one line and left as it is, and the new text is removed."""
    import tomlkit

    config = Config.load()
    config.paths.config_dir.mkdir(parents=True)
    config.paths.config_file.write_text('default_profile = "local"\n')
    dumps = tomlkit.dumps

    def swap_then_dump(document):
        config.paths.config_file.unlink()
        os.mkfifo(config.paths.config_file)
        return dumps(document)

    monkeypatch.setattr(tomlkit, "dumps", swap_then_dump)
    with pytest.raises(UsageError, match="is a named pipe, not a regular file"):
        save_theme_choice(Config.load(), "light")
    assert stat.S_ISFIFO(os.lstat(config.paths.config_file).st_mode)
    assert sorted(p.name for p in config.paths.config_dir.iterdir()) == ["config.toml"]


@pytest.mark.parametrize("link", ["loop", "into-a-missing-folder"])
def test_a_config_link_that_cannot_be_followed_is_refused_and_left_as_it_is(kmstui_home, tmp_path, link):
    """A looping link, or one into a folder that does not exist (an unmounted disk), is reported: the link is
    neither replaced by a regular file nor followed into folders created for it."""
    config = Config.load()
    config.paths.config_dir.mkdir(parents=True)
    if link == "loop":
        (config.paths.config_dir / "other.toml").symlink_to(config.paths.config_file)
        config.paths.config_file.symlink_to(config.paths.config_dir / "other.toml")
        says = "cannot follow its link"
    else:
        config.paths.config_file.symlink_to(tmp_path / "unmounted" / "dots" / "config.toml")
        says = "in a folder that does not exist"
    with pytest.raises(ConfigError, match=says):
        save_theme_choice(Config.load(), "light")
    assert config.paths.config_file.is_symlink() and not (tmp_path / "unmounted").exists()


def test_a_config_file_linked_to_the_null_device_reads_as_empty(kmstui_home):
    """`ln -s /dev/null config.toml` is a way to say "no settings"; it is not refused as a device."""
    config = Config.load()
    config.paths.config_dir.mkdir(parents=True)
    config.paths.config_file.symlink_to(os.devnull)
    assert Config.load().data == {}
