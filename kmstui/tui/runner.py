"""Running session and backend work off the UI thread.

All backend work goes through one dedicated thread, in order: backends hold connections (SQLite, a
PKCS#11 session) that belong to the thread that opened them, and a KMS call is never worth racing. Textual
thread workers wait on that thread, so the UI keeps drawing, workers show up in `app.workers`, and their
results come back as messages.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from kmstui.errors import KmstuiError


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(one-line message, code) for an exception raised by a command or backend call."""
    if isinstance(exc, KmstuiError):
        return str(exc), exc.code
    return f"{type(exc).__name__}: {exc}", "InternalError"


class BackendThread:
    """A single daemon worker thread for everything that touches a backend. Daemon, so a call blocked at
    exit (a dialog the user never answered) cannot keep the process alive."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Future, Callable[..., Any], tuple, dict] | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()  # no job can be queued behind the stop marker
        self._thread = threading.Thread(target=self._loop, name="kmstui-backend", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)

    @property
    def on_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Queue `fn`; once the thread is shut down (the app is closing) the future fails at once, so a
        worker that asks late never waits for ever (and never holds up the process's exit)."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                future.set_exception(RuntimeError("the backend thread has stopped (the app is closing)"))
            else:
                self._jobs.put((future, fn, args, kwargs))
        return future

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn` on the backend thread and wait for it (runs inline when already there)."""
        if self.on_thread:
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jobs.put(None)


class Answer:
    """A one-slot mailbox: a worker thread waits for the answer a modal dialog gives on the UI thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)

    def put(self, value: Any) -> None:
        self._queue.put(value)

    def wait(self) -> Any:
        return self._queue.get()
