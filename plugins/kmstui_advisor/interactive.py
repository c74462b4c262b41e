"""Asking the questions at a terminal. prompt_toolkit is imported here, lazily, and only on this path:
the rest of the advisor (and kmstui's core) never imports a UI library."""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from kmstui.errors import UsageError
from kmstui_advisor.questions import Question, questions

# prompt(message, completions, default) -> the line typed; an empty line means "keep the default"
Prompt = Callable[[str, Sequence[str], str], str]


def toolkit_prompt() -> Prompt:
    """Prompts drawn on the terminal even when stdout is redirected (`advise --output json > advice.json`),
    so the questions never end up in the result file."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.output.defaults import create_output

    redirected = not sys.stdout.isatty() and sys.stderr.isatty()
    session: PromptSession = PromptSession(output=create_output(stdout=sys.stderr) if redirected else None)

    def ask(message: str, completions: Sequence[str], default: str) -> str:
        completer = WordCompleter(list(completions)) if completions else None
        shown = f"{message}[{default}] " if default else message
        return session.prompt(shown, completer=completer)

    return ask


def _default_text(q: Question, value: Any) -> str:
    if q.type == "multi":
        return ", ".join(value)
    return "" if value is None else str(value)


def _parse_part(text: str, kind: str) -> Any:
    if kind == "str":
        return text
    try:
        return float(text) if kind == "float" or "." in text else int(text.replace("_", "").replace(",", ""))
    except ValueError:
        return text  # let Question.check say what is wrong


def _ask_one(q: Question, prompt: Prompt, say: Callable[[str], None]) -> Any:
    if q.type == "table":
        value = {}
        say(f"{q.id} {q.text}  (type ? for help)")
        for part in q.parts:
            while True:
                line = prompt(f"  {part.name} ({part.type}): ", (), str(part.default)).strip()
                if line == "?":
                    say(q.help)
                    continue
                value[part.name] = _parse_part(line or str(part.default), part.type)
                try:
                    q.check({part.name: value[part.name]})
                    break
                except UsageError as exc:
                    say(str(exc))
        return q.check(value)
    default = _default_text(q, q.default_value())
    while True:
        line = prompt(f"{q.id} {q.text} ({'/'.join(q.allowed)}; ? for help): ", q.allowed, default).strip()
        if line == "?":
            say(q.help)
            continue
        text = line or default
        raw: Any = [w for w in text.replace(",", " ").split() if w] if q.type == "multi" else text
        try:
            return q.check(raw)
        except UsageError as exc:
            say(str(exc))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ask_answers(prompt: Prompt | None = None, say: Callable[[str], None] = _say) -> dict[str, Any]:
    """Ask every question (Enter keeps the default shown) and return the answers keyed by id. Help and
    complaints go to stderr: stdout carries only the result."""
    prompt = prompt or toolkit_prompt()
    return {q.id: _ask_one(q, prompt, say) for q in questions()}
