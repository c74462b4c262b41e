"""The envelope plugin's TUI screen: encrypt or decrypt files with a progress bar (rate, ETA, cancel), and
inspect a file's header as a tree. Imported only by the TUI (it needs Textual); all work runs the plugin's
own commands through the session, so the files written are exactly what `envelope encrypt` writes."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, Label, ProgressBar, Static, Tree

from kmstui.errors import KmstuiError
from kmstui.tui.messages import CommandFailed, CommandFinished
from kmstui.tui.widgets.footer import KeyFooter
from kmstui_envelope import progress as progress_hook
from kmstui_envelope.progress import human_size

UPDATE_INTERVAL = 0.05  # seconds between progress messages: smooth enough, cheap for the UI thread


class Cancelled(KmstuiError):
    """The user cancelled a running envelope operation; nothing was written."""


class ProgressUpdate(Message):
    def __init__(self, label: str, done: int, total: int | None, elapsed: float) -> None:
        super().__init__()
        self.label, self.done, self.total, self.elapsed = label, done, total, elapsed


def split_list(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def tree_label(key: str, value: Any = None) -> Text:
    """A plain-text node label: header fields come from the file and are never read as markup."""
    text = Text(str(key), style="bold")
    if value is not None:
        text.append(": ")
        text.append(str(value), style="")
    return text


def add_to_tree(node, data: Any) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                add_to_tree(node.add(tree_label(key), expand=True), value)
            else:
                node.add_leaf(tree_label(key, value))
    elif isinstance(data, list):
        for n, value in enumerate(data, 1):
            if isinstance(value, (dict, list)):
                add_to_tree(node.add(tree_label(f"[{n}]"), expand=True), value)
            else:
                node.add_leaf(tree_label(f"[{n}]", value))
    else:
        node.add_leaf(Text(str(data)))


class EnvelopeScreen(Screen):
    """Files, keys and context in; encrypted (or decrypted) files out."""

    HELP = """\
## Envelope files
- **Files**: paths or folders (space-separated). **Keys**: wrapping keys (`alias/app`, `PROFILE:alias/x`).
- **Context**: `KEY=VALUE` pairs bound to the files; the same pairs are needed to decrypt.
- **Encrypt** / **Decrypt** run `envelope encrypt|decrypt`; **Cancel** stops between chunks (no partial file).
- **Inspect** shows the first file's header as a tree without any key: it is *unverified* until you
  press **Verify** (which unwraps the data key and checks the header).
