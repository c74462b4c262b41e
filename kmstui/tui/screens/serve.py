"""The serve screen (F7, or "open: kmstui serve" in the palette): whether a `kmstui serve` runs for this
store, where, and what it is being asked, live.

The state comes from kmstui.server.status (the servers' state files) and the rows from
kmstui.server.accesslog (an incremental, bounded reader of the server's access log); this screen only draws
their plain data. Choosing a request explains it by running `whatif --request-id ID` through the session,
the same command a shell user runs, so the screen and the shell cannot disagree. Everything from the log
(principals, key ids, error codes: text a network client chose) is drawn as plain text through
kmstui.visible, never parsed as markup.
"""

from __future__ import annotations

import contextlib
from collections import deque
from functools import partial
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import RichLog, Static

from kmstui.server.accesslog import AccessLogTail, is_denied
from kmstui.server.status import uptime_text
from kmstui.tui.messages import CommandFailed, CommandFinished
from kmstui.tui.widgets.footer import KeyFooter
from kmstui.tui.widgets.requests import RequestTable
from kmstui.visible import visible

TAIL_POLL = 0.5  # seconds between reads of the access log (each reads at most AccessLogTail.chunk bytes, on a
# worker thread: parsing a busy server's half second of log lines must not stall the UI)
MAX_ROWS = 1000  # requests kept on screen: the newest
DECISION_LABEL = {"unauthenticated": "auth failed"}  # narrower; the details pane says "unauthenticated"


def short_principal(arn: str | None) -> str:
    """`user/alice`, `assumed-role/App/s1`, `root` rather than the whole ARN (the details pane has it)."""
    if not arn:
        return "-"
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 and arn.startswith("arn:") and parts[5] else arn


def short_key(key: str | None) -> str:
    """A key ARN or id as its first 8 characters (as the key table's narrow form); an alias whole."""
    if not key:
        return "-"
    tail = key.rsplit(":", 1)[-1]
    if tail.startswith("key/"):
        tail = tail[4:]
    if tail.startswith("alias/") or len(tail) <= 9:
        return tail
    return tail[:8] + "…"


def row_cells(record: dict[str, Any]) -> tuple[str, ...]:
    """The table's cells for one request: plain text, control characters made visible."""
    decision = record.get("decision") or "-"
    latency = record.get("latencyMs")
    time = record.get("time") or ""
    status = record.get("status")
    return (
        visible(time[11:19] if len(time) >= 19 else time),
        visible(short_principal(record.get("principal"))),
        visible(record.get("operation") or "-"),
        visible(short_key(record.get("key"))),
        visible(DECISION_LABEL.get(decision, decision)),
        "-" if status is None else visible(status),
        f"{latency:.1f}" if isinstance(latency, float) else "-",
    )


def record_text(record: dict[str, Any]) -> str:
    """Every field of one request, one per line, control characters made visible."""
    names = (("Request id", "requestId"), ("Time", "time"), ("Principal", "principal"),
             ("Access key", "accessKeyId"), ("Source IP", "sourceIp"), ("Service", "service"),
             ("Operation", "operation"), ("Key", "key"), ("Decision", "decision"), ("Status", "status"),
             ("Error", "error"), ("Latency ms", "latencyMs"))
    return "\n".join(f"{label:<11} {visible(record.get(name) if record.get(name) is not None else '-')}"
                     for label, name in names)


