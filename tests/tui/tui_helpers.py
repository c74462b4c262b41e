"""Helpers shared by the TUI tests (waiting on workers and conditions without fixed sleeps, reading the
screen as text, driving the real process in tmux)."""

from __future__ import annotations

import subprocess
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


class Tmux:
    def __init__(self, socket: str, name: str) -> None:
        self.base = ["tmux", "-L", socket]
        self.name = name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=check)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name, check=False).stdout

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.name, "-l", text)

    def key(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.name, check=False).returncode == 0

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear within {timeout}s; screen was:\n{self.screen()}")

    def wait_gone(self, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still shown after {timeout}s; screen was:\n{self.screen()}")
            time.sleep(0.1)

    def quit(self, timeout: float = 20.0) -> None:
        """Ctrl+Q, then require the process (and so the tmux session) to be gone within `timeout`."""
        self.key("C-q")
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not self.alive(), "kmstui did not exit on Ctrl+Q"
