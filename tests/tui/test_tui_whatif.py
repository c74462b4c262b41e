"""Pilot test of the what-if screen: ALLOW and DENY with their trace, for a real key's policy."""

from __future__ import annotations

import pytest
from textual.widgets import Input, RichLog, Static

from kmstui.tui.messages import CommandFailed, CommandFinished
from tui_helpers import SIZE, settle, wait_until

whatif_screens = pytest.importorskip("kmstui_whatif.screens", reason="whatif plugin not installed")


async def test_whatif_allow_then_deny(tui_session, make_app):
    tui_session.execute(["key", "create", "--alias", "alias/wi"])
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        assert "whatif" in app.plugin_screens
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, whatif_screens.WhatIfScreen))
        screen = app.screen
        screen.query_one("#whatif-key", Input).value = "alias/wi"
        screen.query_one("#whatif-principal", Input).value = "arn:aws:iam::111122223333:root"
        screen.query_one("#whatif-action", Input).value = "Decrypt"
        screen.query_one("#whatif-evaluate").press()
        await wait_until(pilot, lambda: any(isinstance(m, (CommandFinished, CommandFailed))
                                            and m.origin == "whatif-evaluate" for m in messages), timeout=20)
        await settle(pilot)
        decision = str(screen.query_one("#whatif-decision", Static).render())
        assert decision.startswith("ALLOW"), decision
        assert screen.query_one("#whatif-decision").has_class("-allow")
        assert screen.query_one(RichLog).lines  # the trace is shown

        messages.clear()
        screen.query_one("#whatif-principal", Input).value = "arn:aws:iam::444455556666:role/Stranger"
        screen.query_one("#whatif-evaluate").press()
        await wait_until(pilot, lambda: any(isinstance(m, (CommandFinished, CommandFailed))
                                            and m.origin == "whatif-evaluate" for m in messages), timeout=20)
        await settle(pilot)
        assert str(screen.query_one("#whatif-decision", Static).render()).startswith("DENY")
        assert screen.query_one("#whatif-decision").has_class("-deny")
