"""Helpers shared by the TUI tests (waiting on workers and conditions without fixed sleeps)."""

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
