"""A few SVG snapshots of key screens (fixed size, theme and contents; no pytest-textual-snapshot).

Set KMSTUI_UPDATE_SNAPSHOTS=1 to (re)write them after a deliberate change, then review the SVGs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmstui.tui.screens.modals import ConfirmModal, CreateKeyModal
from tui_helpers import SIZE, settle, wait_until

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture
def snapshot():
    def check(app, name: str) -> None:
        svg = app.export_screenshot(title="kmstui")
        path = SNAPSHOTS / f"{name}.svg"
        if os.environ.get("KMSTUI_UPDATE_SNAPSHOTS") == "1":
            path.write_text(svg, encoding="utf-8")
            return
        assert path.exists(), f"no snapshot {path.name}; run with KMSTUI_UPDATE_SNAPSHOTS=1 and review it"
        assert svg == path.read_text(encoding="utf-8"), (
            f"{name} differs from {path}; if the change is intended re-run with KMSTUI_UPDATE_SNAPSHOTS=1")

    return check


async def steady(app, pilot, theme: str) -> None:
    """Fixed theme and a header that does not show the temporary folder's path."""
    await settle(pilot)
    app.theme = theme
    app.screen.query_one("#status").location = "hsm.kmstui"
    await settle(pilot)


async def test_snapshot_empty_main_view(tui_session, make_app, snapshot):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, notifications=False) as pilot:
        await steady(app, pilot, "dark")
        snapshot(app, "main_empty_dark")


async def test_snapshot_create_key_form(tui_session, make_app, snapshot):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, notifications=False) as pilot:
        await steady(app, pilot, "high-contrast")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateKeyModal))
        await pilot.pause()
        snapshot(app, "create_key_high_contrast")


async def test_snapshot_typed_confirmation(tui_session, make_app, snapshot):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, notifications=False) as pilot:
        await steady(app, pilot, "light")
        app.push_screen(ConfirmModal("key disable alias/app: type 'alias/app' to confirm", "alias/app"))
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.pause()
        snapshot(app, "confirm_light")
