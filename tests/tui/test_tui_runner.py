"""kmstui.tui.runner.BackendThread: a worker that asks for backend work while the app is closing gets an
error at once instead of waiting for ever (a wait that held up the app's exit and the test run's teardown)."""

from __future__ import annotations

import pytest

from kmstui.tui.runner import BackendThread


def test_work_asked_after_shutdown_fails_at_once():
    thread = BackendThread()
    assert thread.call(lambda: 41 + 1) == 42
    thread.shutdown()
    thread.shutdown()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="stopped"):
        thread.submit(lambda: 1).result(timeout=5)
