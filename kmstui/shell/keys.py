"""REPL key bindings (on top of prompt_toolkit's emacs/vi defaults, Ctrl-R search and Ctrl-C cancel)."""

from __future__ import annotations

from typing import Callable

from prompt_toolkit.enums import EditingMode
from prompt_toolkit.filters import completion_is_selected
from prompt_toolkit.key_binding import KeyBindings


def repl_bindings(on_mode_change: Callable[[str], None]) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("f4")
    def _toggle_mode(event) -> None:
        """F4 switches between emacs and vi editing."""
        app = event.app
        app.editing_mode = EditingMode.EMACS if app.editing_mode == EditingMode.VI else EditingMode.VI
        on_mode_change("vi" if app.editing_mode == EditingMode.VI else "emacs")

    @kb.add("enter", filter=completion_is_selected)
    def _accept_completion(event) -> None:
        """Enter on a highlighted completion takes it instead of running the line."""
        event.current_buffer.complete_state = None

    return kb