"""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="envelope.back")]

    SCOPED_CSS = False  # rules also match the app's size class (-short)
    DEFAULT_CSS = """
    EnvelopeScreen { padding: 0 1; }
    EnvelopeScreen Horizontal { height: auto; }
    EnvelopeScreen .field { width: 12; padding-top: 1; }
    EnvelopeScreen Input { width: 1fr; }
    EnvelopeScreen Button { margin-right: 1; }
    EnvelopeScreen #envelope-progress { margin: 1 0 0 0; }
    EnvelopeScreen #envelope-rate { height: 1; color: $text-muted; }
    EnvelopeScreen #envelope-status { height: auto; }
    EnvelopeScreen #inspect-note { color: $warning; height: auto; }
    EnvelopeScreen Tree { height: 1fr; border: round $panel; }
    .-short EnvelopeScreen Horizontal { margin-bottom: 1; }
    .-short EnvelopeScreen .field { padding-top: 0; }
    .-short EnvelopeScreen Input { border: none; height: 1; padding: 0 1; }
    """

    def __init__(self, session) -> None:
        super().__init__(id="envelope")
        self.session = session
        self.cancel_event = threading.Event()
        self.running = False
        self._started = 0.0
        self._last_post = 0.0

    def compose(self) -> ComposeResult:
        yield Label("Envelope files", classes="title")
        with Horizontal():
            yield Label("Files", classes="field")
            yield Input(id="envelope-files", placeholder="e.g. report.pdf data/ (files or folders)")
        with Horizontal():
            yield Label("Keys", classes="field")
            yield Input(id="envelope-keys", placeholder="e.g. alias/app (wrapping keys, to encrypt)")
        with Horizontal():
            yield Label("Context", classes="field")
            yield Input(id="envelope-context", placeholder="optional, e.g. dept=finance purpose=backup")
        with Horizontal():
            yield Label("Output", classes="field")
            yield Input(id="envelope-out", placeholder="optional (default: next to each file)")
        with Horizontal():
            yield Button("Encrypt", id="envelope-encrypt", variant="primary", compact=True)
            yield Button("Decrypt", id="envelope-decrypt", compact=True)
            yield Button("Inspect", id="envelope-inspect", compact=True)
            yield Button("Verify", id="envelope-verify", compact=True)
            yield Button("Cancel", id="envelope-cancel", variant="error", compact=True, disabled=True)
        yield ProgressBar(id="envelope-progress", show_eta=True)
        yield Static("", id="envelope-rate", markup=False)
        yield Static("", id="envelope-status", markup=False)
        yield Static("", id="inspect-note", markup=False)
        yield Tree(Text("header"), id="inspect-tree")
        yield KeyFooter()

    def on_mount(self) -> None:
        progress_hook.observer = self._observe
        self.query_one(Tree).display = False
        self.query_one(ProgressBar).display = False  # nothing to show (no "--%" animation) until work starts

    def on_unmount(self) -> None:
        self.cancel_event.set()
        if progress_hook.observer == self._observe:
            progress_hook.observer = None

    # -- progress (called on the backend thread) ----------------------------------------------------
    def _observe(self, label: str, done: int, total: int | None) -> None:
        if self.cancel_event.is_set():
            raise Cancelled("cancelled; no output file was written")
        now = time.monotonic()
        if now - self._last_post >= UPDATE_INTERVAL or (total is not None and done >= total):
            self._last_post = now
            self.post_message(ProgressUpdate(label, done, total, now - self._started))

    @on(ProgressUpdate)
    def _progress(self, event: ProgressUpdate) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=event.total, progress=event.done)
        rate = event.done / event.elapsed if event.elapsed > 0 else 0.0
        text = f"{event.label}: {human_size(event.done)}"
        if event.total:
            eta = (event.total - event.done) / rate if rate else 0.0
            text += f" of {human_size(event.total)}  {human_size(rate)}/s  ETA {eta:.0f}s"
        else:
            text += f"  {human_size(rate)}/s"
        self.query_one("#envelope-rate", Static).update(text)

    # -- actions ------------------------------------------------------------------------------------
    def _words(self, verb: str) -> list[str] | None:
        files = split_list(self.query_one("#envelope-files", Input).value)
        status = self.query_one("#envelope-status", Static)
        if not files:
            status.update("Give at least one file or folder.")
            return None
        words = ["envelope", verb, *files]
        keys = split_list(self.query_one("#envelope-keys", Input).value)
        if verb == "encrypt" and not keys:
            status.update("Encrypting needs at least one wrapping key (e.g. alias/app).")
            return None
        for key in keys:
            words += ["--key-id", key]
        for pair in split_list(self.query_one("#envelope-context", Input).value):
            words += ["--context" if verb == "encrypt" else "--expect-context", pair]
        out = self.query_one("#envelope-out", Input).value.strip()
        if out:
            words += ["--out", out]
        if any(p.endswith("/") for p in files):
            words.append("--recursive")
        return words

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        action = (event.button.id or "").removeprefix("envelope-")
        handler = getattr(self, f"action_{action}", None)
        if handler is not None:
            event.stop()
            handler()

    def start(self, words: list[str], origin: str) -> None:
        self.cancel_event.clear()
        self.running = True
        self._started = time.monotonic()
        self._last_post = 0.0
        bar = self.query_one(ProgressBar)
        bar.display = False  # shown again by the first progress report of this run
        bar.update(total=None, progress=0)
        self.query_one("#envelope-rate", Static).update("")
        self.query_one("#envelope-status", Static).update(f"running: {' '.join(words[:2])} …")
        self.query_one("#envelope-cancel", Button).disabled = False
        self.app.run_words(words, reply_to=self, origin=origin)

    def action_encrypt(self) -> None:
        words = self._words("encrypt")
        if words and not self.running:
            self.start(words, "envelope-encrypt")

    def action_decrypt(self) -> None:
        words = self._words("decrypt")
        if words and not self.running:
            self.start(words, "envelope-decrypt")

    def action_cancel(self) -> None:
        self.cancel_event.set()
        self.query_one("#envelope-status", Static).update("cancelling…")

    def action_inspect(self, verify: bool = False) -> None:
        files = split_list(self.query_one("#envelope-files", Input).value)
        if not files:
            self.query_one("#envelope-status", Static).update("Give the file to inspect.")
            return
        words = ["inspect", files[0]] + (["--verify"] if verify else [])
        self.app.run_words(words, reply_to=self, origin="envelope-verify" if verify else "envelope-inspect")

    def action_verify(self) -> None:
        self.action_inspect(verify=True)

    # -- outcomes -----------------------------------------------------------------------------------
    @on(CommandFinished)
    def _finished(self, event: CommandFinished) -> None:
        if not event.origin.startswith("envelope-"):
            return
        event.stop()
        if event.origin in ("envelope-inspect", "envelope-verify"):
            self.show_inspection(event.result.data, verified=event.origin == "envelope-verify"
                                 and event.result.exit_code == 0)
            return
        self.running = False
        self.query_one("#envelope-cancel", Button).disabled = True
        bar = self.query_one(ProgressBar)
        if bar.total is not None:
            bar.update(progress=bar.total)
        self.query_one("#envelope-status", Static).update(event.result.message or event.text.strip() or "done")

    @on(CommandFailed)
    def _failed(self, event: CommandFailed) -> None:
        if not event.origin.startswith("envelope-"):
            return
        event.stop()
        self.running = False
        self.query_one("#envelope-cancel", Button).disabled = True
        self.query_one("#envelope-status", Static).update(f"{event.code}: {event.error}")

    def show_inspection(self, data: Any, *, verified: bool) -> None:
        tree = self.query_one(Tree)
        tree.display = True
        tree.clear()
        data = data if isinstance(data, dict) else {"Result": data}
        tree.root.set_label(tree_label(data.get("Path", "file"), data.get("Format")))
        add_to_tree(tree.root, {k: v for k, v in data.items() if k not in ("Path", "Format")})
        tree.root.expand()
        note = self.query_one("#inspect-note", Static)
        if verified:
            note.update("Verified: the data key unwrapped and the header's commitment and tag check out.")
        else:
            note.update("UNVERIFIED: read without any key; anyone could have written these header fields. "
                        "Press Verify to check them.")
