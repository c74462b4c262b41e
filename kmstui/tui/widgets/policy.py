"""The key-policy tab: the stored policy as highlighted JSON, edited in a TextArea or $EDITOR, checked by the
same validator as `policy put`, and saved only after the diff was shown and the key's name typed."""

from __future__ import annotations

import difflib
import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static, TextArea

from kmstui.errors import UsageError
from kmstui.tui.messages import CommandFailed, CommandFinished, RunCommand
from kmstui.tui.screens.modals import ConfirmModal
from kmstui.tui.widgets.key_table import KeyRow


def pretty_policy(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2) + "\n"
    except (json.JSONDecodeError, TypeError):
        return text if text.endswith("\n") else text + "\n"


def policy_diff(old: str, new: str) -> Text:
    """A unified diff of two policies (both pretty-printed), coloured per line, as plain text."""
    lines = difflib.unified_diff(pretty_policy(old).splitlines(), pretty_policy(new).splitlines(),
                                 "stored policy", "edited policy", lineterm="")
    text = Text()
    for line in lines:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else \
            "cyan" if line.startswith("@@") else ""
        text.append(line + "\n", style=style)
    return text


class PolicyDiffModal(ConfirmModal):
    """Show what will change; saving needs the key's alias or id typed (ConfirmModal's rule). Focus starts in
    that input, and Enter saves only when it matches."""

    DEFAULT_CSS = "PolicyDiffModal > Vertical { width: 100; } PolicyDiffModal VerticalScroll { height: auto; max-height: 20; }"
    HELP = "Type the alias or key id shown, then Enter or Save policy. Escape or Cancel changes nothing."

    def __init__(self, diff: Text, expected: str) -> None:
        super().__init__(f"Type {expected} to save:", expected, action="Save policy")
        self.diff = diff

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Replace the key policy?", classes="title")
            with VerticalScroll():
                yield Static(self.diff if self.diff.plain else Text("(no change)"), id="diff", markup=False)
            yield Label(self.prompt, markup=False)
            yield from self.typed_confirmation()


class PolicyPane(Vertical):
    HELP = """\
## Key policy
**Edit** opens the policy in the editor below (or **$EDITOR** in your own editor). **Review & save** checks
the JSON and the policy's shape, shows the diff and asks you to type the key's alias or id before
`policy put` runs. Nothing is sent while the check fails.
"""

    DEFAULT_CSS = """
    PolicyPane { height: 1fr; }
    PolicyPane #policy-view { height: 1fr; }
    PolicyPane TextArea { height: 1fr; display: none; }
    PolicyPane.-editing TextArea { display: block; }
    PolicyPane.-editing #policy-view { display: none; }
    PolicyPane #policy-error { color: $error; height: auto; }
    PolicyPane Horizontal { height: auto; }
    PolicyPane Button { margin-right: 1; }
    PolicyPane .edit-only { display: none; }
    PolicyPane.-editing .edit-only { display: block; }
    PolicyPane.-editing .view-only { display: none; }
    """

    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.row: KeyRow | None = None
        self.stored = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="policy-view"):
            yield Static(id="policy-json")
        yield TextArea(id="policy-editor", soft_wrap=False, show_line_numbers=True, tab_behavior="indent")
        yield Static("", id="policy-error", markup=False)
        with Horizontal():
            yield Button("Edit", id="policy-edit", classes="mutating view-only", compact=True)
            yield Button("$EDITOR", id="policy-external", classes="mutating", compact=True)
            yield Button("Review & save", id="policy-save", classes="mutating edit-only", variant="primary", compact=True)
            yield Button("Discard", id="policy-discard", classes="edit-only", compact=True)

    def reset(self, row: KeyRow) -> None:
        self.row = row
        self.stored = ""
        self.remove_class("-editing")
        self.query_one("#policy-error", Static).update("")
        self.query_one("#policy-json", Static).update(Text("loading…", style="dim"))

    def show(self, data: Any) -> None:
        from rich.syntax import Syntax  # pygments: imported on first use, not at start-up

        self.stored = data.get("Policy", "") if isinstance(data, dict) else str(data)
        self.query_one("#policy-json", Static).update(
            Syntax(pretty_policy(self.stored), "json", theme="ansi_dark" if self.app.current_theme.dark else "ansi_light",
                   word_wrap=True, background_color="default"))  # long ARNs and conditions wrap, never cut

    @property
    def editor(self) -> TextArea:
        return self.query_one("#policy-editor", TextArea)

    def start_editing(self, text: str | None = None) -> None:
        self.editor.load_text(text if text is not None else pretty_policy(self.stored))
        self.add_class("-editing")
        self.editor.focus()

    @on(Button.Pressed, "#policy-edit")
    def _edit(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_editing()

    @on(Button.Pressed, "#policy-discard")
    def _discard(self, event: Button.Pressed) -> None:
        event.stop()
        self.remove_class("-editing")
        self.query_one("#policy-error", Static).update("")

    @on(Button.Pressed, "#policy-external")
    def _external(self, event: Button.Pressed) -> None:
        event.stop()
        text = self.editor.text if self.has_class("-editing") else pretty_policy(self.stored)
        edited = self.edit_in_editor(text)
        if edited is not None:
            self.start_editing(edited)

    def edit_in_editor(self, text: str) -> str | None:
        """Hand the terminal to $VISUAL/$EDITOR on a private temporary file; None if it failed."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, name = tempfile.mkstemp(prefix="kmstui-policy-", suffix=".json")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            with self.app.suspend():
                code = subprocess.call([*shlex.split(editor), str(path)])
            if code != 0:
                self.app.notify(f"{editor} exited with status {code}; policy not changed", severity="warning",
                                markup=False)
                return None
            return path.read_text(encoding="utf-8")
        except Exception as exc:  # noqa: BLE001 - e.g. suspend unsupported (headless), editor missing
            self.app.notify(f"cannot run the editor: {exc}", severity="error", markup=False)
            return None
        finally:
            path.unlink(missing_ok=True)

    @on(Button.Pressed, "#policy-save")
    def _save(self, event: Button.Pressed) -> None:
        event.stop()
        self.review_and_save()

    def review_and_save(self) -> bool:
        """Validate the edited text; on success show the diff modal. Returns whether it was valid."""
        row = self.row
        if row is None:
            return False
        text = self.editor.text
        error = self.query_one("#policy-error", Static)
        from kmstui.commands.policy import validate_policy_text

        try:
            validate_policy_text(text, "policy")
        except UsageError as exc:
            error.update(str(exc))
            return False
        error.update("")

        def decided(save: bool | None) -> None:
            if save:
                self.post_message(RunCommand(["policy", "put", "--key-id", row.ref, "--file", "-", "--yes"],
                                             origin="policy", stdin=text.encode("utf-8"), reply_to=self))

        self.app.push_screen(PolicyDiffModal(policy_diff(self.stored, text), row.ref), decided)
        return True

    @on(CommandFinished)
    def _saved(self, event: CommandFinished) -> None:
        if event.origin == "policy":
            self.remove_class("-editing")
            data = event.result.data if isinstance(event.result.data, dict) else {}
            if "Policy" in data:
                self.show(data)

    @on(CommandFailed)
    def _failed(self, event: CommandFailed) -> None:
        if event.origin == "policy":
            self.query_one("#policy-error", Static).update(f"{event.code}: {event.error}")
