"""A scrolling table with a row cursor: the movement both of kmstui's virtual tables (keys, server requests)
share, so j/k/g/G/PgUp/PgDn and keeping the cursor row on screen behave the same in each."""

from __future__ import annotations

from textual.reactive import reactive
from textual.scroll_view import ScrollView


class RowCursorView(ScrollView, can_focus=True):
    """Subclasses say how many rows there are (`row_count`, below the one heading line) and may react to a
    move (`cursor_moved`); the cursor is kept within the rows and scrolled into view."""

    cursor = reactive(0, always_update=True, init=False)

    @property
    def row_count(self) -> int:
        raise NotImplementedError

    def cursor_moved(self) -> None:
        """Called after every move, once the cursor row is in view."""

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self.row_count - 1)) if self.row_count else 0

    def watch_cursor(self, value: int) -> None:
        body = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if value < top:
            self.scroll_to(y=value, animate=False)
        elif value >= top + body:
            self.scroll_to(y=value - body + 1, animate=False)
        self.refresh()
        self.cursor_moved()

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self.row_count - 1

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.size.height - 2)
