"""The status line at the top: profile, backend, sealed state, read-only mode, key count, whether a
`kmstui serve` runs for this store (its URL, pid and uptime) and location.

On a narrow terminal it never cuts a phrase in half: each part has a long and a short form, the short
forms replace the long ones, least important part first, until the line fits, and then whole parts are
left out, least important first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


@dataclass
class Part:
    """One piece of the header: shown as `long`, or `short` when space is tight; `rank` 0 is kept longest."""

    rank: int
    long: list[tuple[str, str]]
    short: list[tuple[str, str]]


# Short forms of the notes the app sets while no backend is connected (first run, sealed, failure).
SHORT_NOTES = {
    "sealed: waiting for the passphrase": "sealed",
    "no HSM yet: create it": "no HSM yet",
    "no HSM: create one with 'hsm init' in the console": "no HSM",
    "not connected (F5 retries)": "not connected",
    "creating the HSM…": "creating HSM…",
}


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
    # kmstui serve for this store: None = not applicable (not a local profile), False = not running,
    # (url, pid, uptime text) while one runs (kmstui.server.status)
    server: reactive[tuple[str, int, str] | bool | None] = reactive(None)

    def parts(self) -> list[Part]:
        """The header's pieces in display order, each with its importance."""
        theme = self.app.current_theme
        warn, ok = theme.warning or "yellow", theme.success or "green"
        parts = [Part(0, [(" kmstui ", f"bold reverse {theme.primary}")], [(" kmstui ", f"bold reverse {theme.primary}")])]
        profile, backend = self.profile or "?", self.backend or "?"
        parts.append(Part(3, [("profile ", "dim"), (profile, "bold"), ("  backend ", "dim"), (backend, "bold")],
                          [(profile, "bold"), ("/", "dim"), (backend, "bold")]))
        if self.sealed is True:
            parts.append(Part(1, [("SEALED", f"bold {warn}")], [("SEALED", f"bold {warn}")]))
        elif self.sealed is False:
            parts.append(Part(4, [("unsealed", ok)], [("unsealed", ok)]))
        else:
            note = self.note or ("connecting…" if self.keys < 0 else "")
            if note:
                parts.append(Part(1, [(note, "dim")], [(SHORT_NOTES.get(note, note), "dim")]))
        if self.read_only:
            parts.append(Part(0, [("READ-ONLY", f"bold {warn}")], [("RO", f"bold {warn}")]))
        if self.keys >= 0:
            parts.append(Part(2, [(f"{self.keys} key{'' if self.keys == 1 else 's'}", "dim")],
                              [(f"{self.keys} key{'' if self.keys == 1 else 's'}", "dim")]))
        if self.server:
            url, pid, uptime = self.server
            port = url.rsplit(":", 1)[-1]
            parts.append(Part(2, [("serving ", ok), (url, "bold"), (f" pid {pid} up {uptime}", "dim")],
                              [("serving ", ok), (f":{port}", "bold")]))
        elif self.server is False:
            parts.append(Part(6, [("not serving", "dim")], [("not serving", "dim")]))
        if self.location:
            parts.append(Part(5, [(self.location, "dim")], [(PurePath(self.location).name or self.location, "dim")]))
        return parts

    def render(self) -> Text:
        width = max(1, self.content_size.width or self.size.width)
        parts = self.parts()
        text = _join(parts, ["long"] * len(parts))
        if text.cell_len <= width:
            return text
        # Short forms for the least important parts first (a wide terminal keeps the server's pid and uptime
        # by shortening the profile and location), then everything short and tight, then whole parts go.
        forms = ["long"] * len(parts)
        for n in sorted(range(len(parts)), key=lambda i: -parts[i].rank):
            forms[n] = "short"
            text = _join(parts, forms)
            if text.cell_len <= width:
                return text
        text = _join(parts, "short")
        if text.cell_len <= width:
            return text
        kept = sorted(parts, key=lambda p: p.rank)
        while len(kept) > 1 and _join(kept, "short").cell_len > width:
            kept.pop()
        kept = [p for p in parts if p in kept]  # back in display order
        text = _join(kept, "short")
        text.truncate(width)  # only the badge is left: never more than it
        return text


def _join(parts: list[Part], form: str | list[str]) -> Text:
    """The parts in one form ("long": two spaces between; "short": one), or each in its own form (a list;
    two spaces between)."""
    forms = [form] * len(parts) if isinstance(form, str) else form
    gap = " " if form == "short" else "  "
    text = Text(no_wrap=True, overflow="crop")
    for n, (part, part_form) in enumerate(zip(parts, forms)):
        if n:
            text.append(gap)
        for chunk, style in getattr(part, part_form):
            text.append(chunk, style=style)
    return text
