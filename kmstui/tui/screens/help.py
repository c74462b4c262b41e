"""F1 / `?`: help for whatever has focus (the nearest widget with a HELP text) plus the keys that work."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Markdown

GENERAL = """\
## kmstui
- **Ctrl+P** command palette: every command, theme and screen
- **/** filter keys · **n** new key · **c** console · **F1** or **?** help · **Ctrl+Q** quit
- **F7** kmstui serve: is a server running for this HSM, and its requests, live
- Destructive actions ask you to type the key's alias or id; `--read-only` disables them.
"""


def help_for(widget: Widget | None) -> str:
    """The HELP text of the focused widget or its nearest ancestor that has one."""
    node = widget
    while node is not None:
        text = getattr(type(node), "HELP", None)
        if isinstance(text, str) and text.strip():
            return text
        node = node.parent  # type: ignore[assignment]
    return ""


def bindings_table(widget: Widget | None, screen) -> str:
    rows = []
    seen = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if binding.description and (binding.action, binding.description) not in seen:
            seen.add((binding.action, binding.description))
            rows.append(f"| `{binding.key_display or key}` | {binding.description} |")
    return "| Key | Action |\n|---|---|\n" + "\n".join(rows) if rows else ""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,q,question_mark", "dismiss", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 90; height: 80%; border: thick $primary; background: $surface; padding: 0 1; }
    """

    def __init__(self, focused: Widget | None, screen) -> None:
        super().__init__()
        self.text = "\n\n".join(t for t in (help_for(focused), GENERAL, bindings_table(focused, screen)) if t)

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Markdown(self.text, id="help-text")

    def action_dismiss(self, result=None) -> None:  # type: ignore[override]
        self.dismiss(result)
