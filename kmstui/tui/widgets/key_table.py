"""The key table: a virtual (Line API) table that renders only the rows on screen.

Textual's DataTable rebuilds row objects on every change, which takes over a second for 10,000 keys; the
filter must answer each keystroke in well under 100 ms, so this table keeps plain rows and an index list
(filtered, sorted) and draws lines on demand. Every cell is drawn as plain text, never parsed as markup.

Columns are chosen by priority for the width at hand (alias and state first; the creation date and the
description only when there is room), so no column is ever shown cut to a few letters; whatever is left
out is in the detail pane.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from kmstui.tui.widgets.rowcursor import RowCursorView
from kmstui.visible import visible

COLUMNS: tuple[tuple[str, str, int], ...] = (
    # (attribute, heading, maximum width), in display order
    ("alias", "Alias", 28),
    ("key_id", "Key id", 36),
    ("state", "State", 22),
    ("spec", "Spec", 18),
    ("usage", "Usage", 19),
    ("rotation", "Rotation", 8),
    ("created", "Created", 16),
    ("description", "Description", 40),
)
PRIORITY = ("alias", "state", "key_id", "spec", "usage", "rotation", "description", "created")
# How narrow a column may get before it is left out instead ("Key id" keeps its first 8 characters).
MIN_WIDTH = {"alias": 16, "key_id": 9, "description": 12}
GAP = 2


def layout_columns(natural: dict[str, int], width: int) -> dict[str, int]:
    """Column widths for `width` cells: columns join in PRIORITY order at their minimum width while they fit,
    then grow toward their natural width, most important first. Columns left out are absent."""
    chosen: dict[str, int] = {}
    used = -GAP
    for attr in PRIORITY:
        least = min(natural[attr], MIN_WIDTH.get(attr, natural[attr]))
        if used + GAP + least <= width:
            chosen[attr] = least
            used += GAP + least
    for attr in PRIORITY:
        if attr in chosen:
            grow = min(natural[attr] - chosen[attr], width - used)
            if grow > 0:
                chosen[attr] += grow
                used += grow
    return chosen


def _created(value: Any) -> str:
    if isinstance(value, (int, float)):
        value = _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value or "")[:16].replace("T", " ")


def _clean(value: Any) -> str:
    """One line of plain text: control characters (escape sequences, newlines) shown as escapes."""
    return "" if value is None else visible(value)


@dataclass
class KeyRow:
    """One key as the table shows it, built from a KeyMetadata dict (with an "Aliases" list)."""

    key_id: str
    arn: str
    alias: str
    description: str
    state: str
    spec: str
    usage: str
    created: str
    rotation: str = ""
    aliases: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    search: str = ""

    @classmethod
    def from_metadata(cls, md: dict[str, Any]) -> "KeyRow":
        aliases = [str(a) for a in md.get("Aliases") or []]
        alias = aliases[0] if aliases else ""
        if len(aliases) > 1:
            alias += f" +{len(aliases) - 1}"
        rotation = md.get("KeyRotationEnabled")
        row = cls(
            key_id=_clean(md.get("KeyId")), arn=str(md.get("Arn", "")), alias=_clean(alias),
            description=_clean(md.get("Description")), state=_clean(md.get("KeyState")),
            spec=_clean(md.get("KeySpec") or md.get("CustomerMasterKeySpec")), usage=_clean(md.get("KeyUsage")),
            created=_created(md.get("CreationDate")),
            rotation="" if rotation is None else ("on" if rotation else "off"),
            aliases=aliases, metadata=md,
        )
        row.search = " ".join((row.key_id, " ".join(aliases), row.description, row.state, row.spec,
                               row.usage)).lower()
        return row

    @property
    def ref(self) -> str:
        """How commands should name this key: its first alias, else its id."""
        return self.aliases[0] if self.aliases else self.key_id


class KeyTable(RowCursorView, can_focus=True):
    """Keys with `/` filtering (done by the screen), sorting, and j/k/g/G navigation."""

    HELP = """\
