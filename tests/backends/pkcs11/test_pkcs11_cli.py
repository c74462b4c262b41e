"""The pkcs11 backend through the real `kmstui` entry point: a profile selects the token, and a token problem
is one line on stderr with exit code 253."""

from __future__ import annotations

import json

from kmstui.errors import EXIT_CONFIG


def test_encrypt_decrypt_through_the_cli(pkcs11_profile, softhsm_token, run_kmstui, tmp_path):
    created = run_kmstui("--profile", pkcs11_profile, "key", "create", "--alias", "alias/cli-app",
                         "--output", "json", env=softhsm_token.env)
    assert created.code == 0, created.err
    key_id = json.loads(created.out)["KeyMetadata"]["KeyId"]
    blob = tmp_path / "secret.kms"
    enc = run_kmstui("--profile", pkcs11_profile, "encrypt", "--key-id", "alias/cli-app", "--plaintext", "hello",
                     "--context", "app=web", "--out", str(blob), env=softhsm_token.env)
    assert enc.code == 0, enc.err
    dec = run_kmstui("--profile", pkcs11_profile, "decrypt", "--in", str(blob), "--context", "app=web",
                     "--out", "-", env=softhsm_token.env)
    assert dec.code == 0, dec.err
    assert dec.out == "hello"
    listed = run_kmstui("--profile", pkcs11_profile, "key", "list", "--output", "json", env=softhsm_token.env)
    assert key_id in listed.out


def test_wrong_pin_exit_code_and_one_line(pkcs11_profile, softhsm_token, run_kmstui):
    result = run_kmstui("--profile", pkcs11_profile, "key", "list", env={**softhsm_token.env,
                                                                         "KMSTUI_PKCS11_PIN": "000000"})
    assert result.code == EXIT_CONFIG
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "wrong PIN" in lines[0] and "000000" not in result.err


def test_backend_list_checks_the_token_label_without_a_pin(pkcs11_profile, softhsm_token, run_kmstui):
    import os
    from pathlib import Path

    config = Path(os.environ["KMSTUI_HOME"]) / "config" / "config.toml"
    config.write_text(config.read_text() + '\n[profiles.gone]\nbackend = "pkcs11"\ntoken_label = "no-such-token"\n')
    result = run_kmstui("backend", "list", "--output", "json", env={**softhsm_token.env, "KMSTUI_PKCS11_PIN": ""})
    assert result.code == 0, result.err
    rows = {row["Profile"]: row for row in json.loads(result.out)["Backends"]}
    assert rows[pkcs11_profile]["Reachable"] is True
    assert rows["gone"]["Reachable"] is False and "no token labelled 'no-such-token'" in rows["gone"]["Note"]
