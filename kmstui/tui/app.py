"""The kmstui Textual app: wires the session to the screens, runs every backend call in a worker, and
answers the session's questions (passphrase, typed confirmation) with modal dialogs.

`run_tui(session)` is what the CLI calls when stdout is a terminal.
"""

from __future__ import annotations

import io
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from kmstui import callsource
from kmstui.commands.render import choose_format, render
from kmstui.errors import ConfigError, KmstuiError
from kmstui.tui import loaders
from kmstui.tui.messages import CommandFailed, CommandFinished, KeysLoaded
from kmstui.tui.runner import Answer, BackendThread, describe_error
from kmstui.tui.screens.main import MainScreen
from kmstui.tui.screens.modals import ConfirmModal, NewHsmModal, PassphraseModal
from kmstui.tui.theming import VARIABLE_DEFAULTS, install_themes, kmstui_theme_names


def _palette(name: str) -> Callable[[], type]:
    def provider() -> type:
        from kmstui.tui import palette

        return getattr(palette, name)

    return provider


@dataclass
class PluginScreen:
    """A screen offered by a plugin through the `register_tui_screens` hook."""

    name: str
    title: str
    factory: Callable[[App], Screen]
    key: str | None
    plugin: str


NARROW_BELOW = 100  # columns: below this the detail pane goes under the key table
SHORT_BELOW = 30  # rows: below this the console folds to its command line until focused
SERVE_KEY = "f7"  # the serve screen (kmstui/tui/screens/serve.py), from every screen


