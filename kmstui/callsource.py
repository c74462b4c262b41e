"""Where a backend call comes from, for the audit log: a user's command (the default) or a face reading
state only to draw a screen (the TUI fetching a key's policy, grants or tags as you move through the table).

Every call is still audited, as AWS logs read-only KMS calls too; the tag lets a reader tell the two apart
(the TUI's Audit tab hides screen reads unless asked). Backends that write an audit line put the tag in
CloudTrail's `additionalEventData` ("additional data about the event that was not part of the request or
response"). A context variable, so it follows the call into whatever thread runs it with that context.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

COMMAND = "command"
SCREEN = "screen"

_source: contextvars.ContextVar[str] = contextvars.ContextVar("kmstui_call_source", default=COMMAND)


def current() -> str:
    """The source of the backend call being made now."""
    return _source.get()


@contextlib.contextmanager
def source(name: str) -> Iterator[None]:
    """Tag the backend calls made inside this block as coming from `name` (COMMAND or SCREEN)."""
    token = _source.set(name)
    try:
        yield
    finally:
        _source.reset(token)
