"""Turn kmstui theme files (kmstui.themes) into Textual themes and register them on the app."""

from __future__ import annotations

from textual.app import App
from textual.theme import Theme

from kmstui.themes import ThemeSpec, active_theme, load_themes

# Fallbacks for the app's own CSS variables, for themes (user files) that do not set them.
VARIABLE_DEFAULTS = {
    "kms-state-enabled": "#4ebf71",
    "kms-state-disabled": "#888888",
    "kms-state-pending": "#ba3c5b",
    "kms-allow": "#4ebf71",
    "kms-deny": "#ba3c5b",
}


def to_textual(spec: ThemeSpec) -> Theme:
    return Theme(name=spec.name, dark=spec.dark, variables=dict(spec.variables), **spec.colors)


def install_themes(app: App, config) -> tuple[str, list[str]]:
    """Register every kmstui theme (shipped and user) and return the one to use plus load errors."""
    themes, errors = load_themes(config)
    for spec in themes.values():
        app.register_theme(to_textual(spec))
    chosen, more = active_theme(config)
    return chosen.name, errors + [e for e in more if e not in errors]


def kmstui_theme_names(config) -> list[str]:
    return sorted(load_themes(config)[0])
