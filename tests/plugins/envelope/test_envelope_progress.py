"""Progress goes to a terminal only: rate and ETA on a TTY, nothing at all on a pipe."""

from __future__ import annotations

import io

from kmstui_envelope.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_tty_and_silence_on_a_pipe():
    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        p = Progress(4 << 20, "encrypt big", stream)
        p._start -= 1.0  # one second in: 1 MiB/s
        for _ in range(4):
            p(1 << 20)
            p._last = 0.0
        p.finish()
    out = tty.getvalue()
    assert "encrypt big" in out and "100.0%" in out and "MiB/s" in out and "ETA" in out
    assert out.endswith("\r\x1b[K")
    assert pipe.getvalue() == ""
