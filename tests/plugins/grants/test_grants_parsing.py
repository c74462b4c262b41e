"""How `grant create` reads --operations and --constraint: AWS spellings out, clear one-line errors in."""

from __future__ import annotations

import pytest

from kmstui.errors import UsageError
from kmstui_grants.parsing import parse_constraints, parse_operations


def test_operations_are_split_deduplicated_and_spelled_as_aws_does():
    assert parse_operations(["decrypt,GenerateDataKey", "kms:Encrypt", "Decrypt"]) == [
        "Decrypt", "GenerateDataKey", "Encrypt"]


@pytest.mark.parametrize("word", ["PutKeyPolicy", "RevokeGrant", "ListGrants", "Decrypt*"])
def test_operations_a_grant_cannot_carry_are_refused_naming_the_allowed_ones(word):
    with pytest.raises(UsageError) as err:
        parse_operations([f"Decrypt,{word}"])
    assert f"'{word}' cannot be granted" in str(err.value) and "GenerateDataKey" in str(err.value)


def test_empty_operations_are_refused():
    with pytest.raises(UsageError, match="at least one operation"):
        parse_operations([" , "])


def test_constraint_groups_become_the_kms_constraints_object_case_preserved():
    got = parse_constraints([["encryption-context-equals", "App=Web", "k=a=b"],
                             ["EncryptionContextSubset", "tenant=acme"]])
    assert got == {"EncryptionContextEquals": {"App": "Web", "k": "a=b"},
                   "EncryptionContextSubset": {"tenant": "acme"}}


def test_constraint_json_in_the_aws_shape_is_accepted():
    assert parse_constraints([['{"EncryptionContextSubset": {"a": "1"}}']]) == {"EncryptionContextSubset": {"a": "1"}}


@pytest.mark.parametrize("group, message", [
    (["encryption-context-superset", "a=1"], "unknown type"),
    (["encryption-context-equals"], "at least one KEY=VALUE"),
    (["encryption-context-equals", "novalue"], "not KEY=VALUE"),
    (["encryption-context-equals", "a=1", "a=2"], "given twice"),
    (['{"SourceArn": {}}'], "unknown constraint"),
    (['{"EncryptionContextEquals": '], "not valid"),
])
def test_bad_constraints_get_one_line_naming_the_problem(group, message):
    with pytest.raises(UsageError, match=message):
        parse_constraints([group])


def test_no_constraint_means_none():
    assert parse_constraints(None) is None
