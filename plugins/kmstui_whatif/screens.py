"""The what-if plugin's TUI screen: choose a key, principal, action and context; see ALLOW/DENY with the
full trace, the key's access matrix and lint findings. Imported only by the TUI; it runs the plugin's own
commands (`whatif`, `policy matrix`, `policy lint`) through the session, so it can never disagree with them."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Input, Label, RichLog, Static

from kmstui.tui.messages import CommandFailed, CommandFinished
from kmstui.tui.widgets.footer import KeyFooter


def whatif_words(key: str, principal: str, action: str, context: list[str]) -> list[str]:
    if action and ":" not in action:
        action = "kms:" + action
    words = ["whatif", "--key-id", key, "--principal", principal, "--action", action]
    for pair in context:
        words += ["--context", pair]
    return words


class WhatIfScreen(Screen):
    HELP = """\
## What-if
The key starts as the one selected in the key table. Give a principal ARN, an action (`Decrypt` or
`kms:Decrypt`) and optional context pairs (`KEY=VALUE`). **Evaluate** shows ALLOW or DENY and every statement and grant that decided it.
**Matrix** lists who can do what with the key; **Lint** reports risky patterns in its policy.
"""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="whatif.back")]

    SCOPED_CSS = False  # rules also match the app's size class (-short)
    DEFAULT_CSS = """
    WhatIfScreen { padding: 0 1; }
    WhatIfScreen Horizontal { height: auto; }
    WhatIfScreen .field { width: 12; padding-top: 1; }
    WhatIfScreen Input { width: 1fr; }
    WhatIfScreen Button { margin-right: 1; }
    WhatIfScreen #whatif-decision { height: auto; margin: 1 0; text-style: bold; }
    WhatIfScreen #whatif-decision.-allow { color: $kms-allow; }
    WhatIfScreen #whatif-decision.-deny { color: $kms-deny; }
    WhatIfScreen RichLog { height: 1fr; min-height: 4; border: round $panel; }
    .-short WhatIfScreen Horizontal { margin-bottom: 1; }
    .-short WhatIfScreen .field { padding-top: 0; }
    .-short WhatIfScreen Input { border: none; height: 1; padding: 0 1; }
    .-short WhatIfScreen #whatif-decision { margin: 0; }
    """

    def __init__(self, session) -> None:
        super().__init__(id="whatif")
        self.session = session

    def compose(self) -> ComposeResult:
        yield Label("What-if: would KMS allow this request?", classes="title")
        for name, label, placeholder in (
            ("key", "Key", "alias or key id (the selected key when you open this screen)"),
            ("principal", "Principal", "e.g. arn:aws:iam::111122223333:role/App"),
            ("action", "Action", "e.g. kms:Decrypt"), ("context", "Context", "optional, e.g. app=web dept=finance"),
        ):
            with Horizontal():
                yield Label(label, classes="field")
                yield Input(id=f"whatif-{name}", placeholder=placeholder)
        with Horizontal():
            yield Button("Evaluate", id="whatif-evaluate", variant="primary", compact=True)
            yield Button("Matrix", id="whatif-matrix", compact=True)
            yield Button("Lint", id="whatif-lint", compact=True)
        yield Static("", id="whatif-decision", markup=False)
        yield RichLog(id="whatif-trace", markup=False, wrap=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        """Start from the key selected in the key table, as the user would expect."""
        selected = getattr(self.app, "selected_key", lambda: None)()
        box = self.query_one("#whatif-key", Input)
        if selected and not box.value:
            box.value = selected
        self.set_focus(self.query_one("#whatif-principal" if box.value else "#whatif-key", Input))

    def value(self, name: str) -> str:
        return self.query_one(f"#whatif-{name}", Input).value.strip()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        key = self.value("key")
        decision = self.query_one("#whatif-decision", Static)
        if not key:
            decision.update("Choose a key first.")
            return
        what = (event.button.id or "").removeprefix("whatif-")
        if what == "evaluate":
            if not self.value("principal") or not self.value("action"):
                decision.update("Evaluate needs a principal and an action.")
                return
            words = whatif_words(key, self.value("principal"), self.value("action"),
                                 self.value("context").replace(",", " ").split())
        elif what == "matrix":
            words = ["policy", "matrix", "--key-id", key]
        else:
            words = ["policy", "lint", "--key-id", key]
        decision.update("…")
        decision.remove_class("-allow", "-deny")
        self.app.run_words(words, reply_to=self, origin=f"whatif-{what}")

    @on(CommandFinished)
    def _finished(self, event: CommandFinished) -> None:
        if not event.origin.startswith("whatif-"):
            return
        event.stop()
        log = self.query_one(RichLog)
        log.clear()
        decision = self.query_one("#whatif-decision", Static)
        data = event.result.data
        if event.origin == "whatif-evaluate" and isinstance(data, dict):
            verdict = str(data.get("Decision", "?")).upper()
            decision.update(f"{verdict}: {data.get('Reason', '')}")
            decision.set_class(verdict == "ALLOW", "-allow")
            decision.set_class(verdict != "ALLOW", "-deny")
        else:
            decision.update("matrix" if event.origin == "whatif-matrix" else "lint findings")
        log.write(Text(event.result.text or event.text))

    @on(CommandFailed)
    def _failed(self, event: CommandFailed) -> None:
        if event.origin.startswith("whatif-"):
            event.stop()
            self.query_one("#whatif-decision", Static).update(f"{event.code}: {event.error}")
