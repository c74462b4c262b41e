"""KMS request parameters checked against the KMS API Reference's constraints before any backend sees them.

Why here, once: a value KMS would refuse (a 9,000-character description, an alias name with '!', text that
is not UTF-8) must be refused before anything changes, whichever face sent it (command line, REPL, TUI,
the server) and whichever backend would run it. The Session routes every backend call through
`check_request` (kmstui/session.py), so a bad value never reaches a store half-way through a change.

The rules are the "Length Constraints" and "Pattern" lines of the KMS API Reference, which botocore's KMS
service model carries in machine-readable form; tests/test_validation.py checks this table against it.
Lengths count characters, as the API Reference does. Errors read like KMS's own ValidationException:
"1 validation error detected: Value '...' at 'description' failed to satisfy constraint: ...".
"""

from __future__ import annotations

import re
from typing import Any

from kmstui.errors import ValidationException
from kmstui.visible import visible

# parameter (or nested member) name -> (min length, max length, pattern to match in full or None)
_ALIAS = r"^[a-zA-Z0-9:/_-]+$"
_PRINCIPAL = r"^[\w+=,.@:/-]+$"
RULES: dict[str, tuple[int, int, str | None]] = {
    "AliasName": (1, 256, _ALIAS),
    "Description": (0, 8192, None),
    "KeyId": (1, 2048, None),
    "TargetKeyId": (1, 2048, None),
    "DestinationKeyId": (1, 2048, None),
    "SourceKeyId": (1, 2048, None),
    "Policy": (1, 131072, r"[\u0009\u000A\u000D\u0020-\u00FF]+"),
    "PolicyName": (1, 128, r"[\w]+"),
    "Name": (1, 256, _ALIAS),  # CreateGrant's grant name
    "GranteePrincipal": (1, 256, _PRINCIPAL),
    "RetiringPrincipal": (1, 256, _PRINCIPAL),
    "GrantId": (1, 128, None),
    "GrantToken": (1, 8192, None),
    "Marker": (1, 1024, r"[\u0020-\u00FF]*"),
    "TagKey": (1, 128, None),
    "TagValue": (0, 256, None),
}
# Lists: parameter -> (member rule name or None, max items or None)
LISTS: dict[str, tuple[str | None, int | None]] = {
    "GrantTokens": ("GrantToken", 10),
    "TagKeys": ("TagKey", None),
}
# Members whose values are never echoed in an error (bearer values).
_SECRET = frozenset({"GrantToken", "GrantTokens"})


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _fail(where: str, value: Any, constraint: str, secret: bool = False) -> ValidationException:
    shown = "***" if secret else visible(str(value) if len(str(value)) <= 64 else str(value)[:61] + "...")
    return ValidationException(f"1 validation error detected: Value '{shown}' at '{where}' failed to satisfy "
                               f"constraint: {constraint}")


def _text(where: str, value: Any, secret: bool = False) -> None:
    """Every string KMS gets is Unicode text: raw bytes smuggled in as lone surrogates are refused."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(where, value, "Member must be valid UTF-8 text", secret) from None


def _string(name: str, where: str, value: Any) -> None:
    secret = name in _SECRET
    _text(where, value, secret)
    if not isinstance(value, str):
        return  # a wrong type is the backend's (or botocore's) to report
    low, high, pattern = RULES[name]
    if len(value) < low:
        raise _fail(where, value, f"Member must have length greater than or equal to {low}", secret)
    if len(value) > high:
        raise _fail(where, value, f"Member must have length less than or equal to {high}", secret)
    if pattern is not None and not re.fullmatch(pattern, value):
        raise _fail(where, value, f"Member must satisfy regular expression pattern: {pattern}", secret)


def _any_text(where: str, value: Any) -> None:
    if isinstance(value, str):
        _text(where, value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _text(f"{where}.key", k)
            _any_text(f"{where}.{visible(k) if isinstance(k, str) else k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value, 1):
            _any_text(f"{where}.{i}.member", v)


# kmstui's own operations beside the KMS API (identity policies, shaped like IAM's): their names follow
# IAM's rules, not KMS's, so only the text rule applies to them.
NOT_KMS = frozenset({"put_identity_policy", "get_identity_policy", "list_identity_policies", "delete_identity_policy"})


def check_request(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException when a parameter breaks the KMS API Reference's constraints."""
    if operation in NOT_KMS:
        _any_text("request", params)
        return
    for name, value in params.items():
        where = _camel(name)
        if value is None:
            continue
        if name in RULES:
            _string(name, where, value)
        elif name in LISTS and isinstance(value, (list, tuple)):
            member, most = LISTS[name]
            if most is not None and len(value) > most:
                raise _fail(where, f"[{len(value)} items]", f"Member must have length less than or equal to {most}",
                            name in _SECRET)
            for i, item in enumerate(value, 1):
                _string(member, f"{where}.{i}.member", item) if member else _any_text(f"{where}.{i}.member", item)
        elif name == "Tags" and isinstance(value, (list, tuple)):
            for i, tag in enumerate(value, 1):
                if isinstance(tag, dict):
                    for member in ("TagKey", "TagValue"):
                        if member in tag:
                            _string(member, f"tags.{i}.member.{_camel(member)}", tag[member])
        else:  # encryption contexts, grant constraints, operations, ...: text must be text
            _any_text(where, value)
