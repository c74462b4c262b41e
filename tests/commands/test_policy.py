"""`policy get|put`: through `python -m kmstui`, and in-process for the $EDITOR hand-off (which needs the
`edit_text` callback a terminal face installs)."""

from __future__ import annotations

import json

import pytest

from kmstui.errors import UsageError



@pytest.fixture
def key(unsealed_hsm) -> str:
    key_id = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/pol", TargetKeyId=key_id)
    return key_id


def stored(backend, key: str) -> dict:
    return json.loads(backend.get_key_policy(KeyId=key, PolicyName="default")["Policy"])


def policy_with(sid: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"}]}


def test_get_prints_the_default_policy_and_saves_it(run_kmstui, key, tmp_path):
    got = run_kmstui.ok("policy", "get", "--key-id", "alias/pol")
    assert got["PolicyName"] == "default"
    doc = json.loads(got["Policy"])
    assert doc["Statement"][0]["Principal"]["AWS"] == "arn:aws:iam::111122223333:root"
    text = run_kmstui("policy", "get", "--key-id", key, "--output", "text")
    assert json.loads(text.out) == doc and text.out.startswith("{\n")
    out = tmp_path / "p.json"
    assert run_kmstui("policy", "get", "--key-id", key, "--out", str(out)).code == 0
    assert json.loads(out.read_text()) == doc


def test_put_validates_first_and_confirms(run_kmstui, unsealed_hsm, key, tmp_path):
    before = stored(unsealed_hsm, key)
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow",}\n  ]\n}\n')
    result = run_kmstui("policy", "put", "--key-id", key, "--file", str(broken), "--yes")
    assert result.code == 252 and "invalid JSON" in result.err and "line 4" in result.err
    no_principal = tmp_path / "np.json"
    no_principal.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
    result = run_kmstui("policy", "put", "--key-id", key, "--file", str(no_principal), "--yes")
    assert result.code == 252 and "Principal" in result.err
    assert stored(unsealed_hsm, key) == before

    good = tmp_path / "good.json"
    good.write_text(json.dumps(policy_with("New")))
    unconfirmed = run_kmstui("policy", "put", "--key-id", "alias/pol", "--file", str(good))
    assert unconfirmed.code == 252 and "--yes" in unconfirmed.err
    assert stored(unsealed_hsm, key) == before
    put = run_kmstui("policy", "put", "--key-id", "alias/pol", "--file", str(good), "--yes")
    assert (put.code, put.out) == (0, "") and "replaced the key policy" in put.err  # as put-key-policy: no output
    assert stored(unsealed_hsm, key)["Statement"][0]["Sid"] == "New"
    read_only = run_kmstui("policy", "put", "--key-id", key, "--file", str(good), "--yes", "--read-only")
    assert read_only.code == 252


def test_edit_needs_a_terminal(run_kmstui, key):
    result = run_kmstui("policy", "put", "--key-id", key, "--edit", "--yes")
    assert result.code == 252 and "needs a terminal" in result.err


def test_edit_hands_the_policy_to_the_editor(session, unsealed_hsm, key):
    seen = {}

    def edit_text(initial: str, suffix: str) -> str:
        seen["initial"], seen["suffix"] = initial, suffix
        return json.dumps(policy_with("Edited"), indent=2)

    before = stored(unsealed_hsm, key)
    session.edit_text = edit_text
    session.confirm = lambda _prompt, expected: expected == "alias/pol"
    result = session.execute(["policy", "put", "--key-id", "alias/pol", "--edit"])
    assert seen["suffix"] == ".json" and json.loads(seen["initial"]) == before
    assert stored(unsealed_hsm, key)["Statement"][0]["Sid"] == "Edited"
    assert "replaced" in result.message

    session.edit_text = lambda initial, suffix: initial  # closed without changes
    assert "unchanged" in session.execute(["policy", "put", "--key-id", key, "--edit", "--yes"]).message
    session.edit_text = lambda initial, suffix: None  # no editor, or the file was emptied
    with pytest.raises(UsageError, match="nothing was changed"):
        session.execute(["policy", "put", "--key-id", key, "--edit", "--yes"])
    assert stored(unsealed_hsm, key)["Statement"][0]["Sid"] == "Edited"


def test_a_failed_edit_is_kept_not_lost(session, unsealed_hsm, key):
    session.edit_text = lambda initial, suffix: initial.replace('"Effect": "Allow"', '"Effect": "Alow"')
    before = stored(unsealed_hsm, key)
    with pytest.raises(UsageError) as err:
        session.execute(["policy", "put", "--key-id", key, "--edit", "--yes"])
    assert "Effect" in str(err.value) and "saved in" in str(err.value)
    saved = str(err.value).split("saved in ")[1].split(" ")[0]
    assert '"Alow"' in open(saved).read()
    assert stored(unsealed_hsm, key) == before


def test_bypass_lockout_check_asks_again(session, unsealed_hsm, key, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(policy_with("Bypass")))
    asked = []
    session.confirm = lambda prompt, expected: asked.append(expected) or expected != "bypass"
    with pytest.raises(UsageError):
        session.execute(["policy", "put", "--key-id", key, "--file", str(good), "--bypass-lockout-check"])
    assert asked == [key, "bypass"] and stored(unsealed_hsm, key)["Statement"][0].get("Sid") != "Bypass"
    session.execute(["policy", "put", "--key-id", key, "--file", str(good), "--bypass-lockout-check", "--yes"])
    assert stored(unsealed_hsm, key)["Statement"][0]["Sid"] == "Bypass"


def test_key_may_be_given_as_a_word_like_the_key_commands(session, key):
    assert session.execute(["policy", "get", "alias/pol"]).data["PolicyName"] == "default"
    with pytest.raises(UsageError, match="give KEY once"):
        session.execute(["policy", "get", "alias/pol", "--key-id", "alias/pol"])


def test_a_bypassing_put_that_locks_the_caller_out_reports_success(run_kmstui, unsealed_hsm, key, tmp_path):
    """Issue 12 item 2. PutKeyPolicy returns nothing ("This operation does not return any data"), so neither
    does `policy put`: a policy that no longer lets the caller read it must not turn the successful change
    into AccessDeniedException, and later changes show their new state only when it can still be read."""
    lockout = tmp_path / "lockout.json"
    lockout.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": ["kms:PutKeyPolicy", "kms:EnableKey", "kms:DisableKey"], "Resource": "*"}]}))
    put = run_kmstui("policy", "put", key, "--file", str(lockout), "--bypass-lockout-check", "--yes")
    assert (put.code, put.out) == (0, "") and "replaced the key policy" in put.err, put.err
    assert json.loads(unsealed_hsm.key_policy(key))["Statement"][0]["Action"][0] == "kms:PutKeyPolicy"
    denied = run_kmstui("policy", "get", key)
    assert denied.code == 254 and "AccessDeniedException" in denied.err  # the lockout is real
    enabled = run_kmstui("key", "enable", key, "--output", "json")  # as aws: nothing printed, nothing read back
    assert (enabled.code, enabled.out) == (0, "") and "enabled" in enabled.err and "Denied" not in enabled.err
    in_a_table = run_kmstui("key", "disable", key, "--yes", "--output", "table")
    assert (in_a_table.code, in_a_table.out) == (0, "")
    assert "could not be read back: AccessDeniedException" in in_a_table.err
