"""The grant commands on the other backends: AWS KMS (a moto server, which stores grants but does not
enforce them, so nothing here relies on enforcement) and PKCS#11 (SoftHSM2), which has no grants."""

from __future__ import annotations


import pytest

GRANTEE = "arn:aws:iam::123456789012:role/worker"
RETIREE = "arn:aws:iam::123456789012:role/ops"



@pytest.fixture
def aws_key(aws_profile, moto_server, run_kmstui):
    moto_server.reset()
    return run_kmstui.ok("--profile", aws_profile, "key", "create")["KeyMetadata"]["KeyId"]


def test_aws_grants_are_created_listed_retired_and_revoked_in_the_aws_shape(aws_profile, aws_key, run_kmstui):
    run = lambda *a: run_kmstui.ok("--profile", aws_profile, *a)  # noqa: E731
    made = run("grant", "create", "--key-id", aws_key, "--grantee-principal", GRANTEE, "--operations",
               "Decrypt,GenerateDataKey", "--retiring-principal", RETIREE,
               "--constraint", "encryption-context-subset", "app=web", "--name", "workers")
    assert set(made) == {"GrantId", "GrantToken"}
    other = run("grant", "create", "--key-id", aws_key, "--grantee-principal", GRANTEE, "--operations", "Encrypt")

    listed = run("grant", "list", "--key-id", aws_key)["Grants"]
    by_id = {g["GrantId"]: g for g in listed}
    assert set(by_id) == {made["GrantId"], other["GrantId"]}
    first = by_id[made["GrantId"]]
    assert (first["GranteePrincipal"], first["RetiringPrincipal"], sorted(first["Operations"]), first["Name"]) == (
        GRANTEE, RETIREE, ["Decrypt", "GenerateDataKey"], "workers")
    assert first["Constraints"] == {"EncryptionContextSubset": {"app": "web"}}

    one = run("grant", "list", "--key-id", aws_key, "--grant-id", other["GrantId"])["Grants"]
    assert [g["GrantId"] for g in one] == [other["GrantId"]]

    run("grant", "retire", "--grant-token", made["GrantToken"])
    run("grant", "revoke", "--key-id", aws_key, "--grant-id", other["GrantId"], "--yes")
    assert run("grant", "list", "--key-id", aws_key)["Grants"] == []


def test_aws_table_output_shows_one_row_per_grant(aws_profile, aws_key, run_kmstui):
    run_kmstui.ok("--profile", aws_profile, "grant", "create", "--key-id", aws_key, "--grantee-principal", GRANTEE,
       "--operations", "Decrypt")
    table = run_kmstui("--profile", aws_profile, "grant", "list", "--key-id", aws_key, "--output", "table")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split()[:3] == ["GrantId", "Name", "Grantee"] and len(lines) == 3 and GRANTEE in lines[2]


def test_pkcs11_refuses_grants_with_one_clear_line(pkcs11_profile, run_kmstui):
    for words in (["grant", "create", "--key-id", "anything", "--grantee-principal", GRANTEE,
                   "--operations", "Decrypt"],
                  ["grant", "list", "--key-id", "anything"],
                  ["grant", "list-retirable", "--retiring-principal", RETIREE],
                  ["grant", "retire", "--grant-token", "t"]):
        result = run_kmstui("--profile", pkcs11_profile, *words)
        assert result.code == 254, (words, result.err)
        assert result.err.strip() == ("kmstui: error: UnsupportedOperationException: grants are not supported by "
                                      "pkcs11 backends"), words
