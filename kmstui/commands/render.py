"""Turning a command's Result into text: json, yaml, text and table, after an optional JMESPath --query.

JSON is shaped like the AWS CLI's (4-space indent, bytes as base64, timestamps as ISO 8601) so that scripts
written against `aws kms` keep working. yaml and jmespath are imported only when asked for, to keep
one-shot commands quick to start.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import re
from typing import Any, Sequence

from kmstui.commands.registry import Result, TableHint
from kmstui.errors import UsageError
from kmstui.visible import has_unsafe, visible, visible_data, visible_json

FORMATS = ("table", "json", "yaml", "text")
MASK = "(hidden in a table: add --show-plaintext, or use --output json|text|yaml)"


def choose_format(requested: str | None, config_value: str | None, stdout_is_tty: bool) -> str:
    """Flag > environment (KMSTUI_OUTPUT) > config `output` > table on a terminal, json otherwise."""
    for value, where in ((requested, "--output"), (os.environ.get("KMSTUI_OUTPUT"), "KMSTUI_OUTPUT"),
                         (config_value, "config 'output'")):
        if value:
            if value not in FORMATS:
                raise UsageError(f"{where}: unknown output format '{value}' (use {', '.join(FORMATS)})")
            return value
    return "table" if stdout_is_tty else "json"


def use_color(stream_is_tty: bool, no_color_flag: bool = False) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR set (https://no-color.org)."""
    return stream_is_tty and not no_color_flag and not os.environ.get("NO_COLOR")


