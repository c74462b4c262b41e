"""Condition operators: parsed and type-checked once, evaluated per request.

Semantics (IAM "Condition operators", "Conditions with multiple context keys or values", kms-authz.md §6):
operators and keys within a block are ANDed, values for one key ORed (NOR for negated operators); a positive
operator on an absent key is false, a negated one true; `...IfExists` makes an absent key true;
`ForAnyValue:` is false on an absent or empty key (even with IfExists), `ForAllValues:` true; `Null: true`
means absent. Key names are case-insensitive; values follow the operator.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, NamedTuple

from kmstui.authz.context import MULTIVALUED, RequestContext, has_variable, scalar_str
from kmstui.authz.patterns import arn_like, arn_template, glob, like_template

STRING_OPS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
              "StringLike", "StringNotLike"}
NUMERIC_OPS = {"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
               "NumericGreaterThan", "NumericGreaterThanEquals"}
DATE_OPS = {"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
            "DateGreaterThanEquals"}
ARN_OPS = {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
IP_OPS = {"IpAddress", "NotIpAddress"}
OTHER_OPS = {"Bool", "BinaryEquals", "Null"}
BASE_OPERATORS = STRING_OPS | NUMERIC_OPS | DATE_OPS | ARN_OPS | IP_OPS | OTHER_OPS
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals", "DateNotEquals",
           "NotIpAddress", "ArnNotEquals", "ArnNotLike"}
_POSITIVE_OF = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
                "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals",
                "NotIpAddress": "IpAddress", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}
_CMP = {"Equals": lambda a, b: a == b, "LessThan": lambda a, b: a < b, "LessThanEquals": lambda a, b: a <= b,
        "GreaterThan": lambda a, b: a > b, "GreaterThanEquals": lambda a, b: a >= b}
_OPS_BY_LOWER = {o.lower(): o for o in BASE_OPERATORS}
SINGLE_VALUED_ONLY_FOR_ALL = r"^(kms:encryptioncontext:|aws:requesttag/)"  # re.I; compiled when first used (start-up)


class ConditionError(ValueError):
    """A condition AWS would reject; the message says what is wrong with it."""


# A NamedTuple rather than a dataclass: it is defined at every command's start-up, for a fifth of the cost.
class Operator(NamedTuple):
    name: str  # as written
    base: str  # StringEquals ...
    set_op: str | None  # "ForAnyValue" | "ForAllValues" | None
    if_exists: bool
    negated: bool


def parse_operator(name: str) -> Operator:
    set_op = None
    rest = name
    if ":" in name:
        prefix, _, rest = name.partition(":")
        canon = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}.get(prefix.lower())
        if canon is None:
            raise ConditionError(f"unknown set operator '{prefix}' (use ForAnyValue or ForAllValues)")
        set_op = canon
    if_exists = False
    if rest.lower().endswith("ifexists"):
        rest = rest[: -len("ifexists")]
        if_exists = True
    base = _OPS_BY_LOWER.get(rest.lower())
    if base is None:
        raise ConditionError(f"unknown condition operator '{name}'")
    if base == "Null" and (if_exists or set_op):
        raise ConditionError("Null cannot be combined with IfExists or a set operator")
    return Operator(name, base, set_op, if_exists, base in NEGATED)


def _num(v: Any) -> float | None:
    """A finite number (NaN and infinities are not numbers a policy can compare)."""
    if isinstance(v, bool):
        return None
    try:
        n = float(v) if isinstance(v, (int, float)) else float(str(v).strip())
    except (ValueError, OverflowError):
        return None
    return n if math.isfinite(n) else None


def parse_date(v: Any) -> datetime | None:
    """ISO 8601 (date, date-time, with or without zone; naive means UTC) or epoch seconds."""
    if isinstance(v, bool):
        return None
    try:  # an epoch out of datetime's range (OverflowError/OSError) is not a date, never a crash
        if isinstance(v, (int, float)):
            return datetime.fromtimestamp(v, timezone.utc)
        s = str(v).strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", s) and len(s) != 8:
            return datetime.fromtimestamp(float(s), timezone.utc)
        d = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _bool_str(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    s = str(v).strip().lower()
    return s if s in ("true", "false") else None


def _b64(v: Any) -> bytes | None:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    try:
        return base64.b64decode(str(v), validate=True)
    except (binascii.Error, ValueError):
        return None


def _network(v: Any):
    try:
        return ipaddress.ip_network(str(v).strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _address(v: str):
    try:
        return ipaddress.ip_address(v.strip())
    except ValueError:
        return None


def _value_list(raw: Any) -> list:
    return raw if isinstance(raw, list) else [raw]


class Condition:
    """One (operator, key, values) triple of a Condition block."""

    __slots__ = ("op", "key", "lkey", "values", "_static", "_templated", "_match", "_null")

    def __init__(self, op: Operator, key: str, raw: Any, variables: bool) -> None:
        self.op = op
        self.key = key
        self.lkey = key.lower()
        self.values = _value_list(raw)
        if not self.values:
            raise ConditionError("has no values")
        for v in self.values:
            if isinstance(v, (dict, list)) or v is None:
                raise ConditionError(f"value {v!r} must be a string, number or boolean")
        if op.set_op == "ForAllValues" and re.match(SINGLE_VALUED_ONLY_FOR_ALL, key, re.I):
            raise ConditionError(f"ForAllValues cannot be used with the single-valued key '{key}' "
                                 "(KMS rejects it as overly permissive)")
        self._null = None
        self._templated = variables and op.base in STRING_OPS | ARN_OPS and any(
            isinstance(v, str) and has_variable(v) for v in self.values)
        if op.base == "Null":
            flags = {_bool_str(v) for v in self.values}
            if None in flags:
                raise ConditionError("Null takes \"true\" (key absent) or \"false\" (key present)")
            self._null = flags
            self._match = None
        elif self._templated:
            self._match = None
        else:
            self._match = self._matcher([v if isinstance(v, str) else v for v in self.values])

    # -- the positive per-value test ------------------------------------------------------------------
    def _matcher(self, pvals: list) -> Callable[[Any], bool]:
        base = _POSITIVE_OF.get(self.op.base, self.op.base)
        if base == "StringEquals":
            s = frozenset(scalar_str(v) for v in pvals)
            return lambda rv: scalar_str(rv) in s
        if base == "StringEqualsIgnoreCase":
            s = frozenset(scalar_str(v).casefold() for v in pvals)
            return lambda rv: scalar_str(rv).casefold() in s
        if base == "StringLike":
            ms = [glob(scalar_str(v)) for v in pvals]
            if len(ms) == 1:
                m0 = ms[0]
                return lambda rv: m0(scalar_str(rv))
            return lambda rv: any(m(scalar_str(rv)) for m in ms)
        if base == "ArnEquals" or base == "ArnLike":
            ms = [arn_like(scalar_str(v)) for v in pvals]
            return lambda rv: isinstance(rv, str) and any(m(rv) for m in ms)
        if base.startswith("Numeric"):
            nums = [_num(v) for v in pvals]
            if any(n is None for n in nums):
                raise ConditionError(f"{self.op.name} needs numbers, got {pvals!r}")
            cmp = _CMP[base[len("Numeric"):]]

            def numeric(rv: Any) -> bool:
                n = _num(rv)
                return n is not None and any(cmp(n, p) for p in nums)
            return numeric
        if base.startswith("Date"):
            dates = [parse_date(v) for v in pvals]
            if any(d is None for d in dates):
                raise ConditionError(f"{self.op.name} needs ISO 8601 dates or epoch seconds, got {pvals!r}")
            cmp = _CMP[base[len("Date"):]]

            def date(rv: Any) -> bool:
                d = parse_date(rv)
                return d is not None and any(cmp(d, p) for p in dates)
            return date
        if base == "Bool":
            flags = {_bool_str(v) for v in pvals}
            if None in flags:
                raise ConditionError(f"Bool takes true or false, got {pvals!r}")
            return lambda rv: _bool_str(rv) in flags
        if base == "BinaryEquals":
            blobs = [_b64(v) for v in pvals]
            if any(b is None for b in blobs):
                raise ConditionError("BinaryEquals values must be base64")
            return lambda rv: _b64(rv) in blobs
        if base == "IpAddress":
            nets = [_network(v) for v in pvals]
            if any(n is None for n in nets):
                raise ConditionError(f"{self.op.name} needs IP addresses or CIDR blocks, got {pvals!r}")

            def ip(rv: Any) -> bool:
                addr = _address(str(rv))
                return addr is not None and any(addr.version == n.version and addr in n for n in nets)
            return ip
        raise ConditionError(f"unsupported operator {self.op.name}")  # pragma: no cover

    def _templated_matcher(self, ctx: RequestContext) -> Callable[[Any], bool]:
        base = _POSITIVE_OF.get(self.op.base, self.op.base)
        if base == "StringLike":
            rxs = []
            for v in self.values:
                parts = template_parts(scalar_str(v), ctx)
                if parts is not None:
                    rxs.append(like_template(parts))
            return lambda rv: any(r(scalar_str(rv)) for r in rxs)
        if base == "ArnEquals" or base == "ArnLike":
            ms = [arn_template(parts) for v in self.values
                  if (parts := template_parts(scalar_str(v), ctx)) is not None]
            return lambda rv: isinstance(rv, str) and any(m(rv) for m in ms)
        resolved = [r for v in self.values if (r := ctx.resolve(scalar_str(v))) is not None]
        if not resolved:
            return lambda rv: False
        return self._matcher(resolved)

    # -- evaluation ----------------------------------------------------------------------------------
    def test(self, ctx: RequestContext) -> bool:
        rv = ctx.get(self.lkey)
        op = self.op
        if self._null is not None:
            absent = rv is None or rv == [] or rv == ""
            return ("true" if absent else "false") in self._null
        if rv is None or rv == [] or (rv == "" and op.set_op is not None):  # "" is an empty set of values
            if op.set_op == "ForAnyValue":
                return False
            if op.set_op == "ForAllValues" or op.if_exists:
                return True
            return op.negated
        match = self._match or self._templated_matcher(ctx)
        if isinstance(rv, list):
            if op.set_op == "ForAllValues":
                return all(match(v) != op.negated for v in rv)
            if op.set_op == "ForAnyValue":
                return any(match(v) != op.negated for v in rv)
            if op.negated:
                return not any(match(v) for v in rv)
            return any(match(v) for v in rv)
        return match(rv) != op.negated

    def explain(self, ctx: RequestContext) -> dict[str, Any]:
        rv = ctx.get(self.lkey)
        result = self.test(ctx)
        present = not (rv is None or rv == [] or (rv == "" and (self.op.base == "Null" or self.op.set_op)))
        out: dict[str, Any] = {"operator": self.op.name, "key": self.key, "values": list(self.values),
                               "request_value": rv, "present": present, "result": result}
        if not present:
            if self.op.base == "Null":
                why = "key absent"
            elif self.op.set_op == "ForAnyValue":
                why = "key absent or empty: ForAnyValue is false"
            elif self.op.set_op == "ForAllValues":
                why = "key absent or empty: ForAllValues is true"
            elif self.op.if_exists:
                why = "key absent: IfExists makes the condition true"
            elif self.op.negated:
                why = "key absent: a negated operator is true"
            else:
                why = "key absent: a positive operator is false"
            if self.lkey in MULTIVALUED and self.op.set_op is None and self.op.base != "Null":
                why += " (multivalued key used without ForAnyValue/ForAllValues)"
            out["why"] = why
        else:
            out["why"] = "matched" if result else ("a value matched the negated operator" if self.op.negated
                                                    else "no value matched")
        if self._templated:
            out["resolved_values"] = [ctx.resolve(scalar_str(v)) for v in self.values]
        return out


def template_parts(value: str, ctx: RequestContext) -> list[tuple[bool, str]] | None:
    """Split a pattern into literal-substitution and pattern pieces; None if a variable is unresolvable.
    The `${*}`, `${?}` and `${$}` escapes are literal characters (IAM "Policy variables": special characters)."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in re.finditer(r"\$\{([^}]*)\}", value):
        if m.start() > pos:
            parts.append((False, value[pos:m.start()]))
        body = m.group(1).strip()
        if body in ("*", "?", "$"):
            parts.append((True, body))
        else:
            r = ctx.resolve(m.group(0))
            if r is None:
                return None
            parts.append((True, r))
        pos = m.end()
    if pos < len(value):
        parts.append((False, value[pos:]))
    return parts


def compile_block(block: Any, variables: bool) -> tuple[list[Condition], list[tuple[str, str]]]:
    """Compile a Condition element; returns the conditions and (element path, problem) errors."""
    conds: list[Condition] = []
    errors: list[tuple[str, str]] = []
    if not isinstance(block, dict):
        return conds, [("Condition", "must be an object of operator -> {key: value(s)}")]
    for opname, keys in block.items():
        try:
            op = parse_operator(str(opname))
        except ConditionError as exc:
            errors.append((f"Condition.{opname}", str(exc)))
            continue
        if not isinstance(keys, dict) or not keys:
            errors.append((f"Condition.{opname}", "must be a non-empty object of condition key -> value(s)"))
            continue
        for key, raw in keys.items():
            try:
                conds.append(Condition(op, str(key), raw, variables))
            except ConditionError as exc:
                errors.append((f"Condition.{opname}.{key}", str(exc)))
    return conds, errors


__all__ = ["Condition", "ConditionError", "Operator", "compile_block", "parse_operator", "parse_date", "template_parts",
           "BASE_OPERATORS", "NEGATED"]