class KmstuiApp(App):
    TITLE = "kmstui"
    # Placeholders must never pass for filled-in values: dim and italic in every theme.
    CSS = """
    Input > .input--placeholder { color: $text-disabled; text-style: italic; }
    Button.-textual-compact { min-width: 0; }
    """
    # Callables, so the palette's modules load when it first opens rather than at start-up.
    COMMANDS = App.COMMANDS | {_palette("RegistryCommands"), _palette("ThemeCommands"), _palette("ScreenCommands")}
    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("question_mark", "help", "Help", show=False, id="app.help-alt"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("escape", "back", "Back", show=False, id="app.back"),
    ]

    def __init__(self, session, *, check_first_run: bool = True) -> None:
        super().__init__()
        self.session = session
        self.check_first_run = check_first_run
        self.backend_thread = BackendThread()
        self._pending: set[Answer] = set()
        self._closing = False
        self.plugin_screens: dict[str, PluginScreen] = {}
        self._server_watch: tuple[str, Any] | None = None  # (profile name, ServerWatch or None)
        self.plugin_errors: list[str] = []
        theme, errors = install_themes(self, session.config)
        self.kmstui_themes = kmstui_theme_names(session.config)
        self.theme = theme
        self.startup_messages = list(errors)
        # The TUI owns the terminal: binary output and input of commands go through buffers instead.
        session.stdout = io.BytesIO()
        session.stdin = io.BytesIO()
        session.interactive = True
        session.prompt_secret = self.prompt_secret
        session.confirm = self.confirm_typed
        self._collect_plugin_screens()

    # -- setup --------------------------------------------------------------------------------------
    def on_resize(self, event) -> None:
        self.size_classes(event.size)

    def size_classes(self, size) -> None:
        """Size classes every screen's CSS can use: `.-narrow` (detail below the table, fewer columns)
        and `.-short` (console folded to its command line until it has focus)."""
        self.set_class(size.width < NARROW_BELOW, "-narrow")
        self.set_class(size.height < SHORT_BELOW, "-short")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def get_default_screen(self) -> Screen:
        return MainScreen(self.session)

    def get_system_commands(self, screen: Screen):
        # kmstui themes come from ThemeCommands (they also style the REPL); no SVG screenshots of secrets.
        for command in super().get_system_commands(screen):
            if command.title not in ("Theme", "Screenshot"):
                yield command
        yield SystemCommand("Help", "Help for the focused widget", self.action_help)

    def _collect_plugin_screens(self) -> None:
        hook = self.session.pm.hook.register_tui_screens
        for impl in hook.get_hookimpls():
            def register(name: str, title: str, factory: Callable[[App], Screen], key: str | None = None,
                         _plugin: str = impl.plugin_name) -> None:
                self.plugin_screens[name] = PluginScreen(name, title, factory, key, _plugin)
            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - plugins are untrusted code
                self.plugin_errors.append(f"plugin '{impl.plugin_name}' failed in register_tui_screens: {exc}")

    def on_mount(self) -> None:
        self.size_classes(self.size)
        for entry in self.plugin_screens.values():
            if entry.key:
                self.bind(entry.key, f"open_plugin_screen('{entry.name}')", description=entry.title)
        # After the plugins' keys, so a narrow footer drops it before What-if and Advisor; the header already
        # says whether a server runs, and F1 help and the palette list this key.
        self.bind(SERVE_KEY, "serve", description="Serve")
        for message in self.startup_messages + self.plugin_errors:
            self.notify(message, severity="warning", markup=False, timeout=8)
        if self.check_first_run and loaders.needs_first_run(self.session):
            self.main_screen.set_header_note("no HSM yet: create it", self.session.profile().backend)
            self.push_screen(NewHsmModal(loaders.local_location(self.session),
                                         keyring_available=loaders.keyring_available()), self._first_run)
        else:
            self.load_keys()

    def on_unmount(self) -> None:
        self._closing = True
        for answer in list(self._pending):
            answer.put(None)
        self.backend_thread.shutdown()

    # -- answering the session from worker threads --------------------------------------------------
    def _ask(self, screen: Screen) -> Any:
        if threading.get_ident() == self._thread_id or self._closing:
            return None  # never block the UI thread waiting for the UI, nor ask while closing
        answer = Answer()
        self._pending.add(answer)
        try:
            self.call_from_thread(self.push_screen, screen, answer.put)
            return answer.wait()
        except RuntimeError:  # the app stopped running meanwhile
            return None
        finally:
            self._pending.discard(answer)

    def prompt_secret(self, prompt: str) -> str | None:
        """Session callback: a masked modal; the value goes straight back to the caller, nowhere else."""
        if threading.get_ident() != self._thread_id and not self._closing:
            try:
                self.call_from_thread(self.main_screen.set_header_note, "sealed: waiting for the passphrase")
            except RuntimeError:
                return None
        return self._ask(PassphraseModal(prompt))

    def confirm_typed(self, prompt: str, expected: str) -> bool:
        """Session callback for destructive commands: type `expected`, focus on Cancel."""
        return bool(self._ask(ConfirmModal(prompt, expected)))

    # -- running work -------------------------------------------------------------------------------
    def call_backend(self, fn: Callable[[], Any], done: Callable[[Any], Any], *, node: Widget | None = None,
                     group: str = "backend", origin: str = "backend", description: str = "") -> None:
        """Run `fn` (a read to draw the screen) on the backend thread in a worker; post done(value) (a
        Message) to `node`, or a CommandFailed with the one-line error. Its backend calls are audited with
        source "screen"; commands (run_words) keep the default "command"."""
        target = node or self.screen

        def screen_read() -> Any:
            with callsource.source(callsource.SCREEN):  # audited as the TUI drawing, not a user command
                return fn()

        def work() -> None:
            try:
                value = self.backend_thread.call(screen_read)
            except BaseException as exc:  # noqa: BLE001 - every failure is shown, none kills the UI
                message, code = describe_error(exc)
                target.post_message(CommandFailed([], message, code, origin))
                return
            message = done(value)
            if message is not None:
                target.post_message(message)

        self.run_worker(work, thread=True, group=group, exit_on_error=False, description=description or group)

    def run_words(self, words: list[str], *, reply_to: Widget, origin: str = "console",
                  stdin: bytes | None = None) -> None:
        """Run one command through the session, as the REPL would, and post the outcome to `reply_to`."""
        session = self.session

        def call() -> CommandFinished:
            session.stdin = io.BytesIO(stdin or b"")
            session.stdout = out = io.BytesIO()
            command, args = session.parse(words)
            opts = session.options.overridden(args)
            fmt = choose_format(opts.output, session.config.setting("output"), True)
            session.output_format = fmt
            try:
                result = session.run_command(command, args)
            finally:
                session.output_format = None
            text = render(result, fmt, query=opts.query)
            raw = out.getvalue()
            if raw:
                text += _describe_raw(raw)
            return CommandFinished(words, result, origin, text=text, mutates=command.mutates, path=command.path)

        def work() -> None:
            try:
                finished = self.backend_thread.call(call)
            except BaseException as exc:  # noqa: BLE001
                message, code = describe_error(exc)
                reply_to.post_message(CommandFailed(words, message, code, origin))
                return
            reply_to.post_message(finished)

        self.run_worker(work, thread=True, group="commands", exit_on_error=False, description=" ".join(words[:3]))

    def server_state(self) -> dict[str, Any] | bool | None:
        """The `kmstui serve` running for the current profile's store: its state (kmstui.server.status.describe),
        False when none runs, None when the profile is not a local HSM (no server can serve it). Cheap enough
        for a timer (state files are re-read only when they change); never opens the store."""
        from kmstui.server import status

        name = self.session.profile_name
        if self._server_watch is None or self._server_watch[0] != name:
            try:
                store = status.store_of(self.session)
            except KmstuiError:  # a broken profile: the header says so elsewhere
                store = None
            watch = status.ServerWatch(status.state_dir(self.session), store) if store is not None else None
            self._server_watch = (name, watch)
        watch = self._server_watch[1]
        if watch is None:
            return None
        return watch.poll() or False

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "serve":
            return not getattr(self.screen, "serve_screen", False)  # not offered on the serve screen itself
        return True

    def action_serve(self) -> None:
        """F7 / palette "open: kmstui serve": the server's status and a live tail of its requests."""
        from kmstui.tui.screens.serve import ServeScreen

        if not getattr(self.screen, "serve_screen", False):
            self.push_screen(ServeScreen(self.session))

    def selected_key(self) -> str | None:
        """How commands should name the key under the table cursor (alias or id), for plugin screens that
        work on "the current key" (what-if); None when no key is selected."""
        from kmstui.tui.widgets.key_table import KeyTable

        for table in self.main_screen.query(KeyTable):
            row = table.current_row
            return row.ref if row is not None else None
        return None

    @property
    def main_screen(self) -> MainScreen:
        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    def load_keys(self, select: str | None = None, before: Callable[[], Any] | None = None) -> None:
        """Open the backend (asking for a passphrase if sealed) and list its keys, off the UI thread."""
        main = self.main_screen

        def fetch() -> KeysLoaded:
            if before is not None:
                with callsource.source(callsource.COMMAND):  # what the user asked for (hsm init, use)
                    before()
            status = loaders.backend_status(self.session)
            main.post_message(status)
            keys = loaders.list_keys(self.session)
            return KeysLoaded(keys, select=select)

        self.call_backend(fetch, lambda message: message, node=main, group="keys", description="list keys")

    def load_rotation_column(self, keys: list[dict[str, Any]]) -> None:
        """Fill the table's rotation column; called once the table holds these keys, so the answers land on
        the rows they are about (not on rows a later key list replaces)."""
        main = self.main_screen
        self.call_backend(lambda: loaders.rotation_status(self.session, keys, main.post_message),
                          lambda _v: None, node=main, group="rotation", description="rotation status")

    def switch_profile(self, name: str) -> None:
        """Make `name` the active profile (as `use NAME` does) and reload the header and the key table."""
        header = self.main_screen.query_one("#status")
        header.profile, header.backend, header.location, header.sealed, header.keys = name, "", "", None, -1
        header.note = ""
        self.load_keys(before=lambda: self.session.use_profile(name))

    # loaders for the detail tabs: called by KeyDetail with the key id and the pane to answer
    def _load_tab(self, tab: str, key_id: str, node: Widget) -> None:
        from kmstui.tui.messages import DetailLoaded

        fetch = getattr(loaders, f"fetch_{tab}")
        self.call_backend(lambda: fetch(self.session, key_id), lambda data: DetailLoaded(tab, key_id, data),
                          node=node, group=f"detail-{tab}", origin=f"detail-{tab}", description=f"{tab} of {key_id}")

    def load_policy(self, key_id: str, node: Widget) -> None:
        self._load_tab("policy", key_id, node)

    def load_grants(self, key_id: str, node: Widget) -> None:
        self._load_tab("grants", key_id, node)

    def load_rotation(self, key_id: str, node: Widget) -> None:
        self._load_tab("rotation", key_id, node)

    def load_aliases(self, key_id: str, node: Widget) -> None:
        self._load_tab("aliases", key_id, node)

    def load_audit(self, key_id: str, node: Widget) -> None:
        self._load_tab("audit", key_id, node)

    def _first_run(self, answer: dict | None) -> None:
        if not answer:
            self.main_screen.set_header_note("no HSM: create one with 'hsm init' in the console")
            self.notify("No HSM created. Create one later with the 'hsm init' command in the console.",
                        severity="warning", markup=False)
            return
        self.main_screen.set_header_note("creating the HSM…")
        self.load_keys(before=lambda: loaders.create_local_hsm(self.session, answer["passphrase"], answer["keyring"]))

    # -- themes, screens, help ----------------------------------------------------------------------
    def apply_theme_name(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name

    def use_theme(self, name: str) -> None:
        """Palette: switch now, and save the choice through `theme use` (so the REPL follows)."""
        self.apply_theme_name(name)
        self.run_words(["theme", "use", name], reply_to=self.main_screen.query_one("#console"), origin="palette")

    def palette_command(self, name: str, *, run: bool) -> None:
        main = self.main_screen
        while self.screen is not main:
            self.pop_screen()
        console = main.query_one("#console")
        if run:
            self.run_words(name.split(), reply_to=console, origin="console")
            console.show_output(f"› {name}")
        else:
            console.prefill(name + " ")

    def open_plugin_screen(self, name: str) -> None:
        entry = self.plugin_screens.get(name)
        if entry is None:
            return
        try:
            screen = entry.factory(self)
        except Exception as exc:  # noqa: BLE001
            self.notify(f"plugin '{entry.plugin}' could not open '{entry.title}': {exc}", severity="error",
                        markup=False)
            return
        self.push_screen(screen)

    def action_open_plugin_screen(self, name: str) -> None:
        self.open_plugin_screen(name)

    def action_show_keys(self) -> None:
        while len(self.screen_stack) > 1 and not isinstance(self.screen, MainScreen):
            self.pop_screen()

    def action_back(self) -> None:
        if len(self.screen_stack) > 1 and not isinstance(self.screen, MainScreen):
            self.pop_screen()

    def action_help(self) -> None:
        from kmstui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen.focused, self.screen))


def _describe_raw(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
        if text.isprintable() or all(c.isprintable() or c in "\n\t" for c in text):
            return text if len(text) < 65536 else text[:65536] + "\n… (output truncated)"
    except UnicodeDecodeError:
        pass
    return f"({len(raw)} bytes of binary output not shown; write them to a file with --out PATH)\n"


def run_tui(session) -> int:
    """Run the TUI on this terminal; refuses (exit 253) without one, since App.run() would hang."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ConfigError("the TUI needs a terminal; use 'kmstui shell', 'kmstui -c \"...\"' or a subcommand")
    app = KmstuiApp(session)
    try:
        app.run()
    except KmstuiError:
        raise
    finally:
        session.close()
    return app.return_code or 0
