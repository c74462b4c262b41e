"""`alias ...` through `python -m kmstui` on a fresh local HSM."""

from __future__ import annotations


import pytest



def names(run, *args) -> list[str]:
    return [a["AliasName"] for a in run.ok("alias", "list", *args)["Aliases"]]


def test_create_list_update_delete(run_kmstui, unsealed_hsm):
    a = unsealed_hsm.create_key(Description="a")["KeyMetadata"]["KeyId"]
    b = unsealed_hsm.create_key(Description="b")["KeyMetadata"]["KeyId"]
    assert run_kmstui.ok("alias", "create", "alias/app", a) is None  # as aws kms create-alias: no output
    created = run_kmstui.ok("alias", "list", "--key-id", a)["Aliases"][0]
    assert created["AliasName"] == "alias/app" and created["TargetKeyId"] == a
    # KMS: "Specify the key ID or key ARN of the KMS key" (CreateAlias TargetKeyId): an alias is refused.
    as_target = run_kmstui("alias", "create", "alias/other", "alias/app")
    assert as_target.code == 254 and "ValidationException" in as_target.err and not as_target.out
    run_kmstui.ok("alias", "create", "alias/other", a)
    assert names(run_kmstui) == ["alias/app", "alias/other"]
    assert names(run_kmstui, "--key-id", b) == []
    assert run_kmstui.ok("alias", "update", "alias/other", b) is None
    assert names(run_kmstui, "--key-id", b) == ["alias/other"]
    assert names(run_kmstui, "--key-id", "alias/other") == ["alias/other"]
    table = run_kmstui("alias", "list", "--output", "table")
    assert table.out.split()[:2] == ["Alias", "KeyId"] and "alias/app" in table.out

    refused = run_kmstui("alias", "delete", "alias/app")
    assert refused.code == 252 and "confirm" in refused.err
    assert "alias/app" in names(run_kmstui)
    assert run_kmstui("alias", "delete", "alias/app", "--yes").code == 0
    assert names(run_kmstui) == ["alias/other"]
    assert unsealed_hsm.describe_key(KeyId=a)["KeyMetadata"]["KeyState"] == "Enabled"  # the key stays


def test_alias_errors_use_kms_names(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    run_kmstui.ok("alias", "create", "alias/taken", key)
    for args, name in ((("alias", "create", "alias/taken", key), "AlreadyExistsException"),
                       (("alias", "create", "noprefix", key), "ValidationException"),
                       (("alias", "create", "alias/bad!name", key), "ValidationException"),
                       (("alias", "create", "alias/aws/reserved", key), "InvalidAliasNameException"),
                       (("alias", "create", "alias/x", "alias/missing"), "ValidationException"),
                       (("alias", "create", "alias/x", "1234abcd-12ab-34cd-56ef-1234567890ab"), "NotFoundException"),
                       (("alias", "delete", "alias/missing", "--yes"), "NotFoundException")):
        result = run_kmstui(*args)
        assert result.code == 254 and name in result.err, (args, result.err)


def test_read_only_refuses_alias_changes(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    result = run_kmstui("alias", "create", "alias/ro", key, "--read-only")
    assert result.code == 252 and "read-only" in result.err
    assert names(run_kmstui, "--read-only") == []


def test_alias_and_target_may_be_given_as_the_aws_cli_flags(session, unsealed_hsm):
    """`--alias-name` and `--target-key-id` (the AWS CLI's names) stand in for either word, in any mix."""
    from kmstui.errors import UsageError

    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    for n, words in enumerate((["alias/a{n}", key], ["--alias-name", "alias/a{n}", key],
                               ["alias/a{n}", "--target-key-id", key], ["--target-key-id", key, "alias/a{n}"],
                               ["--alias-name", "alias/a{n}", "--target-key-id", key])):
        words = [w.format(n=n) for w in words]
        session.execute(["alias", "create", *words])
        created = {a["AliasName"]: a for a in unsealed_hsm.list_aliases()["Aliases"]}[f"alias/a{n}"]
        assert created["TargetKeyId"] == key, words
    session.execute(["alias", "delete", "--alias-name", "alias/a0", "--yes"])
    assert "alias/a0" not in {a["AliasName"] for a in unsealed_hsm.list_aliases()["Aliases"]}
    for words, message in ((["alias/x"], "KEY is required"), (["alias/x", key, "--alias-name", "alias/y"], "once")):
        with pytest.raises(UsageError, match=message):
            session.execute(["alias", "create", *words])
