"""Wildcard matching as IAM does it: `*` is any run of characters, `?` exactly one, the whole text must match.

Compiled to regular expressions once per pattern (cached), because the evaluator matches the same few
patterns millions of times. Actions are case-insensitive; ARNs and Like-strings are case-sensitive; the Arn*
condition operators match component by component so that a `*` never crosses a `:`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable


def _translate(pattern: str, any_run: str = ".*", one: str = ".") -> str:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(any_run)
        elif ch == "?":
            out.append(one)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


@lru_cache(maxsize=8192)
def glob(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """A predicate testing a whole string against `pattern`."""
    if not has_wildcard(pattern):
        if ignore_case:
            low = pattern.lower()
            return lambda s: s.lower() == low
        return pattern.__eq__
    if pattern == "*":
        return lambda s: True
    rx = re.compile(_translate(pattern), re.DOTALL | (re.IGNORECASE if ignore_case else 0))
    return lambda s: rx.fullmatch(s) is not None


def arn_parts(arn: str) -> list[str] | None:
    """The six ARN components (arn, partition, service, region, account, resource) or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts


@lru_cache(maxsize=4096)
def arn_like(pattern: str) -> Callable[[str], bool]:
    """ArnEquals/ArnLike: component-wise glob, case-sensitive; a value that is not an ARN never matches."""
    if pattern == "*":
        return lambda s: True
    pparts = arn_parts(pattern)
    if pparts is None:  # not six components: AWS compares component by component, so nothing matches
        return lambda s: False
    matchers = [glob(p) for p in pparts]

    def match(value: str) -> bool:
        vparts = arn_parts(value)
        if vparts is None:
            return False
        return all(m(v) for m, v in zip(matchers, vparts))

    return match


def like_template(parts: list[tuple[bool, str]]) -> re.Pattern:
    """A Like-pattern built from (is_literal, text) pieces: substituted variable values stay literal."""
    return re.compile("".join(re.escape(t) if lit else _translate(t) for lit, t in parts), re.DOTALL)


def arn_template(parts: list[tuple[bool, str]]) -> Callable[[str], bool]:
    """ArnLike for a value with policy variables: substituted text (and the `${*}`/`${?}` escapes) is literal,
    the rest is a pattern; components are split after substitution, as AWS compares the resolved ARN."""
    chars = [(ch, lit) for lit, text in parts for ch in text]
    comps: list[list[tuple[str, bool]]] = [[]]
    for ch, lit in chars:
        if ch == ":" and len(comps) < 6:
            comps.append([])
        else:
            comps[-1].append((ch, lit))
    if len(comps) != 6 or "".join(ch for ch, _ in comps[0]) != "arn":
        return lambda s: False
    rxs = [re.compile("".join(re.escape(ch) if lit else _translate(ch) for ch, lit in comp), re.DOTALL)
           for comp in comps]

    def match(value: str) -> bool:
        vparts = arn_parts(value)
        return vparts is not None and all(rx.fullmatch(v) is not None for rx, v in zip(rxs, vparts))

    return match