class ServeScreen(Screen):
    HELP = """\
## kmstui serve
Whether a `kmstui serve` runs for this profile's HSM (start one in a shell: `kmstui serve`), its URL, pid
and uptime, and its requests as they arrive: time, principal, operation, key, decision (allow, deny,
unauthenticated, error), HTTP status and latency. **d** shows only refused requests. **Enter** on a request
shows all its fields and explains it (`whatif --request-id ID`: for a denial, every policy statement and
grant that decided it). The same rows from a shell: `kmstui serve log [--denied]`.
"""

    BINDINGS = [
        Binding("escape", "back", "Back", id="serve.back"),
        Binding("d", "toggle_denied", "Denied only", id="serve.denied"),
    ]

    serve_screen = True  # how the app recognises it without importing this module
    SCOPED_CSS = False  # rules also match the app's size classes
    DEFAULT_CSS = """
    ServeScreen #serve-status { height: auto; margin-top: 1; padding: 0 1; }
    ServeScreen #serve-summary { height: 1; color: $text-muted; padding: 0 1; }
    ServeScreen #serve-requests { height: 1fr; min-height: 4; }
    ServeScreen #serve-detail { height: 2fr; min-height: 4; border: round $panel; display: none; }
    ServeScreen.-explaining #serve-requests { height: 1fr; }
    ServeScreen.-explaining #serve-detail { display: block; }
    .-short ServeScreen #serve-status { margin-top: 0; }
    """

    def __init__(self, session) -> None:
        super().__init__()  # no id: a closing one may still be mounted when F7 opens the next
        self.session = session
        self.records: deque[dict[str, Any]] = deque(maxlen=MAX_ROWS)
        self.denied_only = False
        self.server: dict[str, Any] | bool | None = None
        self._identity: tuple | None = None
        self._tail: AccessLogTail | None = None
        self._reading = False  # a worker is reading the log
        self.explaining: str | None = None  # request id whose explanation is on screen
        self._explained_record: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="serve-status", markup=False)
        yield Static("", id="serve-summary", markup=False)
        yield RequestTable(max_rows=MAX_ROWS, id="serve-requests")
        yield RichLog(id="serve-detail", markup=False, wrap=True, auto_scroll=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(TAIL_POLL, self.tick)
        self.query_one(RequestTable).focus()

    # -- polling --------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Look at the server's state, then read what its access log gained (a bounded read)."""
        state = self.app.server_state()
        self._show_state(state)
        if isinstance(state, dict):
            identity = (state.get("Pid"), state.get("Started"), state.get("AccessLog"))
            if identity != self._identity:  # another server (or the first): its own log, from its newest lines
                self._identity = identity
                self._tail = AccessLogTail(state["AccessLog"]) if state.get("AccessLog") else None
                self.records.clear()
                self._rebuild()
        else:
            self._identity, self._tail = None, None  # rows of a stopped server stay until another starts
        self._start_read()
        self._show_summary()

    def _start_read(self) -> None:
        if self._tail is not None and not self._reading:
            self._reading = True
            self.run_worker(partial(self._read, self._tail), thread=True, group="serve-tail", exit_on_error=False,
                            description="read the access log")

    def _read(self, tail: AccessLogTail) -> None:
        """On a worker thread: read and parse what the log gained (at most one chunk), build the rows; the UI
        thread only appends them. A tail replaced meanwhile (another server) has its rows dropped."""
        rows: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        try:
            rows = [(row_cells(r), r) for r in tail.read()]
        finally:
            with contextlib.suppress(RuntimeError):  # the app stopped meanwhile
                self.app.call_from_thread(self._apply, tail, rows)

    def _apply(self, tail: AccessLogTail, rows: list[tuple[tuple[str, ...], dict[str, Any]]]) -> None:
        self._reading = False
        if tail is not self._tail or not self.is_attached:  # another server meanwhile, or the screen was closed
            return
        if rows:
            self.records.extend(r for _cells, r in rows)
            self.query_one(RequestTable).append(row for row in rows[-MAX_ROWS:] if self._wanted(row[1]))
            self._show_summary()
        if tail.pending:  # a full chunk and more waiting: catch up now rather than at the next tick
            self._start_read()

    def _show_state(self, state: dict[str, Any] | bool | None) -> None:
        self.server = state
        line = Text()
        if state is None:
            line.append("kmstui serve serves a local HSM only; ", style="bold")
            line.append(visible(f"profile '{self.session.profile_name}' uses another backend"))
        elif state is False:
            line.append("○ not running: ", style="bold")
            line.append("no kmstui serve is running for this HSM (start one in a shell: kmstui serve)")
        else:
            line.append("● running ", style="bold green")
            line.append(visible(state.get("Url") or "?"), style="bold")
            line.append(f"  pid {state.get('Pid')}  up {uptime_text(state.get('UptimeSeconds'))}")
            if state.get("Tls") and state.get("CaBundle"):
                line.append(visible(f"  TLS, AWS_CA_BUNDLE={state['CaBundle']}"))
            if state.get("Anonymous"):
                line.append(visible(f"  UNSIGNED REQUESTS ACT AS {state['Anonymous']}"), style="bold red")
        self.query_one("#serve-status", Static).update(line)

    def _show_summary(self) -> None:
        total = len(self.records)
        denied = sum(1 for r in self.records if is_denied(r))
        text = f"{total} request{'' if total == 1 else 's'}, {denied} refused"
        text += " · showing refused only (d: all)" if self.denied_only else " · d: refused only · Enter: explain"
        if self._tail is not None and self._tail.not_a_file:
            text += " · its access log is not a regular file: nothing to follow"
        if self._tail is not None and (self._tail.stats.bad_lines or self._tail.stats.skipped_bytes):
            text += f" · {self._tail.stats.bad_lines} unreadable line(s), {self._tail.stats.skipped_bytes} bytes skipped"
        self.query_one("#serve-summary", Static).update(text)

    # -- rows -----------------------------------------------------------------------------------------
    def _wanted(self, record: dict[str, Any]) -> bool:
        return not self.denied_only or is_denied(record)

    def _rebuild(self) -> None:
        table = self.query_one(RequestTable)
        table.clear()
        table.append((row_cells(r), r) for r in self.records if self._wanted(r))

    def current_record(self) -> dict[str, Any] | None:
        return self.query_one(RequestTable).current_record

    # -- actions --------------------------------------------------------------------------------------
    def action_toggle_denied(self) -> None:
        self.denied_only = not self.denied_only
        self._rebuild()
        self._show_summary()

    @on(RequestTable.Selected)
    def _selected(self, event: RequestTable.Selected) -> None:
        event.stop()
        self.action_explain()

    def action_explain(self) -> None:
        """Show the request's fields and what `whatif --request-id ID` says about it."""
        record = self.current_record()
        if record is None:
            return
        self.add_class("-explaining")
        request_id = record.get("requestId")
        self.explaining, self._explained_record = request_id, record
        if request_id:
            self._show_detail(Text("explaining: whatif --request-id " + visible(request_id) + " …", style="dim"))
            self.app.run_words(["whatif", "--request-id", request_id], reply_to=self, origin="serve-explain")
        else:
            self._show_detail(Text("no request id in the log line: nothing to explain", style="dim"))

    def _show_detail(self, explanation: Text) -> None:
        """The explanation first (on a short terminal it is what must show), then every field of the request."""
        detail = self.query_one("#serve-detail", RichLog)
        detail.clear()
        detail.write(explanation)
        detail.write(Text("\n" + record_text(self._explained_record or {})))
        detail.scroll_home(animate=False)

    def action_back(self) -> None:
        if self.has_class("-explaining"):
            self.remove_class("-explaining")
            self.explaining = None
            self.query_one(RequestTable).focus()
            return
        self.app.pop_screen()

    @on(CommandFinished)
    def _explained(self, event: CommandFinished) -> None:
        event.stop()
        if event.origin != "serve-explain" or event.words[-1:] != [self.explaining]:
            return  # an answer about a request no longer shown
        self._show_detail(Text(visible(event.text.rstrip("\n"), keep_lines=True)))

    @on(CommandFailed)
    def _failed(self, event: CommandFailed) -> None:
        event.stop()
        if event.origin == "serve-explain" and event.words[-1:] == [self.explaining]:
            self._show_detail(Text(visible(event.error), style="red"))
