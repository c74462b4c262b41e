"""Command-line spellings of a CreateGrant body: `--operations` lists and `--constraint` groups.

Checked here, before any backend call, so a typo in an operation name or a constraint costs nothing and
the error says which word was wrong and what is allowed. What a grant then permits is decided by the
authorization engine (kmstui.authz), never here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kmstui.authz import GRANT_OPERATIONS
from kmstui.authz.principals import parse_caller
from kmstui.errors import UsageError

_BY_LOWER = {op.lower(): op for op in GRANT_OPERATIONS}

CONSTRAINT_TYPES = {
    "encryption-context-equals": "EncryptionContextEquals",
    "encryption-context-subset": "EncryptionContextSubset",
}
_TYPE_BY_LOWER = {**{k: v for k, v in CONSTRAINT_TYPES.items()}, **{v.lower(): v for v in CONSTRAINT_TYPES.values()}}


def parse_operations(values: list[str] | None) -> list[str]:
    """`["Decrypt,GenerateDataKey", "kms:encrypt"]` -> KMS operation names in their AWS spelling, in the order
    given, without repeats. Names are matched case-insensitively; a `kms:` prefix is accepted."""
    out: list[str] = []
    for value in values or []:
        for word in value.replace(" ", ",").split(","):
            word = word.strip()
            if not word:
                continue
            bare = word.split(":", 1)[1] if word.lower().startswith("kms:") else word
            op = _BY_LOWER.get(bare.lower())
            if op is None:
                raise UsageError(f"--operations: '{word}' cannot be granted; grant operations are "
                                 f"{', '.join(GRANT_OPERATIONS)}")
            if op not in out:
                out.append(op)
    if not out:
        raise UsageError("--operations needs at least one operation, e.g. --operations Decrypt,GenerateDataKey")
    return out


_NAME = re.compile(r"[a-zA-Z0-9:/_-]{1,256}")
MAX_CONSTRAINT_PAIRS = 8  # KMS: each constraint holds at most 8 encryption context pairs


def parse_name(value: str | None) -> str | None:
    """A grant name as CreateGrant accepts it (1-256 of letters, digits and :/_-)."""
    if value is not None and not _NAME.fullmatch(value):
        raise UsageError(f"--name: '{value}' is not a grant name KMS accepts; use 1-256 letters, digits, "
                         "':', '/', '_' or '-'")
    return value


_PRINCIPAL_KINDS = ("root", "user", "role", "session", "federated", "service")


def parse_principal(value: str | None, flag: str) -> str | None:
    """A grantee or retiring principal as KMS takes it: the ARN of an account root, IAM user, IAM role,
    assumed-role session or federated user, or an AWS service principal. Anything else (a bare name, an IAM
    group, a malformed account) is refused here, before any backend call, instead of becoming a grant that
    can never match a caller. The value is kept exactly as typed."""
    if value is None:
        return None
    if parse_caller(value).kind not in _PRINCIPAL_KINDS or value != value.strip():
        raise UsageError(f"{flag}: '{value}' is not a principal a grant can name; give the ARN of an account "
                         "(arn:aws:iam::111122223333:root), IAM user, IAM role, assumed-role session or "
                         "federated user, or a service principal (groups are not allowed)")
    return value


def _pairs(words: list[str], kind: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"--constraint {kind}: '{word}' is not KEY=VALUE (e.g. --constraint {kind} app=web)")
        if pairs.get(key, value) != value:
            raise UsageError(f"--constraint {kind}: key '{key}' is given twice with different values")
        pairs[key] = value
    return pairs


def parse_constraints(groups: list[list[str]] | None) -> dict[str, dict[str, str]] | None:
    """`[["encryption-context-equals", "app=web"], ...]` -> a KMS Constraints object (None when no group).

    Each group is a type followed by KEY=VALUE pairs; a group may instead be one JSON object in the AWS
    shape ({"EncryptionContextSubset": {...}}). Keys and values are kept exactly as typed: KMS compares
    them case-sensitively."""
    if not groups:
        return None
    out: dict[str, dict[str, str]] = {}

    def merge(field: str, pairs: dict[str, str], kind: str) -> None:
        have = out.setdefault(field, {})
        for key, value in pairs.items():
            if have.get(key, value) != value:
                raise UsageError(f"--constraint {kind}: key '{key}' is given twice with different values")
            have[key] = value

    for group in groups:
        group = list(group if isinstance(group, list) else [group])
        head = group[0]
        if head.lstrip().startswith("{"):
            try:
                obj: Any = json.loads(" ".join(group))
            except json.JSONDecodeError as exc:
                raise UsageError(f"--constraint JSON is not valid ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise UsageError("--constraint JSON must be an object like "
                                 "{\"EncryptionContextSubset\": {\"k\": \"v\"}}")
            for field, pairs in obj.items():
                if field not in CONSTRAINT_TYPES.values():
                    raise UsageError(f"--constraint JSON: unknown constraint '{field}' "
                                     f"(use {' or '.join(CONSTRAINT_TYPES.values())})")
                if not isinstance(pairs, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in pairs.items()):
                    raise UsageError(f"--constraint JSON: {field} must map strings to strings")
                merge(field, pairs, field)
            continue
        field = _TYPE_BY_LOWER.get(head.lower())
        if field is None:
            raise UsageError(f"--constraint: unknown type '{head}'; give encryption-context-equals or "
                             "encryption-context-subset followed by KEY=VALUE pairs")
        if len(group) < 2:
            raise UsageError(f"--constraint {head} needs at least one KEY=VALUE pair")
        merge(field, _pairs(group[1:], head), head)
    for field, pairs in out.items():
        if len(pairs) > MAX_CONSTRAINT_PAIRS:
            raise UsageError(f"--constraint: {field} has {len(pairs)} pairs; KMS allows at most "
                             f"{MAX_CONSTRAINT_PAIRS} per constraint")
    return out
