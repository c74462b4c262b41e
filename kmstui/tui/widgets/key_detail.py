"""The key detail pane: tabs for metadata, policy, grants, rotation, aliases and tags, and audit entries.

Tabs fetch their data through the app's backend worker when the selected key changes (the visible tab
first) and ask the app to run commands for changes (`RunCommand`), so every change goes through the
session: read-only mode, typed confirmation and the audit log apply exactly as in the REPL.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Sparkline, Static, TabbedContent, TabPane

from kmstui.commands.render import plain
from kmstui.tui.loaders import KeyAudit
from kmstui.tui.messages import RunCommand
from kmstui.visible import visible, visible_data
from kmstui.tui.widgets.grants import GrantsPane
from kmstui.tui.widgets.key_table import KeyRow
from kmstui.tui.widgets.policy import PolicyPane


def field_lines(data: Any, indent: str = "") -> Text:
    """Plain-text "Field  value" lines for a dict (nested dicts indented); nothing is parsed as markup, and
    control characters in keys and values (a crafted description or tag) are shown as escapes."""
    data = visible_data(data)
    text = Text()
    if isinstance(data, dict):
        width = max((len(str(k)) for k in data), default=0)
        for key, value in data.items():
            if isinstance(value, dict) and value:
                text.append(f"{indent}{key}\n", style="bold")
                text.append_text(field_lines(value, indent + "  "))
            else:
                if isinstance(value, list):
                    value = ", ".join(json.dumps(v) if isinstance(v, dict) else str(v) for v in value)
                text.append(f"{indent}{str(key):<{width}}  ", style="bold")
                text.append(f"{'' if value is None else value}\n")
    else:
        text.append(visible(data))
    return text


class MetadataPane(VerticalScroll):
    """The key's metadata, with the state changes that apply to its current state (buttons on top, so they
    show without scrolling on a short terminal)."""

    DEFAULT_CSS = """
    MetadataPane Horizontal { height: auto; margin-bottom: 1; }
    MetadataPane Button { margin-right: 1; }
    """

    # which buttons make sense in which key state (others are hidden, not just disabled)
    FOR_STATE = {"Enabled": {"key-disable", "key-delete"}, "Disabled": {"key-enable", "key-delete"},
                 "PendingDeletion": {"key-undelete"}, "PendingReplicaDeletion": {"key-undelete"}}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Button("Enable", id="key-enable", classes="mutating", compact=True)
            yield Button("Disable", id="key-disable", classes="mutating", variant="warning", compact=True)
            yield Button("Schedule deletion", id="key-delete", classes="mutating", variant="error", compact=True)
            yield Button("Cancel deletion", id="key-undelete", classes="mutating", compact=True)
        yield Static(id="metadata-fields", markup=False)

    def show(self, metadata: dict[str, Any]) -> None:
        self.query_one("#metadata-fields", Static).update(field_lines(plain(metadata)))
        wanted = self.FOR_STATE.get(str(metadata.get("KeyState", "")), set())
        for button in self.query(Button):
            button.display = button.id in wanted


class RotationPane(VerticalScroll):
    DEFAULT_CSS = """
    RotationPane Horizontal { height: auto; margin-bottom: 1; }
    RotationPane Button { margin-right: 1; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Button("Enable rotation", id="rotation-enable", classes="mutating", compact=True)
            yield Button("Disable rotation", id="rotation-disable", classes="mutating", compact=True)
            yield Button("Rotate now", id="rotation-now", classes="mutating", compact=True)
        yield Static(id="rotation-fields", markup=False)

    def show(self, data: Any) -> None:
        self.query_one("#rotation-fields", Static).update(field_lines(plain(data)))
        enabled = data.get("KeyRotationEnabled") if isinstance(data, dict) else None
        self.query_one("#rotation-enable").display = enabled is not True
        self.query_one("#rotation-disable").display = enabled is not False


class AliasesPane(VerticalScroll):
    DEFAULT_CSS = """
    AliasesPane Horizontal { height: auto; margin-bottom: 1; }
    AliasesPane Input { width: 1fr; }
    AliasesPane Button { width: 12; margin-left: 1; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(placeholder="e.g. alias/new-name", id="alias-new", classes="mutating", compact=True)
            yield Button("Add alias", id="alias-add", classes="mutating", compact=True)
        with Horizontal():
            yield Input(placeholder="e.g. team=payments", id="tag-new", classes="mutating", compact=True)
            yield Button("Add tag", id="tag-add", classes="mutating", compact=True)
        yield Static(id="aliases-fields", markup=False)

    def show(self, data: Any) -> None:
        self.query_one("#aliases-fields", Static).update(field_lines(plain(data)))


class AuditPane(VerticalScroll):
    """This key's usage per day as small charts (your commands only), then its audit events, newest first.
    The TUI's own reads while you browse are audited too, but hidden here unless you ask for them."""

    DEFAULT_CSS = """
    AuditPane #usage-title { color: $text-muted; }
    AuditPane .usage-row { height: 1; }
    AuditPane .usage-row Label { width: 20; }
    AuditPane .usage-row Sparkline { width: 1fr; max-width: 30; }
    AuditPane .usage-row .count { width: 8; padding-left: 1; }
    AuditPane #usage { height: auto; }
    AuditPane Checkbox { margin: 1 0 0 0; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data = KeyAudit()

    def compose(self) -> ComposeResult:
        yield Static("", id="usage-title", markup=False)
        yield Vertical(id="usage")
        yield Checkbox("Show screen reads", id="audit-screen-reads", compact=True,
                       tooltip="The TUI's own reads (policy, grants, tags) made while you browse")
        yield Static(id="audit-lines", markup=False)

    def show(self, data: Any) -> None:
        self.data = data if isinstance(data, KeyAudit) else KeyAudit(note=str(data))
        self._draw_usage()
        self._draw_lines()

    def _draw_usage(self) -> None:
        box = self.query_one("#usage", Vertical)
        box.remove_children()
        data = self.data
        title = self.query_one("#usage-title", Static)
        if not data.usage:
            title.update(data.note or f"No use of this key in the last {data.days} days.")
            return
        title.update(f"Use per day, last {data.days} days (commands, not screen reads)")
        rows = []
        for operation, counts in data.usage.items():
            rows.append(Horizontal(Label(operation, markup=False), Sparkline(counts, summary_function=max),
                                   Label(str(sum(counts)), classes="count"), classes="usage-row"))
        box.mount_all(rows)

    def _draw_lines(self) -> None:
        show_all = self.query_one("#audit-screen-reads", Checkbox).value
        lines = [text for text, screen in self.data.lines if show_all or not screen]
        hidden = sum(1 for _t, screen in self.data.lines if screen) if not show_all else 0
        out = Text("\n".join(lines)) if lines else Text(self.data.note or "No audit events for this key yet.",
                                                         style="dim")
        if hidden:
            out.append(f"\n({hidden} screen read{'s' if hidden != 1 else ''} hidden)", style="dim")
        self.query_one("#audit-lines", Static).update(out)

    @on(Checkbox.Changed, "#audit-screen-reads")
    def _toggle(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._draw_lines()


class KeyDetail(Vertical):
    """Details of the key under the table cursor."""

    HELP = """\
## Key details
Tabs: Info (metadata), Policy, Grants, Rotation, Aliases (and tags), Audit (use per day and this key's
audit events; **Show screen reads** adds the TUI's own reads made while you browse).
Buttons run the same commands as the console (`key disable`, `key rotate`, `alias create` ...);
destructive ones ask you to type the alias or key id. In read-only mode they are disabled.
"""

    DEFAULT_CSS = "KeyDetail { height: 1fr; } KeyDetail TabbedContent { height: 1fr; } KeyDetail TabPane { padding: 0 1; height: 1fr; }"

    TABS = ("metadata", "policy", "grants", "rotation", "aliases", "audit")

    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.row: KeyRow | None = None
        self.loaded: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="tab-metadata", id="detail-tabs"):
            with TabPane("Info", id="tab-metadata"):
                yield MetadataPane()
            with TabPane("Policy", id="tab-policy"):
                yield PolicyPane(self.session)
            with TabPane("Grants", id="tab-grants"):
                yield GrantsPane(self.session)
            with TabPane("Rotation", id="tab-rotation"):
                yield RotationPane()
            with TabPane("Aliases", id="tab-aliases"):
                yield AliasesPane()
            with TabPane("Audit", id="tab-audit"):
                yield AuditPane()

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#detail-tabs", TabbedContent)

    @property
    def active(self) -> str:
        return self.tabs.active

    def on_mount(self) -> None:
        if self.session.options.read_only:
            for widget in self.query(".mutating"):
                widget.disabled = True
        # Mounted after the first frame: catch up with the key the table already shows.
        from kmstui.tui.widgets.key_table import KeyTable

        for table in self.screen.query(KeyTable):
            if table.rows:
                self.show_key(table.current_row)

    # -- loading ------------------------------------------------------------------------------------
    def show_key(self, row: KeyRow | None) -> None:
        self.row = row
        self.loaded.clear()
        if row is None:
            self.query_one(MetadataPane).show({"": "no key selected"})
            return
        self.query_one(MetadataPane).show(row.metadata)
        self.loaded["metadata"] = row.key_id
        self.query_one(PolicyPane).reset(row)
        self.query_one(GrantsPane).reset(row)
        self._load(self.active.removeprefix("tab-"))

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "detail-tabs" and event.pane.id:
            self._load(event.pane.id.removeprefix("tab-"))

    def reload(self) -> None:
        self.loaded.clear()
        if self.row is not None:
            self._load(self.active.removeprefix("tab-"))

    def _load(self, tab: str) -> None:
        row = self.row
        if row is None or self.loaded.get(tab) == row.key_id:
            return
        self.loaded[tab] = row.key_id
        loader = getattr(self.app, f"load_{tab}", None)
        if loader is not None:
            loader(row.key_id, self)

    def show_data(self, tab: str, key_id: str, data: Any) -> None:
        if self.row is None or key_id != self.row.key_id:
            return
        pane = {"metadata": MetadataPane, "policy": PolicyPane, "grants": GrantsPane, "rotation": RotationPane,
                "aliases": AliasesPane, "audit": AuditPane}[tab]
        self.query_one(pane).show(data)

    # -- actions ------------------------------------------------------------------------------------
    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        row = self.row
        if row is None:
            return
        ref = row.ref
        words = {
            "key-enable": ["key", "enable", ref],
            "key-disable": ["key", "disable", ref],
            "key-delete": ["key", "schedule-deletion", ref, "--days", "30"],
            "key-undelete": ["key", "cancel-deletion", ref],
            "rotation-enable": ["key", "rotation", ref, "--enable"],
            "rotation-disable": ["key", "rotation", ref, "--disable"],
            "rotation-now": ["key", "rotate", ref],
        }.get(event.button.id or "")
        if event.button.id == "alias-add":
            name = self.query_one("#alias-new", Input).value.strip()
            words = ["alias", "create", name, row.key_id] if name else None
        elif event.button.id == "tag-add":
            tag = self.query_one("#tag-new", Input).value.strip()
            words = ["key", "tag", ref, tag] if tag else None
        if words:
            event.stop()
            self.post_message(RunCommand(words))
