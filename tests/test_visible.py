"""kmstui/visible.py: the one helper every face uses to show untrusted text (issue 11 item 12)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmstui.visible import _pattern, visible, visible_data, visible_json

PAYLOAD = "\x1b[2J\x1b[1;1Hkmstui: decrypted 1 file OK\n"  # the issue's crafted provider id


def test_the_issue_payload_becomes_one_inert_line():
    shown = visible(PAYLOAD)
    assert shown == "\\x1b[2J\\x1b[1;1Hkmstui: decrypted 1 file OK\\n"
    assert "\n" not in shown and "\x1b" not in shown


@pytest.mark.parametrize("raw, shown", [
    ("\x00", "\\x00"), ("\r", "\\r"), ("\t", "\\t"), ("\x08", "\\x08"), ("\x7f", "\\x7f"),
    ("\x9b2J", "\\x9b2J"),  # C1 CSI: one character that starts an escape sequence on some terminals
    ("\u202eevil", "\\u202eevil"), ("\u2066x\u2069", "\\u2066x\\u2069"),  # bidi override and isolates
    ("a\u2028b", "a\\u2028b"),  # line separator
    ("d\udcff\udcfe", "d\\xff\\xfe"),  # bytes that were not UTF-8 (surrogateescape) show as the bytes
    ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),  # ordinary text is untouched
])
def test_each_kind_of_control_is_escaped(raw, shown):
    assert visible(raw) == shown


def test_keep_lines_keeps_newlines_and_tabs_only():
    assert visible("a\n\tb\r\x1bc", keep_lines=True) == "a\n\tb\\r\\x1bc"


def test_json_stays_the_same_value_but_nothing_raw_reaches_the_terminal():
    text = json.dumps({"k\x9b": "\u202e\x7f"}, ensure_ascii=False)
    safe = visible_json(text)
    assert json.loads(safe) == json.loads(text)
    assert not any(c in safe for c in "\x9b\u202e\x7f")


def test_visible_data_escapes_keys_and_values():
    assert visible_data({"a\x1b": ["b\n", 1, None]}) == {"a\\x1b": ["b\\n", 1, None]}


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_output_never_holds_a_control_character_and_always_encodes(text):
    shown = visible(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    shown.encode("utf-8")  # lone surrogates are gone too
    if text.isprintable() and text.isascii():
        assert shown == text



@pytest.mark.parametrize("name", ["all", "keep_lines", "json"])
def test_no_escaped_character_is_printable_so_the_printable_fast_path_skips_none(name):
    # visible() returns a str.isprintable() string untouched without running its pattern (start-up: the pattern
    # is compiled on first need). That is safe only while every character a pattern escapes is non-printable.
    everything = "".join(map(chr, range(0x110000)))
    escaped = _pattern(name).findall(everything)
    assert len(escaped) > 100
    assert [f"U+{ord(ch):04X}" for ch in escaped if ch.isprintable()] == []
