"""Pilot test of the advisor plugin's screen: the questionnaire form and its live recommendation."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select, Static

from tui_helpers import SIZE, settle, wait_until

pytest.importorskip("kmstui_advisor")

from kmstui_advisor.engine import advise  # noqa: E402
from kmstui_advisor.screens import AdviceUpdated, AdvisorScreen  # noqa: E402


async def test_advisor_form_updates_the_recommendation_live(tui_session, make_app):
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        assert "advisor" in app.plugin_screens
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, AdvisorScreen))
        screen = app.screen
        # Defaults: the same advice as the engine gives for no answers.
        assert screen.advice.primary == advise({}).primary
        panel = lambda: str(screen.query_one("#advisor-advice", Static).render())  # noqa: E731
        assert "Recommendation:" in panel() and "/month" in panel()
        # A FIPS 140 level 3 single-tenant need changes the recommendation, and the panel follows.
        before = screen.advice.primary
        screen.query_one("#q-Q1", Select).value = "fips140_3_level3"
        screen.query_one("#q-Q2", Select).value = "yes"
        await wait_until(pilot, lambda: screen.advice.answers["Q2"] == "yes")
        expected = advise(screen.answers())
        assert screen.advice.primary == expected.primary != before
        assert expected.name(expected.primary) in panel()
        # A bad number names the question instead of failing; fixing it recomputes.
        box = screen.query_one("#q-Q13-keys", Input)
        box.value = "-5"
        await wait_until(pilot, lambda: bool(screen.error))
        assert "Q13" in str(screen.query_one("#advisor-error", Static).render())
        assert any(isinstance(m, AdviceUpdated) and m.advice is None for m in messages)
        box.value = "40"
        await wait_until(pilot, lambda: not screen.error)
        assert screen.advice.answers["Q13"]["keys"] == 40
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AdvisorScreen))
