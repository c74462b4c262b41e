"""The "kmstui serve" screen (command palette): is a `kmstui serve` running for this store, where, and what is it being asked? The state file the server
keeps (kmstui.server.run.running_servers) says where; its access log (one JSON line per request) is tailed
twice a second. Read-only: it never opens the store nor talks to the server. Untrusted text from the log
(principals, key ids) is shown as plain text, never as markup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

MAX_ROWS = 500  # the table keeps the newest requests only
READ_LIMIT = 1 << 20  # at most this much of a log is read per tick


def server_for(session) -> dict[str, Any] | None:
    """The state of a live server for the session's local store, or None (no server, or not a local profile)."""
    from kmstui.server.run import running_servers, state_dir

    try:
        from kmstui.commands.hsm import _target

        _profile, store = _target(session)
    except Exception:  # noqa: BLE001 - another backend: no server can serve it
        return None
    return next((s for s in running_servers(state_dir(session)) if s.get("Store") == str(store)), None)


def visible(value: Any) -> str:
    """Control characters made visible (the log holds what clients sent)."""
    text = "" if value is None else str(value)
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


class ServeScreen(Screen):
    HELP = """\
## kmstui serve
Whether a `kmstui serve` is running for this store (started from a shell: `kmstui serve`), its URL, and its
requests as they arrive: time, principal, operation, key, decision and HTTP status. Denied requests are
explained with `whatif --request-id ID` in the console.
"""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="serve.back")]
    DEFAULT_CSS = """
    ServeScreen { padding: 0 1; }
    ServeScreen #serve-status { height: auto; padding: 1 0; }
    ServeScreen DataTable { height: 1fr; }
    """

    def __init__(self, session) -> None:
        super().__init__()
        self.session = session
        self.state: dict[str, Any] | None = None
        self._log: Path | None = None
        self._offset = 0
        self._partial = b""

    def compose(self) -> ComposeResult:
        yield Static(id="serve-status")
        table: DataTable = DataTable(id="serve-requests", cursor_type="row", zebra_stripes=True)
        table.add_columns("Time", "Principal", "Operation", "Key", "Decision", "Status", "Request id")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_state()
        self.set_interval(0.5, self.refresh_state)

    def refresh_state(self) -> None:
        state = server_for(self.session)
        status = self.query_one("#serve-status", Static)
        if state is None:
            self.state = None
            status.update(Text("no kmstui serve is running for this store (start one in a shell: kmstui serve)"))
            return
        if self.state is None or state.get("Pid") != self.state.get("Pid"):
            self.state, self._log, self._offset, self._partial = state, Path(state["AccessLog"]), 0, b""
            self.query_one(DataTable).clear()
        line = Text()
        line.append("kmstui serve running ", style="bold")
        line.append(f"at {state['Url']} (pid {state['Pid']})")
        if state.get("CaBundle"):
            line.append(f"  TLS, CA {state['CaBundle']}")
        if state.get("Anonymous"):
            line.append(f"  UNSIGNED REQUESTS ACT AS {visible(state['Anonymous'])}", style="bold red")
        status.update(line)
        self._tail()

    def _tail(self) -> None:
        if self._log is None:
            return
        try:
            with open(self._log, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read(READ_LIMIT)
        except OSError:
            return
        if not chunk:
            return
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        table = self.query_one(DataTable)
        for raw in lines:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            table.add_row(*(visible(record.get(k)) for k in ("time", "principal", "operation", "key", "decision",
                                                             "status", "requestId")))
        while table.row_count > MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)
