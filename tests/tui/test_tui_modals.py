"""Pilot tests of the modal forms under an operator's fast typing and on a small (80x24) terminal."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from kmstui.session import Session
from kmstui.tui.screens.modals import CreateKeyModal, NewHsmModal
from kmstui.tui.widgets.header import StatusHeader
from tui_helpers import settle, wait_until

SECRET = "hunter2hunter2"


def burst(app, keys: list[str]) -> None:
    """Queue keys all at once, as a paste-like burst from tmux or a fast typist arrives."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_first_run_modal_takes_a_burst_of_typing_in_the_right_fields(kmstui_home, make_app, monkeypatch):
    monkeypatch.delenv("KMSTUI_PASSPHRASE", raising=False)
    session = Session(interactive=True)
    app = make_app(session)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, NewHsmModal))
            modal = app.screen
            assert app.focused is modal.query_one("#secret", Input)
            # The header says what is going on instead of "connecting…".
            assert "no HSM yet" in str(app.main_screen.query_one(StatusHeader).render())
            # Every button of the form is on screen at 80x24.
            create = modal.query_one("#ok")
            assert create.region.bottom <= 24 and create.region.height > 0
            burst(app, [*SECRET, "enter", *SECRET])
            secret, again = modal.query_one("#secret", Input), modal.query_one("#again", Input)
            await wait_until(pilot, lambda: len(secret.value) + len(again.value) == 2 * len(SECRET))
            assert (secret.value, again.value) == (SECRET, SECRET)
            assert app.focused is again
            burst(app, ["enter"])
            await wait_until(pilot, lambda: not isinstance(app.screen, NewHsmModal))
            await settle(pilot)
            assert app.main_screen.query_one(StatusHeader).sealed is False
    finally:
        session.close()


async def test_create_key_form_tab_moves_on_at_once(tui_session, make_app):
    app = make_app(tui_session)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateKeyModal))
        modal = app.screen
        burst(app, [*"app", "tab", *"my app key"])
        alias, description = modal.query_one("#alias", Input), modal.query_one("#description", Input)
        await wait_until(pilot, lambda: len(alias.value) + len(description.value) == len("appmy app key"))
        assert (alias.value, description.value) == ("app", "my app key")
        assert modal.query_one("#ok").region.bottom <= 24
