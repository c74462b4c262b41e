"""Regressions found using grants end to end as a security engineer would: principals a grant can never
name, a grantee resolving an alias it may not describe, and grant tokens kept out of REPL history."""

from __future__ import annotations

import json

import pytest

from kmstui.errors import AccessDeniedException, UsageError
from kmstui.lines import has_secret
from kmstui.session import Session
from kmstui_grants.parsing import parse_principal

ACCOUNT = "111122223333"
B = f"arn:aws:iam::{ACCOUNT}:role/B"
C = f"arn:aws:iam::{ACCOUNT}:user/C"


def run(session, *words):
    return session.execute([str(w) for w in words]).data


@pytest.fixture
def key(session) -> str:
    return run(session, "key", "create", "--alias", "alias/app")["KeyMetadata"]["KeyId"]


@pytest.mark.parametrize("value", [
    "bob",  # a bare name
    f"arn:aws:iam::{ACCOUNT}:group/devs",  # groups cannot be grantees
    "arn:aws:iam::12:user/x",  # not a 12-digit account
    f"arn:aws:sts::{ACCOUNT}:assumed-role/only-role",  # a session ARN without its session name
    f" {C}",
])
def test_principals_a_grant_can_never_name_are_refused_before_any_call(session, key, value):
    for flag in ("--grantee-principal", "--retiring-principal"):
        words = ["grant", "create", "--key-id", key, "--operations", "Decrypt", "--grantee-principal", C, flag, value]
        with pytest.raises(UsageError, match=flag):
            run(session, *words)
    with pytest.raises(UsageError, match="--retiring-principal"):
        run(session, "grant", "list-retirable", "--retiring-principal", value)
    with pytest.raises(UsageError, match="--grantee-principal"):
        run(session, "grant", "list", "--key-id", key, "--grantee-principal", value)
    assert run(session, "grant", "list", "--key-id", key)["Grants"] == []


@pytest.mark.parametrize("value", [
    C, B, f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:sts::{ACCOUNT}:assumed-role/B/job-1",
    f"arn:aws:sts::{ACCOUNT}:federated-user/ann", f"arn:aws-cn:iam::{ACCOUNT}:role/path/B",
    "logs.us-east-1.amazonaws.com",
])
def test_every_principal_kind_kms_accepts_is_kept_as_typed(value):
    assert parse_principal(value, "--grantee-principal") == value


def test_a_grantee_with_create_grant_may_name_the_key_by_its_alias_when_it_may_list_aliases(session, key, tmp_path):
    grant = ["grant", "create", "--grantee-principal", C, "--operations", "Decrypt", "--as", B]
    run(session, "grant", "create", "--key-id", key, "--grantee-principal", B, "--operations", "CreateGrant,Decrypt")
    with pytest.raises(AccessDeniedException) as err:
        run(session, *grant, "--key-id", "alias/app")
    message = str(err.value)
    assert "alias/app" in message and "key id or key ARN" in message and "\n" not in message
    assert run(session, *grant, "--key-id", key)["GrantId"]  # the key id works without DescribeKey

    policy = tmp_path / "aliases.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ListAliases", "Resource": "*"}]}))
    run(session, "iam", "put-policy", "--principal", B, "--name", "aliases", "--file", policy)
    created = run(session, *grant, "--key-id", "alias/app")
    shown = run(session, "grant", "list", "--key-id", key, "--grant-id", created["GrantId"])["Grants"]
    assert [g["GranteePrincipal"] for g in shown] == [C]


@pytest.mark.parametrize("line", [
    "grant retire --grant-token abc",
    f"grant create --key-id alias/app --grantee-principal {C} --operations Decrypt --grant-token abc",
])
def test_grant_tokens_are_never_kept_in_history(line):
    assert has_secret(line, Session().registry)


@pytest.mark.parametrize("extra, flag", [
    (["--name", "bad name!"], "--name"),
    (["--name", "x" * 257], "--name"),
    (["--constraint", "encryption-context-equals", *[f"k{i}=v" for i in range(9)]], "at most 8"),
])
def test_names_and_constraints_kms_would_reject_are_refused_before_any_call(session, key, extra, flag):
    with pytest.raises(UsageError, match=flag):
        run(session, "grant", "create", "--key-id", key, "--grantee-principal", C, "--operations", "Decrypt", *extra)
    assert run(session, "grant", "list", "--key-id", key)["Grants"] == []


def test_a_grant_name_of_every_allowed_character_is_kept():
    from kmstui_grants.parsing import parse_name

    assert parse_name("team:app/web_1-prod") == "team:app/web_1-prod"
