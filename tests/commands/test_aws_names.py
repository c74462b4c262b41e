"""The names aws CLI users type (issue 12 item 13): aws kms operation names as commands, every aws CLI option of
the operations kmstui implements (from botocore's service model), the aws CLI's list and map shorthands, and
paging as the AWS CLI v2 pages."""

from __future__ import annotations


import pytest

from kmstui.commands.awsnames import AWS_OPTIONS, OPERATIONS, REFUSED, UNIMPLEMENTED



def botocore_options() -> dict[str, tuple[str, ...]]:
    botocore = pytest.importorskip("botocore.session")
    from botocore import xform_name

    model = botocore.get_session().get_service_model("kms")
    out = {}
    for op in model.operation_names:
        shape = model.operation_model(op).input_shape
        members = shape.members.items() if shape is not None else []
        out[xform_name(op, "-")] = tuple("--" + xform_name(name, "-") + ("!" if m.type_name == "boolean" else "")
                                         for name, m in members)
    return out


def test_every_kms_operation_is_a_command_or_says_why_not():
    model = botocore_options()
    assert set(model) == set(OPERATIONS) | set(UNIMPLEMENTED), "botocore's KMS model changed: update awsnames.py"
    assert not set(OPERATIONS) & set(UNIMPLEMENTED)
    for op in OPERATIONS:
        assert AWS_OPTIONS[op] == model[op], op


def test_every_aws_option_of_an_implemented_operation_is_accepted(session):
    registry = session.registry
    for op, (path, _fixed) in OPERATIONS.items():
        command = registry.get(tuple(path.split()))
        assert command is not None, f"{op}: no command '{path}'"
        spelled = registry.parser(command)._option_string_actions
        for option in AWS_OPTIONS[op]:
            name = option.rstrip("!")
            assert name in spelled, f"{op} {name}: not accepted by 'kmstui {path}'"
            if option.endswith("!"):
                assert f"--no-{name[2:]}" in spelled or name in REFUSED, f"{op} --no-{name[2:]}"


