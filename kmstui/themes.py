"""Theme files: one TOML file styles both faces (Textual colours for the TUI, prompt_toolkit style strings
for the REPL prompt and toolbar).

This module is core: it reads and validates the files and hands out plain data. The TUI turns a
`ThemeSpec` into a `textual.theme.Theme`; the REPL feeds `ThemeSpec.prompt_style()` to
`prompt_toolkit.styles.Style.from_dict`. The format is documented in docs/themes.md.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmstui.config import Config, read_settings_file
from kmstui.errors import ConfigError

DEFAULT_THEME = "dark"
THEME_ENV = "KMSTUI_THEME"

# Textual's base colours; only `primary` is required, Textual derives the rest.
COLOR_NAMES = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel", "boost",
               "warning", "error", "success")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_VARIABLE = re.compile(r"^[a-z][a-z0-9-]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ThemeSpec:
    """A parsed theme file."""

    name: str
    dark: bool
    colors: dict[str, str]
    variables: dict[str, str] = field(default_factory=dict)
    prompt: dict[str, str] = field(default_factory=dict)
    description: str = ""
    source: str = "builtin"  # "builtin" or "user"
    path: Path | None = None

    def color(self, name: str, fallback: str) -> str:
        return self.colors.get(name) or fallback

    def prompt_style(self) -> dict[str, str]:
        """prompt_toolkit style rules (class -> style string): derived from the colours, then the file's
        own [prompt] table on top."""
        fg = self.color("foreground", "#e0e0e0" if self.dark else "#1e1e1e")
        bg = self.color("panel", self.color("surface", "#24292f" if self.dark else "#e8e8e8"))
        primary = self.colors["primary"]
        accent = self.color("accent", primary)
        derived = {
            "prompt": f"{primary} bold",
            "prompt.profile": f"{accent} bold",
            "prompt.backend": primary,
            "prompt.sealed": self.color("warning", "#ffa62b") + " bold",
            "prompt.readonly": self.color("warning", "#ffa62b"),
            "prompt.arrow": fg,
            "bottom-toolbar": f"noreverse bg:{bg} {fg}",
            "bottom-toolbar.key": f"bg:{bg} {accent} bold",
            "completion-menu": f"bg:{bg} {fg}",
            "completion-menu.completion": f"bg:{bg} {fg}",
            "completion-menu.completion.current": f"bg:{primary} {self.color('background', '#000000')} bold",
            "completion-menu.meta.completion": f"bg:{bg} {fg} italic",
            "completion-menu.meta.completion.current": f"bg:{primary} {self.color('background', '#000000')}",
            "auto-suggestion": f"{fg} italic" if not self.dark else "#808080 italic",
            "error": self.color("error", "#ba3c5b") + " bold",
            "warning": self.color("warning", "#ffa62b"),
            "success": self.color("success", "#4ebf71"),
        }
        derived.update(self.prompt)
        return derived


def builtin_themes_dir() -> Path:
    """Shipped themes: kmstui/_themes in an installed wheel, REPO/themes in a source checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "_themes"
    return installed if installed.is_dir() else package.parent / "themes"


def parse_theme(text: str, *, name: str, source: str = "builtin", path: Path | None = None) -> ThemeSpec:
    """Parse and validate one theme file's text; ConfigError names the file and the problem."""
    where = str(path) if path else name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"theme {where}: not valid TOML ({exc})") from None
    name = str(data.get("name", name))
    if not _NAME.match(name):
        raise ConfigError(f"theme {where}: name '{name}' may use only letters, digits, '-', '_' and '.'")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ConfigError(f"theme {where}: 'dark' must be true or false")
    colors = _table(data, "colors", where)
    unknown = sorted(set(colors) - set(COLOR_NAMES))
    if unknown:
        raise ConfigError(f"theme {where}: unknown colour(s) {', '.join(unknown)}; allowed: {', '.join(COLOR_NAMES)}")
    if "primary" not in colors:
        raise ConfigError(f"theme {where}: [colors] needs at least 'primary'")
    for key, value in colors.items():
        if not _HEX.match(value):
            raise ConfigError(f"theme {where}: colour {key} = '{value}' is not a #rgb or #rrggbb hex colour")
    variables = _table(data, "variables", where)
    for key in variables:
        if not _VARIABLE.match(key):
            raise ConfigError(f"theme {where}: variable name '{key}' must be lower-case words joined by '-'")
    prompt = _table(data, "prompt", where)
    return ThemeSpec(name, dark, colors, variables, prompt, str(data.get("description", "")), source, path)


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"theme {where}: [{key}] must be a table of strings")
    for k, v in value.items():
        if isinstance(v, dict):
            raise ConfigError(f"theme {where}: [{key}] entry '{k}' is a table; quote keys that contain dots "
                              f'("{k}.{next(iter(v), "")}" = "...")')
        if not isinstance(v, str):
            raise ConfigError(f"theme {where}: [{key}] entry '{k}' must be a string")
    return dict(value)


