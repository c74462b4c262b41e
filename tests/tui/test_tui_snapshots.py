"""A few SVG snapshots of key screens (fixed size, theme and contents; no pytest-textual-snapshot).

Set KMSTUI_UPDATE_SNAPSHOTS=1 to (re)write them after a deliberate change, then review the SVGs."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from kmstui.tui.screens.modals import ConfirmModal, CreateKeyModal
from tui_helpers import SIZE, settle, wait_until

SNAPSHOTS = Path(__file__).parent / "snapshots"


def screen_text(svg: str) -> list[str]:
    """What the screen says, cell text in drawing order. Styles (a blinking cursor's phase, a hover) are
    left out of the comparison: they vary with timing on a loaded machine; the SVG keeps them for review."""
    return re.findall(r">([^<>]*)</text>", svg)


@pytest.fixture
def snapshot():
    async def check(app, pilot, name: str, timeout: float = 20.0) -> None:
        """The screen must come to match the snapshot: background loads (the header, the key table) may
        still be settling on a loaded machine, so compare until it matches or `timeout` runs out."""
        path = SNAPSHOTS / f"{name}.svg"
        if os.environ.get("KMSTUI_UPDATE_SNAPSHOTS") == "1":
            await settle(pilot)
            path.write_text(app.export_screenshot(title="kmstui"), encoding="utf-8")
            return
        assert path.exists(), f"no snapshot {path.name}; run with KMSTUI_UPDATE_SNAPSHOTS=1 and review it"
        expected = screen_text(path.read_text(encoding="utf-8"))
        deadline = time.monotonic() + timeout
        while (shown := screen_text(app.export_screenshot(title="kmstui"))) != expected and time.monotonic() < deadline:
            await pilot.pause(0.1)
        assert shown == expected, (
            f"{name} differs from {path}; if the change is intended re-run with KMSTUI_UPDATE_SNAPSHOTS=1")

    return check


async def steady(app, pilot, theme: str) -> None:
    """Fixed theme and a header that does not show the temporary folder's path."""
    await settle(pilot)
    app.theme = theme
    app.screen.query_one("#status").location = "hsm.kmstui"
    # Focus decides the footer's keys; pin it rather than depend on when the key list finished loading.
    app.screen.set_focus(app.screen.query_one("#keys"))
    await settle(pilot)


async def test_snapshot_empty_main_view(tui_session, make_app, snapshot):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, notifications=False) as pilot:
        await steady(app, pilot, "dark")
        await snapshot(app, pilot, "main_empty_dark")


async def test_snapshot_create_key_form(tui_session, make_app, snapshot):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, notifications=False) as pilot:
        await steady(app, pilot, "high-contrast")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateKeyModal))
        await pilot.pause()
        await snapshot(app, pilot, "create_key_high_contrast")


async def test_snapshot_typed_confirmation(tui_session, make_app, snapshot):
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, notifications=False) as pilot:
        await steady(app, pilot, "light")
        app.push_screen(ConfirmModal("key disable alias/app: type 'alias/app' to confirm", "alias/app"))
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.pause()
        await snapshot(app, pilot, "confirm_light")
