"""Pilot test of the profile switcher: choosing another profile reloads the header and the key table."""

from __future__ import annotations

from textual.widgets import Select

from kmstui.config import Config
from kmstui.session import Session
from kmstui.tui.palette import ScreenCommands
from kmstui.tui.widgets.header import StatusHeader
from kmstui.tui.widgets.key_table import KeyTable
from tui_helpers import SIZE, settle, wait_until

from conftest import TEST_PASSPHRASE


def add_second_profile(config: Config) -> str:
    """A second local profile on its own HSM file, holding one key with alias/second."""
    from kmstui.backends.local.unseal import create_hsm

    config.paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    with open(config.paths.config_file, "a", encoding="utf-8") as fh:
        fh.write('\n[profiles.second]\nbackend = "local"\npath = "second.kmstui"\n')
    path = config.paths.data_dir / "second.kmstui"
    store, _ = create_hsm(path, TEST_PASSPHRASE, account_id="444455556666", region="eu-west-1")
    store.close()
    return "second"


async def test_profile_switcher_reloads_header_and_keys(hsm_file, monkeypatch, make_app):
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    name = add_second_profile(Config.load())
    setup = Session(interactive=False)
    setup.use_profile(name)
    setup.execute(["key", "create", "--description", "on the second HSM", "--alias", "alias/second"])
    setup.close()
    session = Session(interactive=True)
    app = make_app(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            header = app.screen.query_one(StatusHeader)
            table = app.screen.query_one(KeyTable)
            first_profile = session.profile_name
            assert header.profile == first_profile and table.rows == []
            select = app.screen.query_one("#profile", Select)
            assert {first_profile, name} <= {value for _label, value in select._options}
            select.value = name
            await wait_until(pilot, lambda: header.keys == 1)
            await settle(pilot)
            assert session.profile_name == name and header.profile == name
            assert "second.kmstui" in header.location and header.sealed is False
            assert [r.alias for r in table.visible_rows] == ["alias/second"]
            # The palette offers the way back, and taking it reloads the first profile's (empty) table.
            provider = ScreenCommands(app.screen)
            entries = {title: callback for title, callback, _help in provider._entries()}
            assert f"profile: {name}" not in entries
            entries[f"profile: {first_profile}"]()
            await wait_until(pilot, lambda: header.profile == first_profile and header.keys == 0)
            await settle(pilot)
            assert table.rows == [] and select.value == first_profile
    finally:
        session.close()
