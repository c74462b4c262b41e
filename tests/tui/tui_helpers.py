"""Helpers shared by the TUI tests (waiting on workers and conditions without fixed sleeps, reading the
screen as text)."""

from __future__ import annotations

import time

SIZE = (120, 40)


async def settle(pilot, rounds: int = 3) -> None:
    """Wait until no worker is running and the messages they posted have been handled."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot, predicate, timeout: float = 10.0) -> None:
    """Poll (no fixed sleeps) until predicate() is true; fail with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.02)


SIZES = {"80x24": (80, 24), "120x35": (120, 35)}  # an ssh session and a split: the sizes operators have


def screen_text(app) -> str:
    """The screen as a user reads it: its characters, one line per row, no styles."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      color_system="truecolor", legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text(styles=False).splitlines())
