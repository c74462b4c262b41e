"""Wildcard matching as IAM does it: `*` is any run of characters, `?` exactly one, the whole text must match.

Linear in practice, never exponential: a pattern is split at its `*`s into segments; the first segment must
match at the start, the last at the end, and every middle one at its leftmost place after the previous
(the leftmost place is always a safe choice, so no backtracking is ever needed). A segment without `?` is
found with `str.find`; one with `?` with a regular expression that has no repetition at all (so its search
is O(len(text) x len(segment))). A hostile pattern such as `*a*a*a*...*b` against a long value therefore
costs one scan per segment instead of the catastrophic backtracking a translated `.*a.*a...` regex shows.

Matchers are built once per pattern (cached), because the evaluator matches the same few patterns millions
of times. Actions are case-insensitive; ARNs and Like-strings are case-sensitive; the Arn* condition
operators match component by component so that a `*` never crosses a `:`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Sequence

# A segment is a tuple of pieces: a literal string, or ONE (the `?` wildcard).
ONE = None
Segment = tuple


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _segment_matcher(seg: Segment):
    """(length, at(text, pos) -> bool, find(text, start, end) -> index or -1) for one star-free segment."""
    length = sum(1 if p is ONE else len(p) for p in seg)
    if all(p is not ONE for p in seg):
        lit = "".join(seg)
        return length, (lambda s, i: s.startswith(lit, i)), (lambda s, a, b: s.find(lit, a, b))
    rx = re.compile("".join("." if p is ONE else re.escape(p) for p in seg), re.DOTALL)
    return length, (lambda s, i: rx.match(s, i) is not None), \
        (lambda s, a, b: (m.start() if (m := rx.search(s, a, b)) is not None else -1))


def _compile_segments(segments: Sequence[Segment]) -> Callable[[str], bool]:
    """A predicate for `seg0 * seg1 * ... * segN` (at least two segments, i.e. at least one star)."""
    head, *mids, tail = [_segment_matcher(s) for s in segments]
    h_len, h_at, _ = head
    t_len, t_at, _ = tail
    mids = [m for m in mids if m[0] > 0]  # an empty segment (`**`) constrains nothing
    minimum = h_len + t_len + sum(m[0] for m in mids)

    def match(s: str) -> bool:
        n = len(s)
        if n < minimum:
            return False
        if h_len and not h_at(s, 0):
            return False
        end = n - t_len
        if t_len and not t_at(s, end):
            return False
        pos = h_len
        for m_len, _at, find in mids:
            i = find(s, pos, end)
            if i < 0:
                return False
            pos = i + m_len
        return pos <= end

    return match


def _exact_matcher(seg: Segment) -> Callable[[str], bool]:
    length, at, _ = _segment_matcher(seg)
    return lambda s: len(s) == length and at(s, 0)


def segments_of(pattern: str) -> list[Segment]:
    """`a?b*c` -> [("a", ONE, "b"), ("c",)]: the pattern split at `*`, `?` as ONE."""
    out: list[Segment] = []
    for chunk in pattern.split("*"):
        pieces: list = []
        for i, lit in enumerate(chunk.split("?")):
            if i:
                pieces.append(ONE)
            if lit:
                pieces.append(lit)
        out.append(tuple(pieces))
    return out


def _from_segments(segments: list[Segment]) -> Callable[[str], bool]:
    if len(segments) == 1:
        return _exact_matcher(segments[0])
    if all(not s for s in segments):
        return lambda s: True
    return _compile_segments(segments)


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
    if ignore_case:
        inner = _from_segments(segments_of(pattern.lower()))
        return lambda s: inner(s.lower())
    return _from_segments(segments_of(pattern))


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


def _template_segments(chars: Sequence[tuple[str, bool]]) -> list[Segment]:
    """Segments from (character, is_literal) pairs: literal characters never act as wildcards."""
    segments: list[Segment] = []
    cur: list = []
    buf: list[str] = []

    def flush_lit() -> None:
        if buf:
            cur.append("".join(buf))
            buf.clear()

    for ch, lit in chars:
        if not lit and ch == "*":
            flush_lit()
            segments.append(tuple(cur))
            cur = []
        elif not lit and ch == "?":
            flush_lit()
            cur.append(ONE)
        else:
            buf.append(ch)
    flush_lit()
    segments.append(tuple(cur))
    return segments


def like_template(parts: list[tuple[bool, str]]) -> Callable[[str], bool]:
    """A Like-pattern built from (is_literal, text) pieces: substituted variable values stay literal."""
    return _from_segments(_template_segments([(ch, lit) for lit, text in parts for ch in text]))


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
    matchers = [_from_segments(_template_segments(comp)) for comp in comps]

    def match(value: str) -> bool:
        vparts = arn_parts(value)
        return vparts is not None and all(m(v) for m, v in zip(matchers, vparts))

    return match


def star_count(pattern: str) -> int:
    """How many `*` wildcards a pattern has (lint flags patterns with very many)."""
    return pattern.count("*")
