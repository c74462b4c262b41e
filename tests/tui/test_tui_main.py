"""Pilot tests of the main view: loading keys, creating one, filtering, hostile text, confirmation, read-only."""

from __future__ import annotations

from textual.widgets import Button, Input, Static

from kmstui.tui.messages import CommandFinished, KeysLoaded
from kmstui.tui.screens.modals import ConfirmModal, CreateKeyModal
from kmstui.tui.widgets.header import StatusHeader
from kmstui.tui.widgets.key_table import KeyTable
from tui_helpers import SIZE, settle, wait_until

HOSTILE = "[bold red]owned[/] [link=https://evil.example]click[/link]"


def make_key(session, description: str, alias: str | None = None) -> str:
    words = ["key", "create", "--description", description]
    if alias:
        words += ["--alias", alias]
    return session.execute(words).data["KeyMetadata"]["KeyId"]


async def test_header_and_key_list(tui_session, make_app):
    key_id = make_key(tui_session, "app data", "alias/app")
    tui_session.close()
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        header = app.screen.query_one(StatusHeader)
        assert (header.profile, header.backend, header.sealed, header.read_only) == ("local", "local", False, False)
        loaded = [m for m in messages if isinstance(m, KeysLoaded)]
        assert loaded and loaded[-1].keys[0]["KeyId"] == key_id
        table = app.screen.query_one(KeyTable)
        assert [r.alias for r in table.visible_rows] == ["alias/app"]
        assert table.current_row.key_id == key_id


async def test_create_key_through_the_form(tui_session, make_app):
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateKeyModal))
        await pilot.press(*"billing")
        app.screen.query_one("#description", Input).value = "billing records"
        app.screen.query_one("#ok").press()
        await pilot.pause()
        await wait_until(pilot, lambda: any(isinstance(m, CommandFinished) and m.path == ("key", "create")
                                            for m in messages))
        await settle(pilot)
        table = app.screen.query_one(KeyTable)
        assert [(r.alias, r.description) for r in table.visible_rows] == [("alias/billing", "billing records")]
        # The new key is selected, and the backend really holds it.
        assert table.current_row.alias == "alias/billing"
        stored = tui_session.backend().describe_key(KeyId="alias/billing")["KeyMetadata"]
        assert stored["Description"] == "billing records"


async def test_filter_sort_and_jk_navigation(tui_session, make_app):
    for name in ("orders", "payments", "audit-export", "orders-archive"):
        make_key(tui_session, f"{name} key", f"alias/{name}")
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(KeyTable)
        assert [r.alias for r in table.visible_rows] == ["alias/audit-export", "alias/orders",
                                                         "alias/orders-archive", "alias/payments"]
        await pilot.press("j", "j")
        assert table.current_row.alias == "alias/orders-archive"
        await pilot.press("k")
        assert table.current_row.alias == "alias/orders"
        await pilot.press("r")  # reverse the sort, cursor stays on the same key
        assert table.visible_rows[0].alias == "alias/payments"
        assert table.current_row.alias == "alias/orders"
        await pilot.press("slash", *"order")
        assert app.focused.id == "filter"
        assert sorted(r.alias for r in table.visible_rows) == ["alias/orders", "alias/orders-archive"]
        await pilot.press("space", *"arch")
        assert [r.alias for r in table.visible_rows] == ["alias/orders-archive"]
        await pilot.press("escape")
        assert len(table.visible_rows) == 4 and app.focused is table


async def test_hostile_description_is_shown_as_plain_text(tui_session, make_app):
    make_key(tui_session, HOSTILE, "alias/hostile")
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        svg = app.export_screenshot()
        # The literal brackets are on screen (as SVG text, spaces as &#160;); no link was created.
        assert "[bold&#160;red]owned[/]" in svg
        assert "evil.example" in svg and "href=\"https://evil.example" not in svg
        fields = app.screen.query_one("#metadata-fields", Static)
        assert HOSTILE in str(fields.render())


async def test_disable_needs_the_alias_typed_and_focus_starts_in_the_input(tui_session, make_app):
    make_key(tui_session, "to disable", "alias/victim")
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        app.screen.query_one("#key-disable").press()
        await pilot.pause()
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        modal = app.screen
        await wait_until(pilot, lambda: app.focused is modal.query_one("#typed", Input))
        assert modal.query_one("#confirm", Button).disabled
        await pilot.press(*"alias/victi", "enter")  # a near miss: Enter never confirms it
        await pilot.pause()
        assert app.screen is modal and "type it exactly" in str(modal.query_one("#error", Static).render())
        await pilot.press("escape")  # Escape changes nothing
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmModal))
        await settle(pilot)
        assert tui_session.backend().describe_key(KeyId="alias/victim")["KeyMetadata"]["KeyState"] == "Enabled"

        app.screen.query_one("#key-disable").press()
        await pilot.pause()
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press(*"alias/victim", "enter")
        await wait_until(pilot, lambda: any(isinstance(m, CommandFinished) and m.path == ("key", "disable")
                                            for m in messages))
        await settle(pilot)
        assert tui_session.backend().describe_key(KeyId="alias/victim")["KeyMetadata"]["KeyState"] == "Disabled"
        assert app.screen.query_one(KeyTable).current_row.state == "Disabled"


async def test_read_only_disables_changes(read_only_session, make_app):
    app = make_app(read_only_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one(StatusHeader).read_only
        assert all(b.disabled for b in app.screen.query("#key-disable, #key-delete").results(Button))
        assert app.screen.query_one("#policy-edit", Button).disabled
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, CreateKeyModal)


async def test_escape_sequences_in_untrusted_fields_are_shown_not_obeyed(tui_session, make_app):
    """Issue 11 item 12: the crafted text of the issue in a description, a tag and an error line."""
    payload = "\x1b[2J\x1b[1;1Hkmstui: decrypted 1 file OK\n"
    key = tui_session.execute(["key", "create", "--description", payload, "--alias", "alias/esc",
                               "--tag", f"t{payload}=v{payload}"]).data["KeyMetadata"]["KeyId"]
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = str(app.screen.query_one("#metadata-fields", Static).render())
        assert "\x1b" not in shown and "\\x1b[2J\\x1b[1;1Hkmstui: decrypted 1 file OK\\n" in shown
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\\x1b[2J" in svg
    assert key
