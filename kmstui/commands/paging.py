"""Paging of every list command, as the AWS CLI v2 pages: automatic, `--max-items`, `--page-size`,
`--starting-token`, and `--no-paginate` with the API's own `--limit`/`--marker`.

By default every page is fetched and the output holds the whole list under the operation's result key
(`{"Keys": [...]}`), without `Truncated`/`NextMarker`, exactly as `aws kms list-keys` prints it. With
`--max-items N` at most N items are printed and, when more remain, a `NextToken` to pass to
`--starting-token` (the AWS CLI's format: base64 of `{"Marker": ..., "boto_truncate_amount": n}`).
`--no-paginate`, or giving the API's `--limit` or `--marker` (which, as in the AWS CLI, turns automatic
paging off), makes one call and prints the API's response as it is, `Truncated` and `NextMarker` included.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable

from kmstui.commands.registry import Arg
from kmstui.errors import UsageError


def _positive(flag: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise UsageError(f"{flag} '{text}' is not a whole number") from None
        if value < 1:
            raise UsageError(f"{flag} must be at least 1 (got {value})")
        return value

    convert.__name__ = "int"
    return convert


PAGING_ARGS: list[Arg] = [
    Arg("--max-items", "print at most N items; when more remain, a NextToken to pass to --starting-token",
        type=_positive("--max-items"), metavar="N"),
    Arg("--page-size", "items per call to the backend (all pages are still fetched)",
        type=_positive("--page-size"), metavar="N"),
    Arg("--starting-token", "continue from the NextToken a previous --max-items printed", metavar="TOKEN"),
    Arg("--no-paginate", "make one call and print the API's response as is (Truncated, NextMarker)", flag=True),
    Arg("--limit", "the API's Limit for one call (implies --no-paginate, as in the AWS CLI)", type=int,
        metavar="N"),
    Arg("--marker", "the API's Marker: the NextMarker of a previous --no-paginate call (implies --no-paginate)",
        metavar="MARKER"),
]


def encode_token(marker: str | None, skip: int = 0) -> str:
    state: dict[str, Any] = {"Marker": marker} if marker else {}
    if skip:
        state["boto_truncate_amount"] = skip
    return base64.b64encode(json.dumps(state).encode()).decode("ascii")


def decode_token(token: str) -> tuple[str | None, int]:
    try:
        state = json.loads(base64.b64decode(token, validate=True))
        if not isinstance(state, dict):
            raise ValueError
        marker, skip = state.get("Marker"), state.get("boto_truncate_amount", 0)
        if (marker is not None and not isinstance(marker, str)) or not isinstance(skip, int) or skip < 0:
            raise ValueError
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise UsageError(f"--starting-token '{token}' is not a NextToken this command printed") from None
    return marker, skip


def one_call(args) -> bool:
    """Whether the user asked for a single API call (--no-paginate, --limit or --marker)."""
    return bool(getattr(args, "no_paginate", False) or getattr(args, "limit", None) is not None
                or getattr(args, "marker", None) is not None)


def paginate(call: Callable[..., dict], key: str, args, **params: Any) -> dict[str, Any]:
    """Call a KMS list operation as the AWS CLI v2 would for these arguments (see the module docstring)."""
    if one_call(args):
        mixed = [flag for flag, value in (("--max-items", args.max_items), ("--page-size", args.page_size),
                                          ("--starting-token", args.starting_token)) if value is not None]
        if mixed:
            raise UsageError(f"{mixed[0]} pages automatically; it cannot be combined with --no-paginate, --limit "
                             "or --marker (the API's one-call paging)")
        extra = {k: v for k, v in (("Limit", args.limit), ("Marker", args.marker)) if v is not None}
        response = dict(call(**params, **extra))
        response.pop("ResponseMetadata", None)
        return response
    marker, skip = decode_token(args.starting_token) if args.starting_token else (None, 0)
    limit = {"Limit": args.page_size} if args.page_size else {}
    items: list[Any] = []
    out: dict[str, Any] = {}
    while True:
        page = call(**params, **limit, **({"Marker": marker} if marker else {}))
        found = list(page.get(key, []))
        fresh = found[skip:]
        following = page.get("NextMarker") if page.get("Truncated") else None
        if args.max_items is not None and len(items) + len(fresh) >= args.max_items:
            take = args.max_items - len(items)
            items.extend(fresh[:take])
            if take < len(fresh):
                out["NextToken"] = encode_token(marker, skip + take)
            elif following:
                out["NextToken"] = encode_token(following)
            break
        items.extend(fresh)
        skip = 0
        if not following:
            break
        marker = following
    return {key: items, **out}
