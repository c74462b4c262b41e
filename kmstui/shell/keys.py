"""REPL key bindings (on top of prompt_toolkit's emacs/vi defaults, Ctrl-R search and Ctrl-C cancel).

Enter on a Ctrl-R match runs it, as bash and pgcli do (prompt_toolkit's default only ends the search and
waits for a second Enter, which reads as "nothing happened").
"""

from __future__ import annotations

from typing import Callable

from prompt_toolkit import search
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.filters import completion_is_selected, is_searching
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

    @kb.add("enter", filter=is_searching)
    def _run_match(event) -> None:
        """Enter on a reverse-search match runs it (Escape then edit, as in bash, keeps it to change)."""
        search.accept_search()
        event.app.current_buffer.validate_and_handle()

    return kb
