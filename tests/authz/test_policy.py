"""Parsing and validation: errors name the statement and element; warnings for what AWS accepts but is inert."""

import json

import pytest

from kmstui.authz import PolicyError, compile_policy, validate_policy

from .helpers import ROOT, ROOT_STMT, USER, allow, policy


def codes(findings, severity=None):
    return [f.code for f in findings if severity is None or f.severity == severity]


def test_statement_as_single_object_is_accepted():
    doc = {"Version": "2012-10-17", "Statement": ROOT_STMT}
    assert len(compile_policy(doc).statements) == 1


def test_json_text_and_duplicate_keys():
    assert compile_policy(json.dumps(policy(ROOT_STMT))).statements
    with pytest.raises(PolicyError, match="duplicate key 'Effect'"):
        compile_policy('{"Statement": [{"Effect": "Allow", "Effect": "Deny"}]}')
    with pytest.raises(PolicyError, match="not valid JSON"):
        compile_policy('{"Statement": ')


def test_error_names_statement_and_element():
    doc = policy(ROOT_STMT, {"Sid": "Users", "Effect": "Permit", "Principal": {"AWS": USER}, "Action": "kms:Decrypt",
                             "Resource": "*"})
    with pytest.raises(PolicyError) as info:
        compile_policy(doc)
    f = info.value.findings[0]
    assert (f.statement, f.element, f.code) == ('Statement[1] (Sid "Users")', "Effect", "BadEffect")
    assert 'Statement[1] (Sid "Users") Effect' in str(info.value)


@pytest.mark.parametrize("statement,code,element", [
    ({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}, "NoPrincipal", "Principal"),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "kms:*", "Resource": "*"},
     "BadPrincipal", "Principal.AWS"),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:group/admins"}, "Action": "kms:*",
      "Resource": "*"}, "BadPrincipal", "Principal.AWS"),
    ({"Effect": "Allow", "Principal": {"Service": "not a service"}, "Action": "kms:*", "Resource": "*"},
     "BadPrincipal", "Principal.Service"),
    ({"Effect": "Allow", "Principal": "*", "Action": "Decrypt", "Resource": "*"}, "BadAction", "Action"),
    ({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotAction": "kms:Decrypt", "Resource": "*"},
     "Conflict", "NotAction"),
    ({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "alias/app"}, "BadResource", "Resource"),
    ({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condtion": {}}, "UnknownElement",
     "Condtion"),
    ({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
      "Condition": {"StringEquals": {"k": {"nested": 1}}}}, "BadCondition", "Condition.StringEquals.k"),
    ({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
      "Condition": {"DateLessThan": {"aws:CurrentTime": "yesterday"}}}, "BadCondition",
     "Condition.DateLessThan.aws:CurrentTime"),
    ({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
      "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}, "BadCondition", "Condition.IpAddress.aws:SourceIp"),
])
def test_errors(statement, code, element):
    findings = validate_policy(policy(ROOT_STMT, statement))
    errors = [f for f in findings if f.severity == "error"]
    assert errors and errors[0].code == code and errors[0].element == element
    assert errors[0].statement.startswith("Statement[1]")


def test_top_level_errors():
    assert "BadVersion" in codes(validate_policy({"Version": "2020-01-01", "Statement": [ROOT_STMT]}))
    assert "NoStatement" in codes(validate_policy({"Version": "2012-10-17"}))
    assert "UnknownElement" in codes(validate_policy({"Statement": [ROOT_STMT], "Extra": 1}))
    assert codes(validate_policy([1, 2])) == ["NotAnObject"]


def test_principal_in_identity_policy_is_an_error():
    doc = {"Version": "2012-10-17", "Statement": [allow({"AWS": USER})]}
    assert "PrincipalInIdentityPolicy" in codes(validate_policy(doc, "iam"), "error")


def test_key_policy_size_limit():
    big = policy(*[allow({"AWS": f"arn:aws:iam::111122223333:user/u{i:05d}"}, "kms:Decrypt") for i in range(400)])
    assert "TooLarge" in codes(validate_policy(big), "error")


def test_warnings_for_inert_and_risky_but_accepted_documents():
    doc = {"Statement": [
        ROOT_STMT,
        {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "kms:Decrypt"},
        {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "kms:ReEncrypt", "Resource": "*"},
        {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": USER}, "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContextKeys": "a"}}},
        {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": USER}, "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "a"}}},
        {"Effect": "Deny", "NotPrincipal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
    ]}
    found = codes(validate_policy(doc), "warning")
    for code in ("NoVersion", "NoResource", "UnknownAction", "MultivaluedWithoutSetOperator", "ForAllValuesFailsOpen",
                 "DuplicateSid", "NotPrincipal"):
        assert code in found, code
    assert not codes(validate_policy(doc), "error")


def test_compiled_policy_keeps_warnings():
    compiled = compile_policy({"Statement": [ROOT_STMT]})
    assert [f.code for f in compiled.findings] == ["NoVersion"]