def load_theme_file(path: Path, source: str = "user") -> ThemeSpec:
    try:
        text = read_settings_file(path, f"theme {path}")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"theme {path}: cannot read it ({exc})") from None
    return parse_theme(text, name=path.stem, source=source, path=path)


def load_themes(config: Config) -> tuple[dict[str, ThemeSpec], list[str]]:
    """Every shipped theme plus the user's (a user file with a shipped name overrides it), and a one-line
    error per file that failed to load (the others still load)."""
    themes: dict[str, ThemeSpec] = {}
    errors: list[str] = []
    for folder, source in ((builtin_themes_dir(), "builtin"), (config.paths.themes_dir, "user")):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                spec = load_theme_file(path, source)
            except ConfigError as exc:
                errors.append(str(exc))
                continue
            themes[spec.name] = spec
    return themes, errors


def configured_theme_name(config: Config) -> str:
    """The theme chosen by KMSTUI_THEME, else config.toml's `theme`, else the default."""
    return str(config.setting("theme", env=THEME_ENV, default=DEFAULT_THEME))


def active_theme(config: Config) -> tuple[ThemeSpec, list[str]]:
    """The configured theme, falling back to the default (with a message saying so) when it is unknown."""
    themes, errors = load_themes(config)
    wanted = configured_theme_name(config)
    if wanted in themes:
        return themes[wanted], errors
    errors.append(f"theme '{wanted}' not found (known: {', '.join(sorted(themes))}); using '{DEFAULT_THEME}'")
    if DEFAULT_THEME not in themes:
        raise ConfigError(f"the shipped themes are missing from {builtin_themes_dir()}; reinstall kmstui")
    return themes[DEFAULT_THEME], errors


def save_theme_choice(config: Config, name: str) -> Path:
    """Persist `theme = NAME` in config.toml (atomically), changing nothing else: the user's comments, order
    and layout are kept (tomlkit edits the document in place; rewriting parsed data would drop them).

    A config.toml that is a symbolic link (dotfile managers keep the real file in a repository) is edited
    where it points, so the link stays a link; the new text is renamed over the file it replaces, checked
    again just before (one that became a device, pipe or socket meanwhile is refused, never replaced)."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from kmstui.commands.args import replace_file

    path = _through_links(config.paths.config_file)
    text = ""
    if path.exists():
        try:
            text = read_settings_file(path, f"config file {path}")
            tomllib.loads(text)
            document = tomlkit.parse(text)
        except (tomllib.TOMLDecodeError, TOMLKitError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix it before changing the theme") from None
    else:
        document = tomlkit.document()
    document["theme"] = name
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot save the theme in {path} ({exc.strerror or exc}); make its folder writable, or "
                          "choose the theme with KMSTUI_THEME instead") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(tomlkit.dumps(document))
        if mode is not None:
            os.chmod(tmp, mode)
        replace_file(tmp, path, "config file", dash=False)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    config.data["theme"] = name
    return path


def _through_links(path: Path) -> Path:
    """config.toml, or the file it links to (through any chain of links). A link whose target is missing is
    followed only into a folder that exists (a link into an unmounted disk creates nothing); a loop is an
    error, never replaced by a regular file."""
    if not path.is_symlink():
        return path
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        target = Path(os.path.realpath(path))
        if not target.parent.is_dir():
            raise ConfigError(f"config file {path} links to {target}, in a folder that does not exist; fix or "
                              "remove the link") from None
        return target
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot follow its link ({exc.strerror or exc}); fix or remove "
                          "it") from None
