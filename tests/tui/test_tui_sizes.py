"""Issue 16 flows at both operator sizes (80x24, 120x35), typed as a user types them: the console's typed
confirmation, Escape out of the console, wrapped output, what-if starting from the selected key, and the
envelope screen idle until work starts."""

from __future__ import annotations

import pytest
from textual.widgets import Input, ProgressBar, RichLog, Static

from kmstui.tui.messages import CommandFailed, CommandFinished
from kmstui.tui.screens.modals import ConfirmModal
from kmstui.tui.widgets.key_table import KeyTable
from tui_helpers import SIZES, screen_text, settle, wait_until

LONG = "customer ledger for the north-east region, kept seven years under the retention policy RP-7 " * 2


@pytest.mark.parametrize("size", list(SIZES))
async def test_console_confirmation_escape_and_wrapping(tui_session, make_app, size):
    tui_session.execute(["key", "create", "--alias", "alias/x", "--description", LONG.strip()])
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZES[size], message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"key schedule-deletion alias/x --days 7", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        modal = app.screen
        await wait_until(pilot, lambda: app.focused is modal.query_one("#typed", Input))
        await pilot.press(*"alias/y", "enter")  # a mismatch: Enter never confirms
        await pilot.pause()
        assert app.screen is modal and "type it exactly" in str(modal.query_one("#error", Static).render())
        await pilot.press("ctrl+u", *"alias/x", "enter")
        await wait_until(pilot, lambda: any(isinstance(m, (CommandFinished, CommandFailed))
                                            and m.words[:2] == ["key", "schedule-deletion"] for m in messages))
        assert not [m.error for m in messages if isinstance(m, CommandFailed)]
        state = tui_session.backend().describe_key(KeyId="alias/x")["KeyMetadata"]["KeyState"]
        assert state == "PendingDeletion"

        # Escape leaves the console for the key table (help lists "escape"); output wraps, nothing cut.
        await settle(pilot)
        await pilot.press("escape")  # back to the table from the console line, then in again
        assert app.focused is app.screen.query_one(KeyTable)
        await pilot.press("colon", *"key describe alias/x --query KeyMetadata.Description --output text", "enter")
        log = app.screen.query_one("#console-log", RichLog)
        await wait_until(pilot, lambda: "RP-7" in "".join(s.text for s in log.lines))
        width = log.scrollable_content_region.width
        assert all(len(strip.text.rstrip()) <= width for strip in log.lines)
        assert LONG.split()[-1] in " ".join(s.text.strip() for s in log.lines)
        assert log.display and log.region.height >= 8  # enough lines to read, at 80x24 too
        await pilot.press("escape")
        assert app.focused is app.screen.query_one(KeyTable)
        if size == "80x24":  # the short layout folds the console back to its command line
            await pilot.pause()
            assert app.screen.query_one("#console").folded


@pytest.mark.parametrize("size", list(SIZES))
async def test_whatif_follows_the_selection_and_envelope_is_idle(tui_session, make_app, size):
    for name in ("a-first", "b-second"):
        tui_session.execute(["key", "create", "--alias", f"alias/{name}"])
    app = make_app(tui_session)
    async with app.run_test(size=SIZES[size]) as pilot:
        await settle(pilot)
        await pilot.press("j")  # select the second key
        assert app.screen.query_one(KeyTable).current_row.alias == "alias/b-second"
        await pilot.press("f4")
        await wait_until(pilot, lambda: app.screen.id == "whatif")
        screen = app.screen
        assert screen.query_one("#whatif-key", Input).value == "alias/b-second"
        principal = screen.query_one("#whatif-principal", Input)
        assert app.focused is principal and principal.value == ""
        assert principal.placeholder.startswith("e.g. ")  # reads as an example, not a value
        assert principal.get_component_rich_style("input--placeholder").italic
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.id == "main")

        app.call_later(app.open_plugin_screen, "envelope")
        await wait_until(pilot, lambda: app.screen.id == "envelope")
        await settle(pilot)
        assert not app.screen.query_one(ProgressBar).display
        assert "--%" not in screen_text(app) and "--:--:--" not in screen_text(app)
