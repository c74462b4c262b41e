"""The REPL on a real local HSM: completion of live aliases, `refresh`, toolbar state, secrets kept out
of history, $EDITOR hand-off helper."""

from __future__ import annotations

import io
import os
import sys

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.output import DummyOutput

from kmstui.shell.app import Shell, history_path
from kmstui.shell.completer import KmstuiCompleter
from kmstui.shell.editor import edit_text


@pytest.fixture
def shell(pipe, session):
    session.stdout = io.BytesIO()
    return Shell(session, input=pipe, output=DummyOutput())


def test_refresh_then_complete_aliases_with_meta(shell, pipe):
    pipe.send_text("key create --description 'web tier' --alias alias/web --output text\nrefresh\nexit\n")
    assert shell.loop() == 0
    completer = KmstuiCompleter(shell.session)
    got = list(completer.get_completions(Document("encrypt --key-id we"), CompleteEvent()))
    assert got[0].text == "alias/web" and got[0].start_position == -2
    meta = "".join(t for _s, t in got[0].display_meta)
    assert "web tier" in meta and "Enabled" in meta


def test_toolbar_shows_unsealed_after_first_command(shell, pipe):
    pipe.send_text("key list\nexit\n")
    shell.loop()
    assert shell.status.sealed in ("unsealed", "open")


def test_plaintext_on_the_line_never_reaches_history(shell, pipe):
    pipe.send_text("key create --alias alias/h --output text\n"
                   "encrypt --key-id alias/h --plaintext top-secret-words\n"
                   "exit\n")
    shell.loop()
    assert b"CiphertextBlob" in shell.session.stdout.getvalue()
    text = history_path(shell.session).read_text()
    assert "key create --alias alias/h" in text
    assert "top-secret-words" not in text


def test_destructive_command_confirmed_by_typing_the_alias(shell, pipe):
    pipe.send_text("key create --alias alias/d --output text\nkey disable alias/d\nalias/d\n"
                   "key describe alias/d --output text --query KeyMetadata.KeyState\nexit\n")
    shell.loop()
    assert shell.session.stdout.getvalue().decode().strip().endswith("Disabled")


def test_edit_text_hands_off_to_the_editor(tmp_path, monkeypatch):
    editor = tmp_path / "ed.py"
    editor.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
                      "assert p.suffix == '.json' and (p.stat().st_mode & 0o777) == 0o600\n"
                      "p.write_text(p.read_text().replace('Deny', 'Allow'))\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    monkeypatch.setenv("VISUAL", f"{sys.executable} {editor}")
    assert edit_text('{"Effect": "Deny"}', ".json") == '{"Effect": "Allow"}'
    monkeypatch.setenv("VISUAL", "false")
    assert edit_text("x", ".json") is None  # editor failed: cancelled
    assert os.listdir(scratch) == []  # the temporary copy is gone


def test_shell_installs_the_editor_callback(shell):
    assert shell.session.edit_text is edit_text


def test_first_tab_completes_live_aliases_before_any_command(unsealed_hsm, pipe):
    """Issue 12 item 15: no command has opened the store yet; KMSTUI_PASSPHRASE (set by the fixture) opens it
    without a prompt, so the very first completion already lists the aliases."""
    from kmstui.session import Session

    key = unsealed_hsm.create_key(Description="billing")["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/billing", TargetKeyId=key)
    session = Session()
    try:
        Shell(session, input=pipe, output=DummyOutput())
        got = [c.text for c in KmstuiCompleter(session).get_completions(Document("encrypt --key-id bil"),
                                                                        CompleteEvent())]
        assert "alias/billing" in got
    finally:
        session.close()


def test_completion_never_prompts_to_open_a_sealed_store(unsealed_hsm, pipe, monkeypatch):
    from kmstui.session import Session

    unsealed_hsm.create_alias(AliasName="alias/quiet", TargetKeyId=unsealed_hsm.create_key()["KeyMetadata"]["KeyId"])
    monkeypatch.delenv("KMSTUI_PASSPHRASE")
    session = Session()
    try:
        shell = Shell(session, input=pipe, output=DummyOutput())  # its prompt would read the (empty) pipe
        got = [c.text for c in KmstuiCompleter(session).get_completions(Document("encrypt --key-id q"),
                                                                        CompleteEvent())]
        assert "alias/quiet" not in got and session.open_backends() == {}
        assert session.prompt_secret == shell.prompt_secret  # the face's own callback is back in place
    finally:
        session.close()


def test_ctrl_r_then_enter_runs_the_match(shell, pipe):
    """Enter on a reverse-search match runs it, as bash and pgcli do (not a second Enter)."""
    import threading
    import time

    pipe.send_text("key create --alias alias/once --output text\nalias list --output json\n")

    def type_later() -> None:  # as a person types: the history has loaded by the time Ctrl-R is pressed
        time.sleep(1.0)
        pipe.send_text("\x12alias li")  # Ctrl-R and the search text
        time.sleep(0.5)
        pipe.send_text("\r")
        time.sleep(0.5)
        pipe.send_text("exit\n")

    typist = threading.Thread(target=type_later, daemon=True)
    typist.start()
    assert shell.loop() == 0
    typist.join(timeout=10)
    # each `alias list --output json` names the alias twice (AliasName, AliasArn): two runs, four mentions
    assert shell.session.stdout.getvalue().count(b"alias/once") == 4
    assert "Enter runs" in "".join(text for _style, text in shell.status.toolbar())
