"""The serve screen's request table: a virtual (Line API) table, like the key table, that draws only the rows
on screen. A busy server appends hundreds of rows a second; Textual's DataTable spends about half a
millisecond per added row and much more per removed one, which would stall the UI at a few hundred
requests a second. Here a tick appends plain tuples to a bounded deque and refreshes.

Rows are (cells, record): the cells are already plain text with control characters made visible (the
screen builds them from the access log through kmstui.visible), drawn as text, never parsed as markup.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar, Iterable

from rich.cells import cell_len
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from kmstui.tui.widgets.rowcursor import RowCursorView

# (heading, widest it grows to, narrowest before it is left out), in display order
COLUMNS: tuple[tuple[str, int, int], ...] = (
    ("Time", 8, 8), ("Principal", 40, 12), ("Operation", 24, 9), ("Key", 20, 9), ("Decision", 11, 8),
    ("Status", 6, 6), ("ms", 8, 5),
)
DROP_FIRST = ("ms", "Status", "Key")  # what goes when even the narrowest widths do not fit
GAP = 2
RIGHT = {"ms"}


def layout(natural: list[int], width: int) -> list[int]:
    """Column widths (0 = left out) for `width` cells: natural widths if they fit; else Principal, Operation
    and Key shrink toward their minimum; else columns are left out, DROP_FIRST first."""
    widths = list(natural)
    names = [c[0] for c in COLUMNS]

    def total() -> int:
        shown = [w for w in widths if w]
        return sum(shown) + GAP * (len(shown) - 1)

    for name in ("Principal", "Key", "Operation"):
        n = names.index(name)
        over = total() - width
        if over > 0:
            widths[n] = max(COLUMNS[n][2], widths[n] - over)
    for name in DROP_FIRST:
        if total() > width:
            widths[names.index(name)] = 0
    return widths


class RequestTable(RowCursorView, can_focus=True):
    """Newest request last; the cursor stays on the last row while it is there (a live tail), and stays on
    its request when rows arrive or old ones go while the user looks at an earlier one."""

    HELP = """\
## Requests
- **j / k** or arrows: move; **g / G**: first / last (G follows new requests again); **PgUp / PgDn**: page
- **Enter**: show the request's fields and explain it (`whatif --request-id`)
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="requests.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="requests.up"),
        Binding("g,home", "first", "First", show=False, id="requests.first"),
        Binding("G,end", "last", "Last", show=False, id="requests.last"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="requests.page-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="requests.page-up"),
        Binding("enter", "select", "Explain", id="requests.select"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"request-table--header", "request-table--cursor",
                                             "request-table--refused", "request-table--error"}

    DEFAULT_CSS = """
    RequestTable { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    RequestTable > .request-table--header { text-style: bold; background: $panel; color: $foreground; }
    RequestTable > .request-table--cursor { background: $block-cursor-blurred-background; }
    RequestTable:focus > .request-table--cursor { background: $block-cursor-background;
                                                   color: $block-cursor-foreground; }
    RequestTable > .request-table--refused { color: $error; text-style: bold; }
    RequestTable > .request-table--error { color: $warning; }
    """

    class Selected(Message):
        def __init__(self, record: dict[str, Any]) -> None:
            super().__init__()
            self.record = record

    def __init__(self, *, max_rows: int, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: deque[tuple[tuple[str, ...], dict[str, Any]]] = deque(maxlen=max_rows)
        self.natural = [len(h) for h, _cap, _min in COLUMNS]
        self.widths = list(self.natural)

    # -- data -----------------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.rows)

    def row_cells(self, n: int) -> tuple[str, ...]:
        return self.rows[n][0]

    @property
    def current_record(self) -> dict[str, Any] | None:
        return self.rows[self.cursor][1] if 0 <= self.cursor < len(self.rows) else None

    def clear(self) -> None:
        self.rows.clear()
        self.cursor = 0
        self._layout()

    def append(self, rows: Iterable[tuple[tuple[str, ...], dict[str, Any]]]) -> None:
        rows = list(rows)
        if not rows:
            return
        following = self.cursor >= len(self.rows) - 1
        dropped = max(0, len(self.rows) + len(rows) - (self.rows.maxlen or 0))
        self.rows.extend(rows)
        for cells, _record in rows:
            for n, text in enumerate(cells):
                if self.natural[n] < COLUMNS[n][1]:
                    self.natural[n] = min(COLUMNS[n][1], max(self.natural[n], cell_len(text)))
        self._layout()
        self.cursor = len(self.rows) - 1 if following else self.cursor - dropped

    def _layout(self) -> None:
        room = max(0, self.size.width - 3)  # a space each side, one column for the scrollbar
        self.widths = layout(self.natural, room)
        self.virtual_size = Size(max(0, self.size.width - 1), len(self.rows) + 1)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._layout()

    # -- cursor: RowCursorView --------------------------------------------------------------------------
    def action_select(self) -> None:
        record = self.current_record
        if record is not None:
            self.post_message(self.Selected(record))

    def on_click(self, event: events.Click) -> None:
        row = round(self.scroll_y) + event.y - 1
        if event.y > 0 and 0 <= row < len(self.rows):
            if row == self.cursor:
                self.action_select()
            self.cursor = row

    # -- drawing --------------------------------------------------------------------------------------
    def _line(self, cells: Iterable[str]) -> str:
        parts = []
        for text, width, (name, _cap, _min) in zip(cells, self.widths, COLUMNS):
            if not width:
                continue
            if cell_len(text) > width:
                text = text[: max(0, width - 1)] + "…"
            pad = " " * (width - cell_len(text))
            parts.append(pad + text if name in RIGHT else text + pad)
        return (" " * GAP).join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            text = self._line(h for h, _cap, _min in COLUMNS)
            style = base + self.get_component_rich_style("request-table--header")
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, base)
            cells, record = self.rows[index]
            text = self._line(cells)
            style = base
            decision = record.get("decision")
            if decision in ("deny", "unauthenticated"):
                style += self.get_component_rich_style("request-table--refused")
            elif decision == "error":
                style += self.get_component_rich_style("request-table--error")
            if index == self.cursor:
                style += self.get_component_rich_style("request-table--cursor")
        strip = Strip([Segment(" " + text + " ", style)])
        return strip.crop_extend(scroll_x, scroll_x + width, style)
