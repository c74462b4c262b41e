"""Pilot tests: console commands, the command palette, sealed and first-run modals, theme switching."""

from __future__ import annotations

from textual.widgets import Input, RichLog

from kmstui.session import Session
from kmstui.tui.messages import CommandFailed, CommandFinished
from kmstui.tui.screens.help import HelpScreen
from kmstui.tui.screens.modals import NewHsmModal, PassphraseModal
from kmstui.tui.widgets.key_table import KeyTable
from tui_helpers import SIZE, settle, wait_until

PASSPHRASE = "correct horse battery staple"


async def submit(pilot, line: str) -> None:
    box = pilot.app.screen.query_one("#console-input", Input)
    box.focus()
    box.value = line
    await pilot.press("enter")


def log_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen.query_one("#console-log", RichLog).lines)


async def test_console_runs_commands_and_keeps_no_secret_lines(tui_session, make_app):
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        assert app.focused.id == "console-input"
        await submit(pilot, "key create --alias alias/from-console --description hi")
        await wait_until(pilot, lambda: any(isinstance(m, CommandFinished) for m in messages))
        await settle(pilot)
        assert [r.alias for r in app.screen.query_one(KeyTable).visible_rows] == ["alias/from-console"]
        await submit(pilot, "alias lst")
        await wait_until(pilot, lambda: any(isinstance(m, CommandFailed) for m in messages))
        assert "unknown command 'alias lst'" in log_text(app)
        await submit(pilot, "encrypt --key-id alias/from-console --plaintext hunter2hunter2")
        await wait_until(pilot, lambda: len([m for m in messages if isinstance(m, CommandFinished)]) >= 2)
        await settle(pilot)
        assert "hunter2" not in log_text(app)  # the secret line is not echoed
        box = app.screen.query_one("#console-input", Input)
        assert all("hunter2" not in line for line in box.history)
        await pilot.press("up")
        assert box.value == "alias lst"


async def test_console_tab_completes_command_words(tui_session, make_app):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"theme u", "tab")
        assert app.screen.query_one("#console-input", Input).value == "theme use "


async def test_palette_lists_registered_commands_and_runs_one(tui_session, make_app):
    from kmstui.tui.palette import RegistryCommands

    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        provider = RegistryCommands(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert set(titles) == {c.name for c in tui_session.registry}
        await pilot.press("ctrl+p")
        await pilot.press(*"theme list")
        await wait_until(pilot, lambda: app.screen.query("CommandList Option") is not None)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(isinstance(m, CommandFinished) and m.path == ("theme", "list")
                                            for m in messages))
        await settle(pilot)
        assert "high-contrast" in log_text(app)


async def test_theme_switch_applies_and_persists(tui_session, make_app):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "dark"
        app.use_theme("light")
        await settle(pilot)
        assert app.theme == "light"
        assert 'theme = "light"' in tui_session.config.paths.config_file.read_text()


async def test_help_shows_focused_widget_help(tui_session, make_app):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "Key table" in app.screen.text and "filter" in app.screen.text
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_sealed_hsm_asks_for_the_passphrase_in_a_masked_modal(hsm_file, make_app, monkeypatch):
    monkeypatch.delenv("KMSTUI_PASSPHRASE", raising=False)
    session = Session(interactive=True)
    app = make_app(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, PassphraseModal) and bool(app.screen.query("#secret")))
            box = app.screen.query_one("#secret", Input)
            await wait_until(pilot, lambda: app.focused is box)
            assert box.password
            await pilot.press(*PASSPHRASE, "enter")
            await wait_until(pilot, lambda: not isinstance(app.screen, PassphraseModal))
            await settle(pilot)
            header = app.screen.query_one("#status")
            assert header.sealed is False and header.keys == 0
            assert PASSPHRASE not in app.export_screenshot()
    finally:
        session.close()


async def test_first_run_creates_the_hsm(kmstui_home, make_app, monkeypatch):
    monkeypatch.delenv("KMSTUI_PASSPHRASE", raising=False)
    session = Session(interactive=True)
    from kmstui.tui import loaders

    path = loaders.local_hsm_path(session)
    assert not path.exists()
    app = make_app(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, NewHsmModal))
            await pilot.press(*"short", "enter", *"short", "enter")
            assert "at least 8" in str(app.screen.query_one("#error").render())
            app.screen.query_one("#secret", Input).value = PASSPHRASE
            app.screen.query_one("#again", Input).value = PASSPHRASE + "x"
            app.screen.query_one("#ok").press()
            await pilot.pause()
            assert "differ" in str(app.screen.query_one("#error").render())
            app.screen.query_one("#secret", Input).value = PASSPHRASE
            app.screen.query_one("#again", Input).value = PASSPHRASE
            app.screen.query_one("#ok").press()
            await wait_until(pilot, lambda: not isinstance(app.screen, NewHsmModal))
            await settle(pilot)
            assert path.exists(), [n.message for n in app._notifications] + [str(app.screen)]
            await settle(pilot)
            assert app.screen.query_one("#status").sealed is False
    finally:
        session.close()
    # The new file opens with that passphrase.
    monkeypatch.setenv("KMSTUI_PASSPHRASE", PASSPHRASE)
    again = Session(interactive=False)
    assert again.backend().list_keys()["Keys"] == []
    again.close()


async def test_theme_switch_keeps_the_comments_of_config_toml(tui_session, make_app):
    path = tui_session.config.paths.config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    commented = '# mine: keep this\ntheme = "dark"  # my theme\n\n[profiles.local]\nbackend = "local"  # the HSM\n'
    path.write_text(commented)
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.use_theme("light")
        await settle(pilot)
        await wait_until(pilot, lambda: 'theme = "light"' in path.read_text())
    assert path.read_text() == commented.replace('theme = "dark"', 'theme = "light"')
