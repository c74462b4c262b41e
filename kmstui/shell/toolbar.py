"""The bottom toolbar and prompt: profile, backend kind, sealed state, read-only.

State is read after each command (`update`), never while drawing: the toolbar redraws on every keystroke
and must not open, unseal or query a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmstui.session import Session


class StatusLine:
    def __init__(self, session: "Session", editing_mode: str = "emacs") -> None:
        self.session = session
        self.editing_mode = editing_mode
        self.profile = ""
        self.kind = ""
        self.sealed = "closed"
        self.update()

    def update(self) -> None:
        """Re-read the session: active profile, its backend kind, and the state of an open backend."""
        session = self.session
        self.profile = session.profile_name
        try:
            self.kind = session.profile().backend
        except Exception:  # noqa: BLE001 - a broken profile still gets a toolbar
            self.kind = "?"
        backend = session.open_backends().get(self.profile)
        if backend is None:
            self.sealed = "not opened"
            return
        try:
            sealed = backend.info().sealed
        except Exception:  # noqa: BLE001
            sealed = None
        self.sealed = "open" if sealed is None else ("sealed" if sealed else "unsealed")

    def toolbar(self) -> list[tuple[str, str]]:
        parts: list[tuple[str, str]] = [
            ("class:bottom-toolbar.key", " profile "), ("class:bottom-toolbar", f"{self.profile}  "),
            ("class:bottom-toolbar.key", "backend "), ("class:bottom-toolbar", f"{self.kind}  "),
            ("class:bottom-toolbar.key", "store "), ("class:bottom-toolbar", f"{self.sealed}  "),
        ]
        if self.session.options.read_only:
            parts.append(("class:prompt.readonly", "READ-ONLY  "))
        parts += [("class:bottom-toolbar.key", "keys "),
                  ("class:bottom-toolbar", f"{self.editing_mode} (F4)  Ctrl-R search (Enter runs)  Ctrl-D exit")]
        return parts

    def prompt(self) -> list[tuple[str, str]]:
        parts = [("class:prompt", "kmstui"), ("class:prompt.arrow", ":"), ("class:prompt.profile", self.profile)]
        if self.session.options.read_only:
            parts.append(("class:prompt.readonly", " (ro)"))
        parts.append(("class:prompt.arrow", "> "))
        return parts
