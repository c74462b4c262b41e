"""Untrusted text made safe to show: control characters become visible escapes.

Text that kmstui did not write itself (file headers, provider ids, encryption contexts, key descriptions,
tags, policies, scenario names, file names, error details) may carry terminal escape sequences that clear
the screen, move the cursor, recolour, retitle the window or print a fake "OK" line. Every face renders
through the helpers here, at its rendering boundary (kmstui/runner.py and commands/render.py for text
faces, the REPL through the same runner, the TUI's widgets), so no command has to remember.

What is made visible: C0 controls (ESC, CR, BS, NUL, ...), DEL, C1 controls (U+0080-U+009F; U+009B is a
one-character CSI on some terminals), Unicode bidirectional overrides and isolates and the line/paragraph
separators (they reorder or break what is shown), and lone surrogates (bytes that were not UTF-8, which
would otherwise crash the write). Each becomes a backslash escape: \\x1b, \\n, \\r, \\t, \\x9b, \\u202e; a
byte that was not UTF-8 shows as \\xNN.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What is escaped beyond C0: DEL and C1, bidi controls, line/paragraph separators, lone surrogates.
_NON_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CLASSES = {
    "all": f"[\x00-\x1f{_NON_C0}]",
    "keep_lines": f"[\x00-\x08\x0b-\x1f{_NON_C0}]",
    # In JSON, C0 controls are already \u escapes (json.dumps); the rest must be escaped the JSON way.
    "json": f"[{_NON_C0}]",
}
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(name: str) -> re.Pattern[str]:
    """The compiled character class `name`, compiled on first use: every command starts by importing this
    module, and most output is plain printable text that never needs the pattern (see _needs_escaping)."""
    pattern = _PATTERNS.get(name)
    if pattern is None:
        pattern = _PATTERNS[name] = re.compile(_CLASSES[name])
    return pattern


def _needs_escaping(s: str, name: str) -> bool:
    # Every character the classes hold is "Other" or "Separator" in Unicode, which str.isprintable()
    # rejects (tests/test_visible.py checks this), so a printable string holds none of them.
    return not s.isprintable() and _pattern(name).search(s) is not None


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object, *, keep_lines: bool = False) -> str:
    """`text` (any object, as str()) with every control character shown as an escape. With keep_lines,
    newlines and tabs stay (for a multi-line block a command laid out itself); a lone CR never does."""
    s = text if isinstance(text, str) else str(text)
    name = "keep_lines" if keep_lines else "all"
    if not _needs_escaping(s, name):
        return s
    return _pattern(name).sub(_escape, s)


def visible_json(text: str) -> str:
    """JSON text (from json.dumps) with the characters json.dumps leaves raw (DEL, C1, bidi controls, lone
    surrogates) written as JSON \\u escapes: the same JSON value, safe on a terminal."""
    if not _needs_escaping(text, "json"):
        return text
    return _pattern("json").sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def has_unsafe(value: object) -> bool:
    """True when any string in plain data (keys included) holds a character visible() would escape."""
    if isinstance(value, str):
        return _needs_escaping(value, "all")
    if isinstance(value, dict):
        return any(has_unsafe(k) or has_unsafe(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unsafe(v) for v in value)
    return False


def visible_data(value: object) -> object:
    """Plain data (dicts, lists, strings) with every string, keys included, passed through visible()."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(k) if isinstance(k, str) else k: visible_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [visible_data(v) for v in value]
    return value
