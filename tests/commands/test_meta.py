"""help, plugins, config show|locate|init, completion, version, backend list, use."""

from __future__ import annotations

import json
import tomllib

from kmstui.session import Session


def test_help_lists_commands_modes_and_exit_codes(run_kmstui):
    r = run_kmstui("help")
    assert r.code == 0
    for word in ("config", "plugins", "completion", "kmstui run FILE", "252 usage", "base64"):
        assert word in r.out
    assert "__complete" not in r.out


def test_help_for_a_command_shows_arguments_and_notes(run_kmstui):
    r = run_kmstui("help", "config", "init")
    assert r.out.startswith("usage: config init [--force]")
    assert "replace an existing config file" in r.out
    assert "works without any key store" in r.out
    assert run_kmstui("help", "nope").code == 252


def test_help_marks_mutating_and_confirming_commands():
    session = Session()
    from kmstui.commands.registry import Arg, Result

    session.registry.command("thing zap", "Zap", [Arg("name")], mutates=True, confirm="name")(lambda s, a: Result())
    text = session.execute(["help", "thing", "zap"]).text
    assert "refused under --read-only" in text and "--yes skips that" in text
    assert "thing zap" in session.execute(["help", "thing"]).text


def test_plugins_lists_versions(run_kmstui):
    data = json.loads(run_kmstui("plugins", "--output", "json").out)
    core = {p["Name"]: p for p in data["Plugins"]}["core"]
    assert core["Version"] and core["Source"] == "core"


def test_plugins_respects_kmstui_plugins(run_kmstui):
    data = json.loads(run_kmstui("plugins", env={"KMSTUI_PLUGINS": "none"}).out)
    assert {p["Source"] for p in data["Plugins"]} == {"core"}


def test_config_init_writes_starter_and_never_overwrites(run_kmstui, kmstui_home):
    cfg = kmstui_home / "config" / "config.toml"
    assert run_kmstui("config", "init").code == 0
    data = tomllib.loads(cfg.read_text())
    assert data["profiles"]["local"]["backend"] == "local"
    assert cfg.read_text().startswith("# kmstui configuration")
    cfg.write_text('default_profile = "mine"\n[profiles.mine]\nbackend = "local"\n')
    again = run_kmstui("config", "init")
    assert again.code == 252 and "--force" in again.err
    assert "mine" in cfg.read_text()
    assert run_kmstui("config", "init", "--force").code == 0
    assert tomllib.loads(cfg.read_text())["default_profile"] == "local"
    assert not list(cfg.parent.glob(".config-*"))  # no temp file left


def test_config_show_masks_secrets_and_marks_the_active_profile(run_kmstui, kmstui_home):
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('default_profile = "tok"\n[profiles.tok]\nbackend = "pkcs11"\npin = "1234"\n'
                   'module = "/nope.so"\n')
    r = run_kmstui("config", "show", "--output", "json")
    assert "1234" not in r.out
    data = json.loads(r.out)
    prof = {p["Name"]: p for p in data["Profiles"]}
    assert prof["tok"]["Active"] and prof["tok"]["Settings"]["pin"] == "********"
    assert data["ActiveProfile"] == "tok" and data["Exists"]
    assert json.loads(run_kmstui("config", "show", "--profile", "local").out)["ActiveProfile"] == "local"


def test_config_show_masks_by_whole_words(run_kmstui, kmstui_home):
    """Regression: any name containing "token" or "pin" was masked (a PKCS#11 token_label showed as ********),
    while top-level settings and nested tables were shown unmasked whatever their name."""
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('default_profile = "tok"\npassword = "top-secret"\n'
                   '[profiles.tok]\nbackend = "pkcs11"\ntoken_label = "my-token"\nuser_pin = "1234"\n'
                   'pin_env = "MY_PIN"\nmodule = "/nope.so"\n[profiles.tok.extra]\nsession_token = "abc"\n')
    r = run_kmstui("config", "show", "--output", "json")
    assert "top-secret" not in r.out and "1234" not in r.out and '"abc"' not in r.out
    settings = {p["Name"]: p for p in json.loads(r.out)["Profiles"]}["tok"]["Settings"]
    assert settings["token_label"] == "my-token" and settings["pin_env"] == "MY_PIN"
    assert settings["user_pin"] == "********" and settings["extra"]["session_token"] == "********"


def test_config_locate_uses_kmstui_home(run_kmstui, kmstui_home):
    data = json.loads(run_kmstui("config", "locate").out)
    assert data["ConfigFile"] == str(kmstui_home / "config" / "config.toml")
    assert data["StateDir"] == str(kmstui_home / "state")


def test_version(run_kmstui):
    from kmstui import __version__

    assert json.loads(run_kmstui("version").out)["Version"] == __version__


def test_backend_list_probes_without_creating_anything(run_kmstui, kmstui_home):
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[profiles.tok]\nbackend = "pkcs11"\nmodule = "/no/such/lib.so"\n'
                   '[profiles.dead]\nbackend = "aws"\nendpoint_url = "http://127.0.0.1:9"\n'
                   '[profiles.odd]\nbackend = "martian"\n')
    r = run_kmstui("backend", "list", "--output", "json")
    assert r.code == 0, r.err
    rows = {b["Profile"]: b for b in json.loads(r.out)["Backends"]}
    assert rows["local"]["Reachable"] is False and "hsm init" in rows["local"]["Note"]
    assert rows["local"]["Active"] is True
    assert rows["tok"]["Reachable"] is False
    assert rows["dead"]["Reachable"] is False
    assert "no plugin provides" in rows["odd"]["Note"]
    assert not (kmstui_home / "data").exists()  # no HSM file was created to list it


def test_help_notes_base64_output_only_for_the_shared_out_flag(run_kmstui):
    assert "binary results are printed base64-encoded" in run_kmstui("help", "random").out
    # envelope encrypt without --out writes PATH.enc; data-key generate never prints the plaintext key
    for words in (("envelope", "encrypt"), ("data-key", "generate")):
        assert "binary results are printed base64-encoded" not in run_kmstui("help", *words).out


def test_help_names_a_default_once_and_knows_the_shells_own_words():
    s = Session(load_plugins=False)
    for path, words in ((("key", "schedule-deletion"), "waiting period in days"),
                        (("key", "import-parameters"), "how the material will be wrapped")):
        text = s.execute(["help", *path]).text
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if words in line)
        entry = " ".join(lines[at:at + 2])
        assert entry.count("default") == 1, entry  # was "(default 30) (default: 30)"
    set_help = s.execute(["help", "set"]).text
    assert "set editing-mode vi|emacs" in set_help and "set output" in set_help