def plain(value: Any) -> Any:
    """Data as JSON would carry it: bytes -> base64 text, datetimes -> ISO 8601, tuples/sets -> lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return value


def apply_query(data: Any, query: str | None) -> Any:
    if not query:
        return data
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(query, plain(data))
    except JMESPathError as exc:
        # jmespath puts the expression and a caret on the lines after "...:"; keep one line that names it.
        first = str(exc).splitlines()[0].rstrip(": ")
        raise UsageError(f"--query {query!r}: {first} (see https://jmespath.org for the syntax)") from None


def render(result: Result, fmt: str, *, query: str | None = None, color: bool = False) -> str:
    """The text to print on stdout for `result` (empty when there is nothing to print). Untrusted strings
    in the data come out with control characters made visible (kmstui/visible.py) in every format: escaped
    the JSON way in json, the YAML way in yaml, as backslash escapes in text and table."""
    if result.data is None and not query:
        return _nl(visible(result.text, keep_lines=True)) if result.text else ""
    data = result.data
    if fmt == "table" and result.masked and isinstance(data, dict):
        data = {k: (MASK if k in result.masked and v is not None else v) for k, v in data.items()}
    data = apply_query(data, query)
    if fmt == "json":
        return visible_json(json.dumps(plain(data), indent=4, ensure_ascii=False)) + "\n"
    if fmt == "yaml":
        import yaml

        data = plain(data)  # yaml escapes controls itself; with bidi controls about, it escapes all non-ASCII
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=not has_unsafe(data))
    if fmt == "text" or (fmt == "table" and result.table is None):
        # A command's own human rendering beats a generic grid (a policy document, an advisor report).
        if result.text is not None and not query:
            return _nl(visible(result.text, keep_lines=True))
    if fmt == "text":
        return format_text(visible_data(plain(data)))
    if fmt == "table":
        hint = None if query else result.table
        table = format_table(visible_data(plain(data)), hint, color=color)
        return table + _nl(visible(result.summary, keep_lines=True)) if result.summary and not query else table
    raise UsageError(f"unknown output format '{fmt}' (use {', '.join(FORMATS)})")


def _nl(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


# -- text: the AWS CLI's tab-separated form (awscli/text.py) -------------------------------------------
def format_text(data: Any) -> str:
    out: list[str] = []
    _text(data, out, None, None)
    return "".join(out)


def _scalar(value: Any) -> str:
    return "None" if value is None else str(value)


def _text(item: Any, out: list[str], identifier: str | None, scalar_keys: list[str] | None) -> None:
    if isinstance(item, dict):
        _text_dict(item, out, identifier, scalar_keys)
    elif isinstance(item, list):
        _text_list(item, out, identifier)
    elif item is not None:
        out.append(_scalar(item) + "\n")


def _text_list(items: list, out: list[str], identifier: str | None) -> None:
    if not items:
        return
    if any(isinstance(el, dict) for el in items):
        keys = sorted({k for el in items if isinstance(el, dict) for k, v in el.items()
                       if not isinstance(v, (dict, list))})
        for el in items:
            _text(el, out, identifier, keys)
        return
    scalars = [el for el in items if not isinstance(el, (dict, list))]
    if scalars:
        if identifier is not None:
            out.extend(f"{identifier.upper()}\t{_scalar(el)}\n" for el in scalars)
        else:
            out.append("\t".join(_scalar(el) for el in scalars) + "\n")
    for el in items:
        if isinstance(el, list):
            _text(el, out, identifier, None)


def _text_dict(item: dict, out: list[str], identifier: str | None, scalar_keys: list[str] | None) -> None:
    scalars: list[str] = []
    nested: list[tuple[str, Any]] = []
    if scalar_keys is None:
        for key, value in sorted(item.items()):
            if isinstance(value, (dict, list)):
                nested.append((key, value))
            else:
                scalars.append(_scalar(value))
    else:
        scalars = [_scalar(item.get(key, "")) for key in scalar_keys]
        nested = [(k, item[k]) for k in sorted(set(item) - set(scalar_keys))]
    if scalars:
        if identifier is not None:
            scalars.insert(0, identifier.upper())
        out.append("\t".join(scalars) + "\n")
    for key, value in nested:
        _text(value, out, key, None)


# -- table: aligned columns for people ------------------------------------------------------------------
_INDEXED = re.compile(r"(.*)\[(\d+)\]")


def _dig(row: Any, path: str) -> Any:
    """The value at a dotted field path; a part may index a list ("resources[0].ARN")."""
    for part in path.split("."):
        indexed = _INDEXED.fullmatch(part)
        name, index = (indexed.group(1), int(indexed.group(2))) if indexed else (part, None)
        if not isinstance(row, dict):
            return None
        row = row.get(name)
        if index is not None:
            row = row[index] if isinstance(row, list) and index < len(row) else None
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return visible(value)  # a control character in an untrusted value (a key description) shows as an escape


def format_table(data: Any, hint: TableHint | None = None, *, color: bool = False) -> str:
    if hint is not None:
        if hint.source is not None:
            data = plain(hint.source())
        rows = data if hint.rows is None else _dig(data, hint.rows)
        if isinstance(rows, list):
            return _grid([h for h, _ in hint.columns],
                         [[_cell(_dig(r, path)) for _, path in hint.columns] for r in rows], color)
    if isinstance(data, list):
        if data and all(isinstance(r, dict) for r in data):
            keys: list[str] = []
            for r in data:
                keys.extend(k for k in r if k not in keys)
            return _grid(keys, [[_cell(r.get(k)) for k in keys] for r in data], color)
        return _grid(["Value"], [[_cell(v)] for v in data], color)
    if isinstance(data, dict):
        # A dict holding one list of records (e.g. {"Keys": [...]}) reads best as that list.
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(data) == 1 and lists and all(isinstance(r, dict) for r in data[lists[0]]):
            return format_table(data[lists[0]], None, color=color)
        return _grid(["Field", "Value"], [[k, _cell(v)] for k, v in _flatten(data)], color)
    return _cell(data) + "\n"


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.extend(_flatten(value, name + "."))
        else:
            out.append((name, value))
    return out


def _grid(headers: Sequence[str], rows: list[list[str]], color: bool) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    head = line(headers)
    if color:
        head = f"\x1b[1m{head}\x1b[0m"
    out = [head, line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out) + "\n"
