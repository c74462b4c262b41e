"""Connecting to a token: module, SoftHSM config, token label and PIN problems each give one ConfigError line
that says what to fix, and never the PIN; the PIN comes from the environment, the OS keyring or a prompt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import keyring
import keyring.backend
import keyring.errors
import pytest

from kmstui.backends.pkcs11 import open_pkcs11_backend
from kmstui.config import Config, Paths, Profile
from kmstui.errors import EXIT_CONFIG, ConfigError
from kmstui.session import BackendContext


class FailKeyring(keyring.backend.KeyringBackend):
    """What this container's keyring does: every call raises NoKeyringError."""

    priority = 1

    def get_password(self, service, username):
        raise keyring.errors.NoKeyringError("no backend")

    def set_password(self, service, username, password):
        raise keyring.errors.NoKeyringError("no backend")

    def delete_password(self, service, username):
        raise keyring.errors.NoKeyringError("no backend")


@pytest.fixture(autouse=True)
def isolated_keyring(memory_keyring):
    return memory_keyring


def open_token(softhsm_token, prompts=None, answer=None, **settings):
    settings.setdefault("token_label", softhsm_token.label)
    asked = prompts if prompts is not None else []

    def prompt(text):
        asked.append(text)
        return answer

    ctx = BackendContext(Profile("hsm", "pkcs11", settings), Config.load().paths, prompt, interactive=False)
    return open_pkcs11_backend(ctx)


def config_error(softhsm_token, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        open_token(softhsm_token, **kwargs).close()
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == EXIT_CONFIG
    return message


def test_pin_from_environment(softhsm_token, monkeypatch):
    monkeypatch.setenv("KMSTUI_PKCS11_PIN", softhsm_token.pin)
    prompts: list[str] = []
    backend = open_token(softhsm_token, prompts)
    try:
        assert backend.info().kind == "pkcs11" and softhsm_token.label in backend.info().location
        assert prompts == []
    finally:
        backend.close()


def test_wrong_pin_is_one_line_without_the_pin(softhsm_token, monkeypatch):
    monkeypatch.setenv("KMSTUI_PKCS11_PIN", "98765")
    message = config_error(softhsm_token)
    assert "wrong PIN" in message and softhsm_token.label in message and "KMSTUI_PKCS11_PIN" in message
    assert "98765" not in message


def test_pin_from_keyring(softhsm_token, monkeypatch, isolated_keyring):
    monkeypatch.delenv("KMSTUI_PKCS11_PIN", raising=False)
    isolated_keyring.set_password("kmstui-pkcs11", softhsm_token.label, softhsm_token.pin)
    prompts: list[str] = []
    open_token(softhsm_token, prompts).close()
    assert prompts == []


def test_no_keyring_falls_back_to_the_prompt(softhsm_token, monkeypatch):
    monkeypatch.delenv("KMSTUI_PKCS11_PIN", raising=False)
    keyring.set_keyring(FailKeyring())
    prompts: list[str] = []
    open_token(softhsm_token, prompts, answer=softhsm_token.pin).close()
    assert prompts == [f"PIN for token {softhsm_token.label}: "]


def test_no_pin_anywhere(softhsm_token, monkeypatch):
    monkeypatch.delenv("KMSTUI_PKCS11_PIN", raising=False)
    message = config_error(softhsm_token, answer=None)
    assert "needs a PIN" in message and "KMSTUI_PKCS11_PIN" in message


def test_keyring_can_be_turned_off(softhsm_token, monkeypatch, isolated_keyring):
    monkeypatch.delenv("KMSTUI_PKCS11_PIN", raising=False)
    isolated_keyring.set_password("kmstui-pkcs11", softhsm_token.label, softhsm_token.pin)
    assert "needs a PIN" in config_error(softhsm_token, keyring=False)


def test_missing_module(softhsm_token, tmp_path):
    message = config_error(softhsm_token, module=str(tmp_path / "libnothing.so"))
    assert "libnothing.so not found" in message


def test_missing_token(softhsm_token, monkeypatch):
    monkeypatch.setenv("KMSTUI_PKCS11_PIN", softhsm_token.pin)
    message = config_error(softhsm_token, token_label="no-such-token")
    assert "no token labelled 'no-such-token'" in message and softhsm_token.label in message


def test_missing_token_label(softhsm_token):
    with pytest.raises(ConfigError, match="needs token_label"):
        open_pkcs11_backend(BackendContext(Profile("hsm", "pkcs11", {}), Paths.discover(), lambda _p: None, False))


def test_missing_softhsm_config(softhsm_token, monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTHSM2_CONF", str(tmp_path / "absent.conf"))
    message = config_error(softhsm_token)
    assert "SOFTHSM2_CONF" in message and "absent.conf" in message


def test_missing_softhsm_token_directory(softhsm_token, monkeypatch, tmp_path):
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path}/gone\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    message = config_error(softhsm_token)
    assert f"{tmp_path}/gone" in message and "does not exist" in message


def test_token_initialised_after_the_module_loaded_is_found(softhsm_token, monkeypatch):
    """A token created while kmstui runs (e.g. by softhsm2-util) is found once no session is open."""
    monkeypatch.setenv("KMSTUI_PKCS11_PIN", softhsm_token.pin)
    open_token(softhsm_token).close()  # the module is loaded now
    softhsm_token.init_token("kmstui-late")
    backend = open_token(softhsm_token, token_label="kmstui-late")
    try:
        key = backend.create_key()["KeyMetadata"]
        assert backend.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    finally:
        backend.close()


# -- file permissions: SoftHSM hides what it cannot read; kmstui says which file to fix -----------------------
def _private_token(softhsm_token, tmp_path):
    """A SoftHSM config and token folder of this test's own, holding a token with the profile's label."""
    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(f"directories.tokendir = {tmp_path}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", softhsm_token.label, "--so-pin",
                    softhsm_token.so_pin, "--pin", softhsm_token.pin], env={**os.environ, "SOFTHSM2_CONF": str(conf)},
                   check=True, capture_output=True)
    return conf


def _cli_without_root_override(profile, conf):
    """`kmstui key list` as a user to whom file permissions apply (root drops its override capabilities)."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv is missing: file permissions cannot be tested")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]
    proc = subprocess.run([*prefix, sys.executable, "-m", "kmstui", "--profile", profile, "key", "list"], capture_output=True, text=True,
                          env={**os.environ, "SOFTHSM2_CONF": str(conf)}, timeout=60)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == EXIT_CONFIG and len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize("what", ["config", "token directory", "token folder"])
def test_unreadable_softhsm_files_are_named(pkcs11_profile, softhsm_token, tmp_path, what):
    conf = _private_token(softhsm_token, tmp_path)
    target = {"config": conf, "token directory": tmp_path / "tokens",
              "token folder": next((tmp_path / "tokens").iterdir())}[what]
    target.chmod(0)
    try:
        line = _cli_without_root_override(pkcs11_profile, conf)
    finally:
        target.chmod(0o700)
    assert str(target) in line and "permissions" in line and softhsm_token.pin not in line


def test_missing_token_lists_only_initialised_tokens(softhsm_token, monkeypatch):
    monkeypatch.setenv("KMSTUI_PKCS11_PIN", softhsm_token.pin)
    message = config_error(softhsm_token, token_label="no-such-token")
    assert "tokens found: " in message and "found: ," not in message and ", )" not in message
