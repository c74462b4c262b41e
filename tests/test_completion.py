"""Completion from the core: ranking exact > prefix > fuzzy, and what comes next in a line."""

from __future__ import annotations

import pytest

from kmstui.completion import EXACT, FUZZY, PREFIX, Candidate, complete_line, complete_words, match, rank
from kmstui.session import Session


@pytest.fixture
def session():
    s = Session()
    yield s
    s.close()


def texts(cands):
    return [c.text for c in cands]


def test_match_kinds():
    assert match("key", "key")[0] == EXACT
    assert match("ke", "key")[0] == PREFIX
    assert match("KE", "key")[0] == PREFIX  # case-insensitive
    assert match("ky", "key")[0] == FUZZY
    assert match("yk", "key") is None


def test_rank_exact_then_prefix_then_fuzzy():
    cands = [Candidate(t) for t in ("describe-key", "key-list", "key", "keys", "k-e-y", "xyz")]
    assert texts(rank("key", cands)) == ["key", "key-list", "keys", "describe-key", "k-e-y"]


def test_fuzzy_prefers_substrings_then_word_initials():
    cands = [Candidate(t) for t in ("schedule-deletion", "cancel-deletion", "disable")]
    assert texts(rank("cd", cands))[0] == "cancel-deletion"
    assert texts(rank("sd", cands))[0] == "schedule-deletion"
    assert texts(rank("dsb", cands)) == ["disable"]


def test_extra_match_keys_rank_as_prefix():
    cands = [Candidate("alias/app", keys=("app",)), Candidate("alias/zapp", keys=("zapp",))]
    assert texts(rank("app", cands)) == ["alias/app", "alias/zapp"]


def test_command_words(session):
    assert texts(complete_words(session, [], "conf"))[0] == "config"
    assert texts(complete_words(session, ["config"], "")) == ["init", "locate", "show"]
    assert texts(complete_words(session, ["config"], "lc")) == ["locate"]
    assert complete_words(session, ["nonsense"], "") == []


def test_hidden_commands_are_not_offered(session):
    from kmstui.commands.registry import Result

    session.registry.command("__secret_thing", "internal")(lambda s, a: Result())
    assert "__secret_thing" not in texts(complete_words(session, [], ""))


def test_flags_and_global_flags(session):
    got = texts(complete_words(session, ["config", "init"], "--"))
    assert got[0] == "--force" or "--force" in got
    assert "--output" in got and "--query" in got
    got = texts(complete_words(session, ["config", "init", "--force"], "--f"))
    assert "--force" not in got  # already given


def test_flag_values_from_choices(session):
    assert texts(complete_words(session, ["version", "--output"], "")) == ["json", "table", "text", "yaml"]
    assert texts(complete_words(session, ["version", "--output"], "y")) == ["yaml"]
    assert texts(complete_words(session, ["version"], "--output=j")) == ["--output=json"]
    assert texts(complete_words(session, ["completion"], "z")) == ["zsh"]


def test_positional_command_topics_for_help(session):
    assert "config" in texts(complete_words(session, ["help"], "con"))
    assert texts(complete_words(session, ["help", "config"], "i")) == ["init"]


def test_profile_values(session, kmstui_home):
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[profiles.prod]\nbackend = "aws"\n')
    s = Session()
    got = complete_words(s, ["use"], "")
    assert texts(got) == ["local", "prod"]
    assert got[1].meta == "aws"


def test_plugin_completer_is_used(session):
    from kmstui.commands.registry import Arg, Result

    session.completers["colour"] = lambda s, prefix: ["red", Candidate("green", "a colour")]
    session.registry.command("paint", "p", [Arg("--colour", complete="colour")])(lambda s, a: Result())
    got = complete_words(session, ["paint", "--colour"], "g")
    assert texts(got) == ["green"] and got[0].meta == "a colour"


def test_secret_flags_get_no_value_candidates(session):
    from kmstui.commands.registry import Arg, Result

    session.registry.command("login", "l", [Arg("--pin", secret=True, choices=("1234",))])(lambda s, a: Result())
    assert complete_words(session, ["login", "--pin"], "") == []


def test_complete_line_uses_the_last_command_and_partial_word(session):
    typed, got = complete_line(session, "version; config lo")
    assert typed == "lo" and texts(got) == ["locate"]
    typed, got = complete_line(session, "config ")
    assert typed == "" and texts(got) == ["init", "locate", "show"]


def test_file_values(session, tmp_path, monkeypatch):
    (tmp_path / "data.bin").write_bytes(b"x")
    (tmp_path / "dir").mkdir()
    monkeypatch.chdir(tmp_path)
    from kmstui.commands.registry import Arg, Result

    session.registry.command("eat", "e", [Arg("--in", complete="file")])(lambda s, a: Result())
    assert texts(complete_words(session, ["eat", "--in"], "da")) == ["data.bin"]
    assert "dir/" in texts(complete_words(session, ["eat", "--in"], ""))


# -- live keys from a real local HSM --------------------------------------------------------------------
def _make_keys(s):
    s.execute(["key", "create", "--description", "payments service", "--alias", "alias/app"])
    s.execute(["key", "create", "--description", "old stuff", "--alias", "alias/archive"])
    return {k["Aliases"][0]: k["KeyId"] for k in s.execute(["key", "list", "--describe"]).data["Keys"]}


@pytest.fixture
def hsm_session(unsealed_hsm):
    s = Session()
    yield s
    s.close()


def test_key_values_show_alias_state_and_description(hsm_session):
    from kmstui.completion import key_cache

    session = hsm_session
    ids = _make_keys(session)
    assert key_cache(session).refresh(session.profile_name) == 2
    got = complete_words(session, ["encrypt", "--key-id"], "ap")
    assert got[0].text == "alias/app"
    assert "Enabled" in got[0].meta and "payments service" in got[0].meta
    got = complete_words(session, ["key", "describe"], ids["alias/archive"][:6])
    assert got[0].text == ids["alias/archive"] and "alias/archive" in got[0].meta
    arns = complete_words(session, ["key", "describe"], "arn:")
    assert all(c.text.startswith("arn:aws:kms:") for c in arns) and len(arns) == 2


def test_key_cache_refreshes_in_the_background_without_opening_stores(hsm_session):
    from kmstui.completion import key_cache

    session = hsm_session
    cache = key_cache(session)
    assert cache.keys("local") == []  # the store is not open yet: nothing is opened to complete
    assert cache.refresh_in_background("local") is None
    _make_keys(session)  # opens the store
    thread = cache.refresh_in_background("local")
    assert thread is not None
    thread.join(10)
    assert {a for k in cache.keys("local") for a in k["Aliases"]} == {"alias/app", "alias/archive"}
    app = session.backend().describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"]
    session.execute(["alias", "create", "alias/new", app])
    cache.invalidate("local")
    cache.keys("local")  # stale: starts a refresh and answers from the old cache meanwhile
    for t in __import__("threading").enumerate():
        if t.name.startswith("kmstui-keycache"):
            t.join(10)
    assert "alias/new" in {a for k in cache.keys("local") for a in k["Aliases"]}
