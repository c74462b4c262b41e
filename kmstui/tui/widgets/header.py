"""The status line at the top: profile, backend, sealed state, read-only mode and theme."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class StatusHeader(Widget):
    """One line; every value shown is plain text (a profile name or path is never parsed as markup)."""

    DEFAULT_CSS = """
    StatusHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    profile = reactive("")
    backend = reactive("")
    location = reactive("")
    sealed: reactive[bool | None] = reactive(None)
    read_only = reactive(False)
    keys = reactive(-1)
    note = reactive("")  # replaces "connecting…" when no connection is under way (first run, failure)

    def render(self) -> Text:
        theme = self.app.current_theme
        warn = theme.warning or "yellow"
        ok = theme.success or "green"
        text = Text()
        text.append(" kmstui ", style=f"bold reverse {theme.primary}")
        text.append("  profile ", style="dim")
        text.append(self.profile or "?", style="bold")
        text.append("  backend ", style="dim")
        text.append(self.backend or "?", style="bold")
        text.append("  ")
        if self.sealed is True:
            text.append("SEALED", style=f"bold {warn}")
        elif self.sealed is False:
            text.append("unsealed", style=ok)
        else:
            text.append(self.note or ("connecting…" if self.keys < 0 else ""), style="dim")
        if self.read_only:
            text.append("  READ-ONLY", style=f"bold {warn}")
        if self.keys >= 0:
            text.append(f"  {self.keys} key{'' if self.keys == 1 else 's'}", style="dim")
        if self.location:
            text.append(f"  {self.location}", style="dim")
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text
