"""A one-line progress bar with rate and ETA, on stderr, only when stderr is a terminal (nothing on a pipe).

`observer`, when set (the TUI's envelope screen does), is called as observer(label, done, total) on every
update whatever the terminal; raising from it cancels the operation (nothing is left half-written).
"""

from __future__ import annotations

import sys
import time

from typing import Callable, TextIO

from kmstui.visible import visible

observer: Callable[[str, int, "int | None"], None] | None = None


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    def __init__(self, total: int | None, label: str, stream: TextIO | None = None, *,
                 enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self._enabled = enabled  # None: decided at the first draw (trees of small files never draw)
        self.total = total
        self.label = label
        self.done = 0
        self._start = time.monotonic()
        self._last = self._start  # first drawn 0.1 s in: quick files never draw (nor ask isatty)
        self._drawn = False

    @property
    def enabled(self) -> bool:
        if self._enabled is None:  # a face with its own progress display (observer) owns the terminal
            self._enabled = observer is None and _isatty(self.stream)
        return self._enabled

    def __call__(self, n: int) -> None:
        self.done += n
        if observer is not None:
            observer(self.label, self.done, self.total)
            return
        now = time.monotonic()
        if now - self._last < 0.1 or not self.enabled:
            return
        self._last = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-6)
        rate = self.done / elapsed
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 24)
            eta = (self.total - self.done) / rate if rate else 0
            line = (f"\r{visible(self.label)} [{bar:<24}] {frac * 100:5.1f}% {_size(self.done)}/{_size(self.total)} "
                    f"{_size(rate)}/s ETA {eta:4.0f}s")
        else:
            line = f"\r{visible(self.label)} {_size(self.done)} {_size(rate)}/s"
        self.stream.write(line[:200])
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def human_size(n: float) -> str:
    return _size(n)
