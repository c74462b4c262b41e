"""The questions (data/questions.toml) and turning an answer file's values into checked answers.

Answers are keyed by question id (Q1..Q18) or by the readable name; values are a choice string, a list
for multi-choice questions, or a table of named numeric/text parts. Anything else is a UsageError naming
the question and what it accepts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from kmstui.errors import UsageError
from kmstui_advisor import datafiles


@dataclass(frozen=True)
class Part:
    """One named part of a table question (e.g. Q12's `symmetric`)."""

    name: str
    type: str  # int, float, str
    default: Any
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Question:
    id: str
    name: str
    text: str
    type: str  # choice, multi, table
    help: str
    allowed: tuple[str, ...] = ()
    default: Any = None
    parts: tuple[Part, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.id} ({self.name})"

    def accepts(self) -> str:
        """What this question takes, for error messages and `advise questions`."""
        if self.type == "choice":
            return "one of: " + ", ".join(self.allowed)
        if self.type == "multi":
            return "a list of: " + ", ".join(self.allowed)
        return "a table with " + ", ".join(f"{p.name} ({p.type}{_range(p)})" for p in self.parts)

    def default_value(self) -> Any:
        if self.type == "table":
            return {p.name: p.default for p in self.parts}
        if self.type == "multi":
            return [v for v in self.default if v != "none"]
        return self.default

    def check(self, value: Any) -> Any:
        """The value as the engine uses it, or UsageError saying what the question allows."""
        if self.type == "choice":
            return self._choice(value)
        if self.type == "multi":
            return self._multi(value)
        return self._table(value)

    def _bad(self, what: str) -> UsageError:
        return UsageError(f"answer {self.label}: {what}; allowed: {self.accepts()}")

    def _choice(self, value: Any) -> str:
        if isinstance(value, bool) and set(self.allowed) >= {"yes", "no"}:
            return "yes" if value else "no"
        if not isinstance(value, str) or value not in self.allowed:
            raise self._bad(f"{value!r} is not an allowed answer")
        return value

    def _multi(self, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self._bad(f"{value!r} is not a list")
        out: list[str] = []
        for item in items:
            if not isinstance(item, str) or item not in self.allowed:
                raise self._bad(f"{item!r} is not an allowed answer")
            if item != "none" and item not in out:
                out.append(item)
        return out

    def _table(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self._bad(f"{value!r} is not a table")
        parts = {p.name: p for p in self.parts}
        unknown = sorted(set(value) - set(parts))
        if unknown:
            raise self._bad(f"unknown part {unknown[0]!r}")
        out = {}
        for part in self.parts:
            out[part.name] = self._part(part, value.get(part.name, part.default))
        return out

    def _part(self, part: Part, value: Any) -> Any:
        where = f"{part.name} = {value!r}"
        if part.type == "str":
            if not isinstance(value, str) or not value.strip():
                raise self._bad(f"{where} is not a non-empty string")
            return value.strip()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._bad(f"{where} is not a number")
        if part.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise self._bad(f"{where} is not a whole number")
            value = int(value)
        else:
            value = float(value)
        if (part.min is not None and value < part.min) or (part.max is not None and value > part.max):
            raise self._bad(f"{where} is out of range")
        return value


def _range(part: Part) -> str:
    if part.min is None and part.max is None:
        return ""
    lo = "" if part.min is None else f">={part.min:g}"
    hi = "" if part.max is None else f"<={part.max:g}"
    return ", " + " ".join(x for x in (lo, hi) if x)


def _question(raw: dict[str, Any]) -> Question:
    parts = tuple(
        Part(name, spec["type"], spec["default"], spec.get("min"), spec.get("max"))
        for name, spec in raw.get("fields", {}).items()
    )
    return Question(
        id=raw["id"], name=raw["name"], text=raw["text"], type=raw["type"], help=raw.get("help", ""),
        allowed=tuple(raw.get("allowed", ())), default=raw.get("default"), parts=parts,
    )


@lru_cache(maxsize=1)
def questions() -> tuple[Question, ...]:
    return tuple(_question(q) for q in datafiles.load("questions.toml")["question"])


def by_key() -> dict[str, Question]:
    """Every accepted key (Q1, q1, fips_level ...) -> its question."""
    out: dict[str, Question] = {}
    for q in questions():
        out[q.id] = q
        out[q.id.lower()] = q
        out[q.name] = q
    return out


def defaults() -> dict[str, Any]:
    return {q.id: q.default_value() for q in questions()}


def normalize(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Answers keyed by id with every question present (defaults filled in); UsageError on bad input."""
    if not isinstance(raw, Mapping):
        raise UsageError("answers must be a table of question ids or names to values")
    lookup = by_key()
    given: dict[str, Any] = {}
    for key, value in raw.items():
        q = lookup.get(str(key))
        if q is None:
            known = ", ".join(f"{x.id}/{x.name}" for x in questions())
            raise UsageError(f"unknown question {key!r} in answers; known: {known}")
        if q.id in given:
            raise UsageError(f"answer {q.label} is given twice (as {q.id} and as {q.name}); keep one")
        given[q.id] = q.check(value)
    return {q.id: given.get(q.id, q.default_value()) for q in questions()}


def readable(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers keyed by readable name, in question order (what `--save-answers` writes)."""
    return {q.name: answers[q.id] for q in questions() if q.id in answers}