def test_operation_names_run_their_command_with_the_aws_cli_options(run_kmstui, unsealed_hsm):
    created = run_kmstui.ok("create-key", "--description", "d", "--tags", "TagKey=team,TagValue=pay",
                 "TagKey=env,TagValue=dev")["KeyMetadata"]
    key = created["KeyId"]
    assert run_kmstui.ok("list-keys") == {"Keys": [{"KeyId": key, "KeyArn": created["Arn"]}]}
    assert run_kmstui.ok("describe-key", "--key-id", key)["KeyMetadata"]["Description"] == "d"
    tags = run_kmstui.ok("list-resource-tags", "--key-id", key)["Tags"]
    assert {t["TagKey"]: t["TagValue"] for t in tags} == {"team": "pay", "env": "dev"}
    # The aws CLI's map shorthand (KeyName1=string,KeyName2=string) and JSON both give an encryption context.
    enc = run_kmstui.ok("encrypt", "--key-id", key, "--plaintext", "hi", "--encryption-context", "app=web,tier=1")
    dec = run_kmstui.ok("decrypt", "--ciphertext-blob", enc["CiphertextBlob"], "--encryption-context",
             '{"tier": "1", "app": "web"}')
    assert dec["KeyId"] == created["Arn"]
    dk = run_kmstui.ok("generate-data-key", "--key-id", key, "--number-of-bytes", "24")
    assert len(dk["Plaintext"]) == 32  # 24 bytes, base64
    assert run_kmstui.ok("generate-data-key", "--key-id", key, "--key-spec", "AES_128")["Plaintext"]
    scheduled = run_kmstui.ok("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "8", "--yes")
    assert scheduled["PendingWindowInDays"] == 8
    assert run_kmstui.ok("cancel-key-deletion", "--key-id", key) == {"KeyId": created["Arn"]}
    run_kmstui.ok("untag-resource", "--key-id", key, "--tag-keys", "team", "env")
    assert run_kmstui.ok("list-resource-tags", "--key-id", key)["Tags"] == []
    assert run_kmstui.ok("list-key-policies", "--key-id", key)["PolicyNames"] == ["default"]


def test_grant_tokens_take_a_list_as_the_aws_cli_does(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    # --grant-tokens (list<string>): several values after one flag; an unknown token is refused by the backend,
    # which shows all of them reached it.
    bad = run_kmstui("encrypt", "--key-id", key, "--plaintext", "x", "--grant-tokens", "t1", "t2")
    assert bad.code == 254 and "InvalidGrantTokenException" in bad.err


def test_options_kmstui_does_not_implement_are_refused_with_the_reason(run_kmstui, unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    dry = run_kmstui("encrypt", "--key-id", key, "--plaintext", "x", "--dry-run")
    assert dry.code == 252 and "DryRun is not supported" in dry.err and "unrecognized" not in dry.err
    multi = run_kmstui("create-key", "--multi-region")
    assert multi.code == 252 and "multi-Region" in multi.err
    assert unsealed_hsm.list_keys()["Keys"] == [{"KeyId": key, "KeyArn": unsealed_hsm.key_arn(key)}]


def test_unimplemented_operations_say_so_and_help_names_the_command(run_kmstui):
    store = run_kmstui("create-custom-key-store", "--custom-key-store-name", "x")
    assert store.code == 252 and "not available in kmstui" in store.err and "custom key stores" in store.err
    helped = run_kmstui("help", "schedule-key-deletion")
    assert helped.code == 0 and "'kmstui key schedule-deletion'" in helped.out and "--pending-window-in-days" in helped.out
    assert "--pending-window-in-days" in run_kmstui("schedule-key-deletion", "--help").out


def test_paging_as_the_aws_cli_v2(run_kmstui, unsealed_hsm):
    # aws CLI v2 --max-items: "If the total number of items available is more than the value specified, a
    # NextToken is provided in the command's output. To resume pagination, provide the NextToken value in the
    # starting-token argument of a subsequent command." --page-size changes only the size of each call.
    ids = [unsealed_hsm.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
    for name in ("a", "b", "c", "d", "e"):
        unsealed_hsm.create_alias(AliasName=f"alias/{name}", TargetKeyId=ids[0])
    seen, token = [], None
    for _ in range(5):
        page = run_kmstui.ok("key", "list", "--max-items", "2", "--page-size", "3",
                  *(["--starting-token", token] if token else []))
        assert len(page["Keys"]) <= 2 and "Truncated" not in page and "NextMarker" not in page
        seen += [k["KeyId"] for k in page["Keys"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert seen == ids
    aliases = run_kmstui.ok("list-aliases", "--page-size", "2")["Aliases"]
    assert [a["AliasName"] for a in aliases] == [f"alias/{n}" for n in "abcde"]
    first = run_kmstui.ok("alias", "list", "--max-items", "4")
    rest = run_kmstui.ok("alias", "list", "--starting-token", first["NextToken"])
    assert [a["AliasName"] for a in first["Aliases"] + rest["Aliases"]] == [f"alias/{n}" for n in "abcde"]
    one = run_kmstui.ok("list-aliases", "--limit", "2")
    assert one["Truncated"] is True and len(one["Aliases"]) == 2
    mixed = run_kmstui("key", "list", "--max-items", "1", "--no-paginate")
    assert mixed.code == 252 and "--max-items" in mixed.err
    bad = run_kmstui("key", "list", "--starting-token", "not-a-token")
    assert bad.code == 252 and "--starting-token" in bad.err


def test_envelope_decrypt_takes_context_like_every_command(run_kmstui, unsealed_hsm, tmp_path):
    unsealed_hsm.create_alias(AliasName="alias/env", TargetKeyId=unsealed_hsm.create_key()["KeyMetadata"]["KeyId"])
    plain = tmp_path / "a.txt"
    plain.write_text("data")
    assert run_kmstui("envelope", "encrypt", str(plain), "--key-id", "alias/env", "--context", "dept=fin").code == 0
    out = tmp_path / "out.txt"
    wrong = run_kmstui("envelope", "decrypt", str(plain) + ".enc", "--context", "dept=ops", "--out", str(out))
    assert wrong.code != 0 and not out.exists()
    right = run_kmstui("envelope", "decrypt", str(plain) + ".enc", "--context", "dept=fin", "--out", str(out))
    assert right.code == 0, right.err
    assert out.read_text() == "data"