## Key table
- **j / k** or arrows: move; **g / G**: first / last key; **PgUp / PgDn**: page
- **/**: filter (matches alias, id, description, state, spec and usage)
- **s**: sort by the next column; **r**: reverse the order; click a heading to sort by it
- **Enter**: open the key's details
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="keys.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="keys.up"),
        Binding("g,home", "first", "First", show=False, id="keys.first"),
        Binding("G,end", "last", "Last", show=False, id="keys.last"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="keys.page-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="keys.page-up"),
        Binding("s", "sort_next", "Sort", id="keys.sort"),
        Binding("r", "reverse", "Reverse", show=False, id="keys.reverse"),
        Binding("enter", "select", "Details", show=False, id="keys.select"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-table--header", "key-table--cursor", "key-table--disabled", "key-table--pending",
    }

    DEFAULT_CSS = """
    KeyTable { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    KeyTable > .key-table--header { text-style: bold; background: $panel; color: $foreground; }
    KeyTable > .key-table--cursor { background: $block-cursor-blurred-background; }
    KeyTable:focus > .key-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    KeyTable > .key-table--disabled { color: $kms-state-disabled; }
    KeyTable > .key-table--pending { color: $kms-state-pending; }
    """

    class Highlighted(Message):
        def __init__(self, row: KeyRow | None) -> None:
            super().__init__()
            self.row = row

    class Selected(Message):
        def __init__(self, row: KeyRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows: list[KeyRow] = []
        self.order: list[int] = []
        self._sorted: list[int] = []
        self.filter_text = ""
        self.sort_column = "alias"
        self.sort_reverse = False
        self.natural = {a: len(h) + 2 for a, h, _w in COLUMNS}  # room for the sort mark
        self.shown: list[tuple[str, str, int]] = []  # (attribute, heading, width) on screen now

    # -- data ---------------------------------------------------------------------------------------
    def set_rows(self, rows: list[KeyRow]) -> None:
        current = self.current_row
        self.rows = rows
        natural = {a: len(h) + 2 for a, h, _w in COLUMNS}
        for attr, _h, cap in COLUMNS:
            widest = natural[attr]
            for row in rows:
                if widest >= cap:
                    break
                widest = max(widest, cell_len(getattr(row, attr)))
            natural[attr] = min(cap, widest)
        self.natural = natural
        self._layout()
        self._rebuild(keep=current.key_id if current else None)

    def _layout(self) -> None:
        room = max(0, self.size.width - 1)  # one column kept for the vertical scrollbar
        chosen = layout_columns(self.natural, room - 2) if room > 2 else {}
        self.shown = [(a, h, chosen[a]) for a, h, _w in COLUMNS if a in chosen]
        self.virtual_size = Size(room, len(self.order) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._layout()
        self.refresh()

    def update_row(self, key_id: str, **changes: Any) -> None:
        for row in self.rows:
            if row.key_id == key_id:
                for name, value in changes.items():
                    setattr(row, name, value)
        self.refresh()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        current = self.current_row
        self._rebuild(keep=current.key_id if current else None, resort=False)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = (not self.sort_reverse) if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        current = self.current_row
        self._rebuild(keep=current.key_id if current else None)

    def _rebuild(self, keep: str | None = None, *, resort: bool = True) -> None:
        rows = self.rows
        if resort or len(self._sorted) != len(rows):
            attr = self.sort_column
            self._sorted = sorted(range(len(rows)), key=lambda i: (getattr(rows[i], attr).lower(), rows[i].key_id),
                                  reverse=self.sort_reverse)
        needle = self.filter_text
        if needle:
            words = needle.split()
            order = [i for i in self._sorted if all(w in rows[i].search for w in words)]
        else:
            order = list(self._sorted)
        self.order = order
        self.virtual_size = Size(max(0, self.size.width - 1), len(order) + 1)
        position = 0
        if keep is not None:
            position = next((n for n, i in enumerate(order) if rows[i].key_id == keep), 0)
        self.cursor = position
        self.refresh()

    @property
    def current_row(self) -> KeyRow | None:
        if 0 <= self.cursor < len(self.order):
            return self.rows[self.order[self.cursor]]
        return None

    @property
    def visible_rows(self) -> list[KeyRow]:
        return [self.rows[i] for i in self.order]

    def select_key(self, key_id: str) -> bool:
        for n, i in enumerate(self.order):
            if self.rows[i].key_id == key_id or key_id in self.rows[i].aliases:
                self.cursor = n
                return True
        return False

    # -- cursor: RowCursorView --------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.order)

    def cursor_moved(self) -> None:
        self.post_message(self.Highlighted(self.current_row))

    def action_sort_next(self) -> None:
        names = [c[0] for c in COLUMNS]
        self.sort_by(names[(names.index(self.sort_column) + 1) % len(names)], reverse=False)

    def action_reverse(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def action_select(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.Selected(row))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x - 1
            for attr, _h, width in self.shown:
                if x < width + GAP:
                    self.sort_by(attr)
                    return
                x -= width + GAP
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.order):
            if row == self.cursor:
                self.action_select()
            self.cursor = row

    # -- drawing ------------------------------------------------------------------------------------
    def _line(self, cells: list[str]) -> str:
        parts = []
        for text, (_a, _h, width) in zip(cells, self.shown):
            if cell_len(text) > width:
                text = text[: max(0, width - 1)] + "…"
            parts.append(text + " " * (width - cell_len(text)))
        return (" " * GAP).join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            marks = {self.sort_column: " ▼" if self.sort_reverse else " ▲"}
            text = self._line([h + marks.get(a, "") for a, h, _w in self.shown])
            style = base + self.get_component_rich_style("key-table--header")
        else:
            index = scroll_y + y - 1
            if index >= len(self.order):
                return Strip.blank(width, base)
            row = self.rows[self.order[index]]
            text = self._line([getattr(row, a) for a, _h, _w in self.shown])
            style = base
            if row.state == "Disabled":
                style += self.get_component_rich_style("key-table--disabled")
            elif row.state.startswith("Pending"):
                style += self.get_component_rich_style("key-table--pending")
            if index == self.cursor:
                style += self.get_component_rich_style("key-table--cursor")
        strip = Strip([Segment(" " + text + " ", style)])
        return strip.crop_extend(scroll_x, scroll_x + width, style)
