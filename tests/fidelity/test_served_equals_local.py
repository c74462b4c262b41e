"""`kmstui serve` answers as the local backend it serves, not only with the documented fields: for every call of
test_responses the served response has the same members, nested members and value types as the local
backend's (a blob stays bytes, a date a datetime, an encryption context a map), and for every error of
test_errors the same error name and message (key ids aside). The per-target tests check presence; this check
catches a member the wire adds, drops or re-types."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from kmstui.errors import KmstuiError
from tests.fidelity import test_errors as errors
from tests.fidelity import test_responses as responses

_KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def shape(value: Any) -> Any:
    """Members and value types, recursively (a list by its first item: lengths differ between stores)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def outcome(call: Callable[[], Any]) -> tuple:
    try:
        return ("ok", shape(call()))
    except KmstuiError as exc:
        return ("error", exc.code, _KEY_ID.sub("KEY-ID", str(exc)))


def _fresh(kms):
    return lambda **kw: kms.create_key(Description="fidelity", **kw)["KeyMetadata"]["KeyId"]


@pytest.mark.parametrize("operation", list(responses.RESPONSES))
def test_served_response_has_the_local_shape(local_and_served, operation):
    call = responses.RESPONSES[operation][0]
    (local, local_keys), (served, served_keys) = local_and_served
    assert outcome(lambda: call(served, served_keys, _fresh(served))) == \
        outcome(lambda: call(local, local_keys, _fresh(local)))


def _error_cases() -> list[tuple[str, Callable[[Any, Any, Any], Any]]]:
    def keyed(op: str, prepare: Callable[[Any, str], None], kind: str | None = None):
        def call(kms, keys, fresh):
            spec_kind, run = errors.KEYED[op]
            key = fresh(**errors.SPECS[kind or spec_kind])
            prepare(kms, key)
            return run(kms, key, keys)
        return call

    cases = [(f"NotFound-{op}", lambda k, keys, fresh, op=op: errors.KEYED[op][1](k, errors.MISSING, keys))
             for op in errors.NOT_FOUND]
    cases += [(f"Disabled-{op}", keyed(op, lambda k, key: k.disable_key(KeyId=key))) for op in errors.DISABLED]
    cases += [(f"Pending-{op}", keyed(op, lambda k, key: k.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)))
              for op in errors.PENDING]
    cases += [(f"Usage-{op}", lambda k, keys, fresh, op=op, kind=kind: errors.KEYED[op][1](k, getattr(keys, kind),
                                                                                        keys))
              for op, kind in sorted(errors.WRONG_USAGE.items())]
    cases += [(f"{op}-{error}", trigger) for op, error, trigger, _doc in errors.SPECIFIC]
    return cases


ERROR_CASES = _error_cases()


@pytest.mark.parametrize("case", [name for name, _t in ERROR_CASES])
def test_served_error_is_the_local_error(local_and_served, case):
    trigger = dict(ERROR_CASES)[case]
    (local, local_keys), (served, served_keys) = local_and_served
    expected = outcome(lambda: trigger(local, local_keys, _fresh(local)))
    assert expected[0] == "error", f"{case}: the local backend did not fail"
    assert outcome(lambda: trigger(served, served_keys, _fresh(served))) == expected
