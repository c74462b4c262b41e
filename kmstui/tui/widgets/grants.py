"""The grants tab: the key's grants, a create form, and revoke (confirmed by typing the key's name).

Both changes run the grants plugin's commands through the session, so they behave as `grant create` and
`grant revoke` do in the REPL."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Static

from kmstui.tui.messages import CommandFailed, CommandFinished, RunCommand
from kmstui.tui.widgets.key_table import KeyRow

GRANT_OPERATIONS = ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                    "ReEncryptTo", "Sign", "Verify", "GenerateMac", "VerifyMac", "DescribeKey", "CreateGrant",
                    "RetireGrant", "GetPublicKey", "DeriveSharedSecret", "GenerateDataKeyPair",
                    "GenerateDataKeyPairWithoutPlaintext")


def grant_create_words(key: str, grantee: str, operations: list[str], name: str = "") -> list[str]:
    words = ["grant", "create", "--key-id", key, "--grantee-principal", grantee, "--operations", ",".join(operations)]
    if name:
        words += ["--name", name]
    return words


def grant_revoke_words(key: str, grant_id: str) -> list[str]:
    return ["grant", "revoke", "--key-id", key, "--grant-id", grant_id]


class GrantsPane(Vertical):
    HELP = """\
## Grants
The table lists the key's grants. Fill in the grantee principal ARN and the operations (comma- or
space-separated, e.g. `Encrypt, Decrypt`) and press **Create grant**. Select a grant and press
**Revoke selected**; you confirm by typing the key's alias or id.
"""

    DEFAULT_CSS = """
    GrantsPane { height: 1fr; }
    GrantsPane DataTable { height: 1fr; min-height: 3; }
    GrantsPane Horizontal { height: auto; }
    GrantsPane .field { width: 11; }
    GrantsPane Input { width: 1fr; }
    GrantsPane Button { margin: 0 1 0 0; }
    GrantsPane #grant-buttons { margin-top: 1; }
    GrantsPane #grant-error { color: $error; height: auto; }
    """

    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.row: KeyRow | None = None
        self.grants: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield DataTable(id="grant-table", cursor_type="row", zebra_stripes=True)
        # One labelled line per field: a placeholder inside a half-width box was cut off.
        for name, label, hint in (("grantee", "Grantee", "arn:aws:iam::ACCOUNT:role/NAME"),
                                  ("operations", "Operations", "e.g. Encrypt, Decrypt"),
                                  ("name", "Name", "optional")):
            with Horizontal():
                yield Label(label, classes="field")
                yield Input(placeholder=hint, id=f"grant-{name}", classes="mutating", compact=True)
        with Horizontal(id="grant-buttons"):
            yield Button("Create grant", id="grant-create", classes="mutating", variant="primary", compact=True)
            yield Button("Revoke selected", id="grant-revoke", classes="mutating", variant="error", compact=True)
        yield Static("", id="grant-error", markup=False)

    # Name and what it allows first; the 64-character grant id shortened (revoke uses the full one).
    COLUMNS = ("Name", "Operations", "Grantee", "Grant id", "Retiring")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*self.COLUMNS)

    def reset(self, row: KeyRow) -> None:
        self.row = row
        self.grants = []
        self.query_one(DataTable).clear()
        self.query_one("#grant-error", Static).update("")

    def show(self, data: Any) -> None:
        grants = data.get("Grants", []) if isinstance(data, dict) else list(data or [])
        self.grants = grants
        table = self.query_one(DataTable)
        rows = []
        for grant in grants:
            grant_id = str(grant.get("GrantId", ""))
            rows.append((grant_id, [str(v) for v in (
                grant.get("Name") or "", ", ".join(grant.get("Operations", [])), grant.get("GranteePrincipal", ""),
                grant_id[:12] + ("…" if len(grant_id) > 12 else ""), grant.get("RetiringPrincipal") or "")]))
        # Columns sized here from the rows (the table's own auto-width can lag behind when rows arrive while
        # the tab is being switched); the table scrolls sideways for what does not fit.
        table.clear(columns=True)
        for n, label in enumerate(self.COLUMNS):
            table.add_column(label, width=max([len(label)] + [min(64, len(cells[n])) for _g, cells in rows]))
        for grant_id, cells in rows:
            table.add_row(*(Text(c) for c in cells), key=grant_id)  # Text: never read as markup

    @property
    def selected_grant(self) -> dict[str, Any] | None:
        table = self.query_one(DataTable)
        if not self.grants or table.cursor_row < 0 or table.cursor_row >= len(self.grants):
            return None
        return self.grants[table.cursor_row]

    @on(Button.Pressed, "#grant-create")
    def _create(self, event: Button.Pressed) -> None:
        event.stop()
        if self.row is None:
            return
        grantee = self.query_one("#grant-grantee", Input).value.strip()
        operations = [o for o in self.query_one("#grant-operations", Input).value.replace(",", " ").split() if o]
        error = self.query_one("#grant-error", Static)
        if not grantee or not operations:
            error.update("A grant needs a grantee principal and at least one operation.")
            return
        unknown = [o for o in operations if o not in GRANT_OPERATIONS]
        if unknown:
            error.update(f"Unknown operation(s): {', '.join(unknown)}; use e.g. Encrypt, Decrypt, GenerateDataKey.")
            return
        error.update("")
        name = self.query_one("#grant-name", Input).value.strip()
        words = grant_create_words(self.row.ref, grantee, operations, name)
        self.post_message(RunCommand(words, origin="grants", reply_to=self))

    @on(Button.Pressed, "#grant-revoke")
    def _revoke(self, event: Button.Pressed) -> None:
        event.stop()
        grant = self.selected_grant
        if self.row is None or grant is None:
            self.query_one("#grant-error", Static).update("Select a grant to revoke.")
            return
        row = self.row

        def decided(ok: bool | None) -> None:
            if ok:
                self.post_message(RunCommand(grant_revoke_words(row.ref, grant["GrantId"]) + ["--yes"],
                                             origin="grants", reply_to=self))

        from kmstui.tui.screens.modals import ConfirmModal

        self.app.push_screen(ConfirmModal(f"Revoke grant {grant['GrantId']} on {row.ref}? Type {row.ref} to "
                                          "confirm.", row.ref, action="Revoke"), decided)

    @on(CommandFinished)
    def _done(self, event: CommandFinished) -> None:
        if event.origin == "grants":
            for box in ("#grant-grantee", "#grant-operations", "#grant-name"):
                self.query_one(box, Input).value = ""

    @on(CommandFailed)
    def _failed(self, event: CommandFailed) -> None:
        if event.origin == "grants":
            self.query_one("#grant-error", Static).update(f"{event.code}: {event.error}")
