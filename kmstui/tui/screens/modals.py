"""Modal dialogs: secrets (masked, never logged), typed confirmation, first-run HSM setup and the key-creation
form. Each opens with focus in its first input, so what the user types at once lands there (never on a
button that Enter would press), and dismisses with its answer; none of them does any work itself."""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 72; max-width: 100%; height: auto; max-height: 100%; padding: 0 2;
    border: thick $primary; background: $surface; overflow-y: auto;
}}
{name} .title {{ text-style: bold; color: $primary; margin-bottom: 1; width: 100%; }}
{name} .error {{ color: $error; height: auto; }}
{name} Input, {name} Select {{ margin-bottom: 1; }}
{name} .buttons {{ height: auto; align-horizontal: right; dock: bottom; background: $surface; }}
{name} Button {{ margin-left: 2; }}
"""


class FieldInput(Input):
    """An Input whose keys follow focus. Enter moves to `next_field` at once (not after a message round
    trip), and keys that were already queued here when focus moved are passed on to the focused widget, so
    fast typing or a pasted burst never lands in the wrong field or is lost."""

    def __init__(self, *args: Any, next_field: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.next_field = next_field

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key == "enter" and self.next_field:
            event.stop()
            event.prevent_default()
            self.screen.set_focus(self.screen.query_one(f"#{self.next_field}"))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            (self.screen.focus_next if event.key == "tab" else self.screen.focus_previous)()
            return
        await super()._on_key(event)


class _Modal(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    async def _on_key(self, event: events.Key) -> None:
        # Keys typed before AUTO_FOCUS took effect reach the screen itself: give them to the first field.
        if self.focused is None and isinstance(self.AUTO_FOCUS, str) and event.is_printable:
            target = self.query(self.AUTO_FOCUS).first()
            if isinstance(target, Input):
                event.stop()
                self.set_focus(target)
                target.post_message(events.Key(event.key, event.character))

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.action_cancel()


class PassphraseModal(_Modal):
    """Ask for a passphrase or PIN. The value leaves only through dismiss(); nothing else sees it."""

    DEFAULT_CSS = MODAL_CSS.format(name="PassphraseModal")
    AUTO_FOCUS = "#secret"
    HELP = "Type the passphrase (masked) and press Enter; Escape cancels."

    def __init__(self, prompt: str, *, confirm: bool = False, title: str = "Passphrase") -> None:
        super().__init__()
        self.prompt, self.confirm, self.title_text = prompt, confirm, title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield Label(self.prompt, markup=False)
            yield FieldInput(password=True, id="secret", placeholder="passphrase",
                             next_field="again" if self.confirm else None)
            if self.confirm:
                yield FieldInput(password=True, id="again", placeholder="again, to confirm")
            yield Static("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("OK", id="ok", variant="primary")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "secret" and self.confirm:
            self.query_one("#again", Input).focus()
        else:
            self._accept()

    @on(Button.Pressed, "#ok")
    def _accept(self) -> None:
        value = self.query_one("#secret", Input).value
        error = self.query_one("#error", Static)
        if not value:
            error.update("The passphrase cannot be empty.")
            return
        if self.confirm and value != self.query_one("#again", Input).value:
            error.update("The two passphrases differ; type them again.")
            for box in self.query(Input):
                box.value = ""
            self.query_one("#secret", Input).focus()
            return
        self.dismiss(value)


class ConfirmModal(_Modal):
    """Confirm a destructive action by typing `expected` (an alias or key id). Focus starts in the input:
    the name typed right after the dialog opens lands there, and Enter confirms only when it matches."""

    DEFAULT_CSS = MODAL_CSS.format(name="ConfirmModal")
    AUTO_FOCUS = "#typed"
    HELP = "Type the alias or key id shown, then Enter or Confirm. Escape or Cancel changes nothing."

    def __init__(self, prompt: str, expected: str, *, action: str = "Confirm") -> None:
        super().__init__()
        self.prompt, self.expected, self.action = prompt, expected, action

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Confirm a destructive action", classes="title")
            yield Label(self.prompt, markup=False)
            yield from self.typed_confirmation()

    def typed_confirmation(self) -> ComposeResult:
        """The input for the typed name, its error line and the buttons (for subclasses' own compose)."""
        yield FieldInput(id="typed", placeholder=f"type {self.expected}")
        yield Static("", id="error", classes="error", markup=False)
        with Horizontal(classes="buttons"):
            yield Button("Cancel", id="cancel", variant="primary")
            yield Button(self.action, id="confirm", variant="error", disabled=True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.expected
        self.query_one("#error", Static).update("")

    @on(Input.Submitted, "#typed")
    @on(Button.Pressed, "#confirm")
    def _confirmed(self) -> None:
        if self.query_one("#typed", Input).value == self.expected:
            self.dismiss(True)
        else:
            self.query_one("#error", Static).update(
                f"That is not {self.expected}; type it exactly, or press Escape to cancel.")


class NewHsmModal(_Modal):
    """First run: no local HSM file yet. Choose its passphrase (twice) and whether to keep it in the
    system keyring; dismisses with {"passphrase": ..., "keyring": bool} or None."""

    DEFAULT_CSS = MODAL_CSS.format(name="NewHsmModal")
    AUTO_FOCUS = "#secret"

    def __init__(self, location: str, *, keyring_available: bool = True) -> None:
        super().__init__()
        self.location, self.keyring_available = location, keyring_available

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Create the local HSM", classes="title")
            yield Label(f"No HSM file at {self.location}.", markup=False)
            yield Label("Its keys are sealed under a root key that this passphrase unlocks. "
                        "Nobody can recover a lost passphrase.")
            yield FieldInput(password=True, id="secret", placeholder="new passphrase", next_field="again")
            yield FieldInput(password=True, id="again", placeholder="the same passphrase again")
            yield Checkbox("Also keep it in the system keyring" if self.keyring_available
                           else "System keyring: not available on this machine", id="keyring",
                           disabled=not self.keyring_available)
            yield Static("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="ok", variant="primary")

    @on(Input.Submitted, "#secret")
    def _next(self) -> None:
        self.query_one("#again", Input).focus()

    @on(Input.Submitted, "#again")
    @on(Button.Pressed, "#ok")
    def _accept(self) -> None:
        first = self.query_one("#secret", Input).value
        second = self.query_one("#again", Input).value
        error = self.query_one("#error", Static)
        if len(first) < 8:
            error.update("Use at least 8 characters.")
            return
        if first != second:
            error.update("The two passphrases differ; type them again.")
            self.query_one("#secret", Input).value = self.query_one("#again", Input).value = ""
            self.query_one("#secret", Input).focus()
            return
        self.dismiss({"passphrase": first, "keyring": self.query_one("#keyring", Checkbox).value})


KEY_SPECS = ("SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
             "ECC_NIST_P521", "ECC_SECG_P256K1", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")
KEY_USAGES = ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT")


class CreateKeyModal(_Modal):
    """The `key create` form; dismisses with the command words to run, or None."""

    DEFAULT_CSS = MODAL_CSS.format(name="CreateKeyModal") + """
CreateKeyModal .pair { height: auto; }
CreateKeyModal .pair > Vertical { width: 1fr; height: auto; }
CreateKeyModal .pair > Vertical:first-child { margin-right: 2; }
"""
    AUTO_FOCUS = "#alias"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Create a key", classes="title")
            yield Label("Alias (optional)")
            yield FieldInput(id="alias", placeholder="alias/NAME")
            yield Label("Description")
            yield FieldInput(id="description", placeholder="what the key protects")
            with Horizontal(classes="pair"):  # side by side: the whole form fits 24 rows, title included
                with Vertical():
                    yield Label("Key spec")
                    yield Select([(s, s) for s in KEY_SPECS], value="SYMMETRIC_DEFAULT", allow_blank=False,
                                 id="spec")
                with Vertical():
                    yield Label("Key usage")
                    yield Select([(u, u) for u in KEY_USAGES], id="usage", prompt="implied by the key spec")
            yield Static("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="ok", variant="primary")

    def words(self) -> list[str] | None:
        alias = self.query_one("#alias", Input).value.strip()
        if alias and not alias.startswith("alias/"):
            alias = "alias/" + alias
        words = ["key", "create"]
        description = self.query_one("#description", Input).value
        if description:
            words += ["--description", description]
        spec = self.query_one("#spec", Select).value
        if spec != "SYMMETRIC_DEFAULT":
            words += ["--key-spec", str(spec)]
        usage: Any = self.query_one("#usage", Select).value
        if usage is not Select.NULL and usage:
            words += ["--key-usage", str(usage)]
        if alias:
            words += ["--alias", alias]
        return words

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _accept(self) -> None:
        self.dismiss(self.words())
