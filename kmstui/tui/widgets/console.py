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


def expand_wide_table(text: str, width: int) -> str:
    """A table wider than the console, shown as one record per row ("Field  value" lines), as psql's
    expanded display does: wrapped table rows lose their columns. Anything else is returned unchanged."""
    lines = text.split("\n")
    if len(lines) < 3 or max(len(line) for line in lines) <= width:
        return text
    rule = lines[1]
    if not rule.strip() or set(rule) - {"-", " "}:
        return text
    spans, start = [], None
    for i, ch in enumerate(rule + " "):
        if ch == "-" and start is None:
            start = i
        elif ch != "-" and start is not None:
            spans.append((start, i))
            start = None
    bounds = [(a, spans[n + 1][0] if n + 1 < len(spans) else None) for n, (a, _b) in enumerate(spans)]
    headers = [lines[0][a:b].strip() for a, b in bounds]
    label = max(len(h) for h in headers)
    out = []
    for n, row in enumerate((line for line in lines[2:] if line.strip()), 1):
        out.append(f"-[ {n} ]" + "-" * max(0, min(width, 40) - len(f"-[ {n} ]")))
        out.extend(f"{h:<{label}}  {row[a:b].strip()}" for h, (a, b) in zip(headers, bounds))
    return "\n".join(out)


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
        Binding("escape", "leave", "Keys", id="console.leave"),
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

    def action_leave(self) -> None:
        """Escape: back to the key table (on a short terminal the console folds to this line again)."""
        for table in self.screen.query("#keys"):
            self.screen.set_focus(table)
            return
        self.screen.set_focus(None)

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
- **Escape** goes back to the key table; long output lines wrap
"""

    # On a short terminal (app class -short) the console folds to its command line until it has focus,
    # then takes most of the screen, so output is readable rather than three lines tall.
    SCOPED_CSS = False  # its rules also match on the app's size classes
    DEFAULT_CSS = """
    Console { height: 30%; min-height: 5; max-height: 14; border-top: solid $panel; }
    Console RichLog { height: 1fr; background: $surface; }
    Console Input { border: none; height: 1; padding: 0 1; background: $panel; }
    Console Input:focus { border: none; }
    .-short Console { height: auto; min-height: 1; border-top: none; }
    .-short Console RichLog { display: none; }
    .-short Console:focus-within { height: 65%; max-height: 100%; border-top: solid $panel; }
    .-short Console:focus-within RichLog { display: block; }
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
        yield RichLog(id="console-log", wrap=True, markup=False, highlight=False, max_lines=5000)
        yield CommandInput(self.session, id="console-input", placeholder=": command (Tab completes, F1 help)")

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
            width = self.log_widget.scrollable_content_region.width or self.app.size.width - 2
            self.log_widget.write(Text(expand_wide_table(visible(text.rstrip("\n"), keep_lines=True), width)))
        if message:
            self.log_widget.write(Text(visible(message, keep_lines=True), style="italic"))

    def show_error(self, error: str, code: str) -> None:
        style = self.app.current_theme.error or "red"
        self.log_widget.write(Text(f"error: {code}: {visible(error)}", style=style))

    @property
    def folded(self) -> bool:
        """True while only the command line shows (short terminal, console not in use)."""
        return self.log_widget.styles.display == "none"

    def prefill(self, text: str) -> None:
        box = self.query_one(CommandInput)
        box.value = text
        box.cursor_position = len(text)
        box.focus()
