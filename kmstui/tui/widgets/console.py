"""The console pane: type any REPL command (same grammar, same completion) and see its result.

The widget only edits text and shows output. Submitting posts `Console.Submitted` with the split command
words; the app runs them through the session in a worker and hands the outcome back to `show_*`.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, RichLog

from kmstui.completion import complete_line
from kmstui.errors import UsageError
from kmstui.lines import has_secret, split_commands
from kmstui.visible import visible


class CommandSuggester(Suggester):
    """Inline suggestion (accept with →) from kmstui.completion: the best candidate for the last word."""

    def __init__(self, session) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.session = session

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value[-1].isspace():
            return None
        try:
            typed, candidates = complete_line(self.session, value)
        except Exception:  # noqa: BLE001 - a suggestion is optional; never break typing over it
            return None
        for cand in candidates:
            if cand.text.lower().startswith(typed.lower()) and cand.text != typed:
                return value[: len(value) - len(typed)] + cand.text
        return None


class CommandInput(Input):
    """The command line: Tab completes, Up/Down walk the history (lines with secrets are never kept)."""

    BINDINGS = [
        Binding("tab", "complete", "Complete", show=False, id="console.complete"),
        Binding("up", "history(-1)", "Previous", show=False, id="console.history-back"),
        Binding("down", "history(1)", "Next", show=False, id="console.history-forward"),
    ]

    def __init__(self, session, **kwargs) -> None:
        super().__init__(suggester=CommandSuggester(session), **kwargs)
        self.session = session
        self.history: list[str] = []
        self._position = 0

    def remember(self, line: str) -> None:
        if line.strip() and not has_secret(line, self.session.registry):
            if not self.history or self.history[-1] != line:
                self.history.append(line)
        self._position = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._position = max(0, min(len(self.history), self._position + step))
        self.value = self.history[self._position] if self._position < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        text = self.value[: self.cursor_position]
        try:
            typed, candidates = complete_line(self.session, text)
        except Exception:  # noqa: BLE001
            return
        if not candidates:
            return
        texts = [c.text for c in candidates]
        common = texts[0]
        for other in texts[1:]:
            while not other.startswith(common):
                common = common[:-1]
        replacement = texts[0] if len(texts) == 1 else common
        if len(texts) == 1 and not replacement.endswith("/"):
            replacement += " "
        if len(replacement) <= len(typed) and len(texts) > 1:
            self.post_message(Console.Candidates(texts[:30]))
            return
        start = len(text) - len(typed)
        self.value = self.value[:start] + replacement + self.value[self.cursor_position:]
        self.cursor_position = start + len(replacement)


class Console(Vertical):
    """Output log above a command line."""

    HELP = """\
## Console
Type any kmstui command, exactly as in the REPL (`key list`, `encrypt --key-id alias/app --in f --out f.enc`).
- **Tab** completes; **→** accepts the grey suggestion; **Up/Down** walk the history
- `;` separates commands; `--output json|yaml|text|table` and `--query` work as in the REPL
- Lines that carry a secret are run but never kept in the history
"""

    DEFAULT_CSS = """
    Console { height: 30%; min-height: 5; max-height: 14; border-top: solid $panel; }
    Console RichLog { height: 1fr; background: $surface; }
    Console Input { border: none; height: 1; padding: 0 1; background: $panel; }
    Console Input:focus { border: none; }
    """

    class Submitted(Message):
        def __init__(self, line: str, commands: list[list[str]]) -> None:
            super().__init__()
            self.line, self.commands = line, commands

    class Candidates(Message):
        def __init__(self, texts: list[str]) -> None:
            super().__init__()
            self.texts = texts

    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session

    def compose(self) -> ComposeResult:
        yield RichLog(id="console-log", wrap=False, markup=False, highlight=False, max_lines=5000)
        yield CommandInput(self.session, id="console-input", placeholder="command (Tab completes, F1 help)")

    @property
    def log_widget(self) -> RichLog:
        return self.query_one("#console-log", RichLog)

    @on(Input.Submitted, "#console-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value
        box = self.query_one(CommandInput)
        box.value = ""
        if not line.strip():
            return
        box.remember(line)
        shown = "(a command with a secret; not echoed)" if has_secret(line, self.session.registry) else line
        self.log_widget.write(Text("› " + shown, style="bold"))
        try:
            commands = split_commands(line)
        except UsageError as exc:
            self.show_error(str(exc), "UsageError")
            return
        if commands:
            self.post_message(self.Submitted(line, commands))

    @on(Candidates)
    def _candidates(self, event: Candidates) -> None:
        self.log_widget.write(Text("  ".join(event.texts), style="dim"))

    def show_output(self, text: str, message: str | None = None) -> None:
        if text:
            self.log_widget.write(Text(visible(text.rstrip("\n"), keep_lines=True)))
        if message:
            self.log_widget.write(Text(visible(message, keep_lines=True), style="italic"))

    def show_error(self, error: str, code: str) -> None:
        style = self.app.current_theme.error or "red"
        self.log_widget.write(Text(f"error: {code}: {visible(error)}", style=style))

    def prefill(self, text: str) -> None:
        box = self.query_one(CommandInput)
        box.value = text
        box.cursor_position = len(text)
        box.focus()
