"""prompt_toolkit adapter over kmstui.completion: the candidates and ranking come from the core."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Iterable, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from kmstui.completion import Candidate, complete_line

if TYPE_CHECKING:
    from kmstui.session import Session

MAX_SHOWN = 200


class KmstuiCompleter(Completer):
    def __init__(self, session: "Session", extra_commands: Sequence[Candidate] = ()) -> None:
        self.session = session
        self.extra_commands = list(extra_commands)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        typed, candidates = complete_line(self.session, before, self.extra_commands)
        raw = document.get_word_before_cursor(WORD=True)
        start = -len(typed) if raw.endswith(typed) else -len(raw)
        for cand in candidates[:MAX_SHOWN]:
            text = cand.text if cand.text == shlex.quote(cand.text) else shlex.quote(cand.text)
            yield Completion(text, start_position=start, display=cand.display or cand.text,
                             display_meta=cand.meta)
