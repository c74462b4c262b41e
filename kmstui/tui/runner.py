"""Running session and backend work off the UI thread.

All backend work goes through one dedicated thread, in order: backends hold connections (SQLite, a
PKCS#11 session) that belong to the thread that opened them, and a KMS call is never worth racing. Textual
thread workers wait on that thread, so the UI keeps drawing, workers show up in `app.workers`, and their
results come back as messages.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from kmstui.errors import KmstuiError


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(one-line message, code) for an exception raised by a command or backend call."""
    if isinstance(exc, KmstuiError):
        return str(exc), exc.code
    return f"{type(exc).__name__}: {exc}", "InternalError"


class BackendThread:
    """A single worker thread for everything that touches a backend."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kmstui-backend")
        self._ident: int | None = None
        self._executor.submit(self._remember).result()

    def _remember(self) -> None:
        self._ident = threading.get_ident()

    @property
    def on_thread(self) -> bool:
        return threading.get_ident() == self._ident

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn` on the backend thread and wait for it (runs inline when already there)."""
        if self.on_thread:
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Answer:
    """A one-slot mailbox: a worker thread waits for the answer a modal dialog gives on the UI thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)

    def put(self, value: Any) -> None:
        self._queue.put(value)

    def wait(self) -> Any:
        return self._queue.get()
