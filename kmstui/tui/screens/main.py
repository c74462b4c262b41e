"""The main view: status header, key table with `/` filter, key detail tabs and the console."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.lazy import Lazy
from textual.widgets import Input, Select

from kmstui.tui.messages import (BackendStatus, CommandFailed, CommandFinished, DetailLoaded, KeysLoaded,
                                 RotationLoaded, RunCommand)
from kmstui.tui.screens.modals import CreateKeyModal
from kmstui.tui.widgets.console import Console
from kmstui.tui.widgets.footer import KeyFooter
from kmstui.tui.widgets.header import StatusHeader
from kmstui.tui.widgets.key_detail import KeyDetail
from kmstui.tui.widgets.key_table import KeyRow, KeyTable
from kmstui.visible import visible


class FilterInput(Input):
    HELP = """\
## Filter
Type to narrow the key table (all words must match alias, id, description, state, spec or usage).
**Enter** or **Down** returns to the table; **Escape** clears the filter.
"""
    BINDINGS = [Binding("escape", "clear", "Clear filter", id="filter.clear"),
                Binding("down", "done", "Table", show=False, id="filter.done")]

    def action_clear(self) -> None:
        self.value = ""
        self.screen.query_one(KeyTable).focus()

    def action_done(self) -> None:
        self.screen.query_one(KeyTable).focus()


SERVER_POLL = 1.0  # seconds between looks at the serve state files (a directory listing and a pid probe)


class MainScreen(Screen):
    AUTO_FOCUS = "#keys"
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="main.filter"),
        Binding("n", "new_key", "New key", id="main.new-key"),
        Binding("colon,c", "console", "Console", id="main.console"),
        Binding("f5", "refresh", "Refresh", id="main.refresh"),
        Binding("p", "profile", "Profile", id="main.profile"),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="main.next"),
    ]

    # Wide: table and details side by side. Narrow (app class -narrow, e.g. 80 columns): the details go
    # under the table, full width, so neither is squeezed to a few letters per column.
    SCOPED_CSS = False  # its rules also match on the app's size classes
    DEFAULT_CSS = """
    MainScreen #top { height: 1; }
    MainScreen #top StatusHeader { width: 1fr; }
    MainScreen #profile { width: 18; }
    MainScreen #body { height: 1fr; }
    MainScreen #left { width: 3fr; }
    MainScreen #filter { border: none; height: 1; padding: 0 1; background: $surface; }
    MainScreen #filter:focus { border: none; background: $panel; }
    MainScreen KeyDetail { width: 2fr; min-width: 50; border-left: solid $panel; }
    .-narrow MainScreen #profile { width: 14; }
    .-narrow MainScreen #body { layout: vertical; }
    .-narrow MainScreen #left { width: 100%; height: 2fr; min-height: 5; }
    .-narrow MainScreen KeyDetail { width: 100%; min-width: 0; height: 3fr; border-left: none;
                                    border-top: solid $panel; }
    """

    def __init__(self, session) -> None:
        super().__init__(id="main")
        self.session = session
        self._note = ("", "")

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield StatusHeader(id="status")
            names = self.session.config.profile_names()
            current = self.session.profile_name
            if current not in names:
                names = sorted([*names, current])
            yield Select([(n, n) for n in names], value=current, allow_blank=False,
                         compact=True, id="profile", tooltip="Switch profile (p)")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield FilterInput(placeholder="/ filter keys", id="filter")
                yield KeyTable(id="keys")
            # Mounted just after the first frame, so the key table shows without waiting for them.
            yield Lazy(KeyDetail(self.session, id="detail"))
        yield Lazy(Console(self.session, id="console"))
        yield KeyFooter()

    def on_mount(self) -> None:
        header = self.query_one(StatusHeader)
        header.profile = self.session.profile_name
        header.read_only = self.session.options.read_only
        header.note, header.backend = self._note
        if self.is_current:  # a first-run modal may already be on top; never take its focus
            self.query_one(KeyTable).focus()
        self.poll_server()
        self.set_interval(SERVER_POLL, self.poll_server)

    def poll_server(self) -> None:
        """Keep the header's serve indicator true: URL, pid and uptime while a server runs for this store."""
        from kmstui.server.status import uptime_text

        state = self.app.server_state()
        header = self.query_one(StatusHeader)
        header.server = (state["Url"], state["Pid"], uptime_text(state["UptimeSeconds"])) if state else state

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "new_key" and self.session.options.read_only:
            return None  # shown disabled in the footer
        return True

    # -- actions ------------------------------------------------------------------------------------
    # set_focus, not Widget.focus(): focus() moves later, so keys typed right after ':' or '/' would still
    # reach the key table (and its 'n', 'd' ... bindings) instead of the input.
    def action_filter(self) -> None:
        self.set_focus(self.query_one("#filter", Input))

    def action_console(self) -> None:
        self.set_focus(self.query_one("#console-input", Input))

    def action_profile(self) -> None:
        select = self.query_one("#profile", Select)
        select.focus()
        select.expanded = True

    @on(Select.Changed, "#profile")
    def _profile_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.session.profile_name:
            self.app.switch_profile(event.value)
            self.query_one(KeyTable).focus()

    def _sync_profile(self) -> None:
        select = self.query_one("#profile", Select)
        name = self.session.profile_name
        if select.value != name:
            if name not in [value for _label, value in select._options]:
                select.set_options([(n, n) for n in sorted({*self.session.config.profile_names(), name})])
            with select.prevent(Select.Changed):
                select.value = name

    def action_refresh(self) -> None:
        self.app.load_keys()

    def action_new_key(self) -> None:
        def created(words: list[str] | None) -> None:
            if words:
                self.post_message(RunCommand(words, origin="create-key"))

        self.app.push_screen(CreateKeyModal(), created)

    # -- events -------------------------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.query_one(KeyTable).apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(KeyTable).focus()

    @on(KeyTable.Highlighted)
    def _highlighted(self, event: KeyTable.Highlighted) -> None:
        for detail in self.query(KeyDetail):
            if event.row is not detail.row:
                detail.show_key(event.row)

    @on(KeyTable.Selected)
    def _selected(self, event: KeyTable.Selected) -> None:
        for detail in self.query(KeyDetail):
            detail.focus()

    @on(KeysLoaded)
    def _keys_loaded(self, event: KeysLoaded) -> None:
        table = self.query_one(KeyTable)
        table.set_rows([KeyRow.from_metadata(md) for md in event.keys])
        if event.select:
            table.select_key(event.select)
        self.query_one(StatusHeader).keys = len(event.keys)
        for detail in self.query(KeyDetail):  # absent until mounted (lazily, after the first frame)
            detail.show_key(table.current_row)
        self.app.load_rotation_column(event.keys)

    @on(RotationLoaded)
    def _rotation_loaded(self, event: RotationLoaded) -> None:
        table = self.query_one(KeyTable)
        by_id = {r.key_id: r for r in table.rows}
        for key_id, enabled in event.status.items():
            if key_id in by_id:
                by_id[key_id].rotation = "" if enabled is None else ("on" if enabled else "off")
        table.refresh()

    @on(BackendStatus)
    def _backend_status(self, event: BackendStatus) -> None:
        header = self.query_one(StatusHeader)
        header.profile = self.session.profile_name
        header.backend, header.location, header.sealed = event.kind, event.location, event.sealed
        header.note = ""
        self._sync_profile()

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        for detail in self.query(KeyDetail):
            detail.show_data(event.tab, event.key_id, event.data)

    @on(Console.Submitted)
    def _console(self, event: Console.Submitted) -> None:
        console = self.query_one(Console)
        for words in event.commands:
            self.app.run_words(words, reply_to=console, origin="console")

    @on(RunCommand)
    def _run(self, event: RunCommand) -> None:
        event.stop()
        reply_to = event.reply_to if event.reply_to is not None else self.query_one(Console)
        self.app.run_words(event.words, reply_to=reply_to, origin=event.origin, stdin=event.stdin)

    @on(CommandFinished)
    def _finished(self, event: CommandFinished) -> None:
        for console in self.query(Console):
            if event.origin != "console":
                console.show_output(f"› {' '.join(event.words[:2])} …", None)
                if console.folded and event.result.message:  # the log is not on screen: say it here
                    self.app.notify(event.result.message, markup=False)
            console.show_output(event.text, event.result.message)
        if event.mutates or (event.path[:1] in (("use",), ("hsm",), ("refresh",))):
            self.app.load_keys(select=_created_key_id(event))
        if event.path[:2] == ("theme", "use"):
            self.app.apply_theme_name(event.words[-1])

    def set_header_note(self, note: str, backend: str = "") -> None:
        """Say what the header should show instead of "connecting…" (kept until the header exists)."""
        self._note = (note, backend or self._note[1])
        for header in self.query(StatusHeader):
            header.note, header.backend = self._note

    @on(CommandFailed)
    def _failed(self, event: CommandFailed) -> None:
        header = self.query_one(StatusHeader)
        if event.origin == "backend" and header.sealed is None:
            header.note = "not connected (F5 retries)"
        if event.origin == "backend":
            header.profile = self.session.profile_name
            self._sync_profile()
        for console in self.query(Console):
            console.show_error(event.error, event.code)
        if event.origin != "console":
            self.app.notify(visible(event.error), title=event.code, severity="error", markup=False)


def _created_key_id(event: CommandFinished) -> str | None:
    data = event.result.data
    if isinstance(data, dict) and isinstance(data.get("KeyMetadata"), dict):
        return data["KeyMetadata"].get("KeyId")
    return None
