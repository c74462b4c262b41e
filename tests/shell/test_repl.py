"""The REPL through prompt_toolkit's pipe input: lines run as commands, history never keeps secrets,
Ctrl-C cancels the line, `set editing-mode`, `use`, exit codes."""

from __future__ import annotations

import io

import pytest
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.output import DummyOutput

from kmstui.session import Session
from kmstui.shell.app import Shell, history_path


@pytest.fixture
def shell(pipe, capsys):
    session = Session()
    session.stdout = io.BytesIO()
    sh = Shell(session, input=pipe, output=DummyOutput())
    yield sh
    session.close()


def run(shell, pipe, text: str) -> int:
    pipe.send_text(text)
    return shell.loop()


def test_lines_run_as_commands_and_exit(shell, pipe):
    code = run(shell, pipe, "version --output json; config locate --output text\nexit 3\n")
    assert code == 3
    out = shell.session.stdout.getvalue().decode()
    assert '"Version"' in out
    assert out.rstrip().endswith("config.toml")


def test_ctrl_d_leaves_with_zero(shell, pipe):
    pipe.send_text("version\n")
    pipe.send_bytes(b"\x04")
    assert shell.loop() == 0


def test_ctrl_c_cancels_the_line_not_the_shell(shell, pipe):
    code = run(shell, pipe, "config init\x03version --output text\nquit\n")
    assert code == 0
    assert shell.session.stdout.getvalue().decode() == "kmstui 0.1.0\n"
    assert not shell.session.config.paths.config_file.exists()


def test_errors_are_one_line_and_the_shell_goes_on(shell, pipe, capsys):
    code = run(shell, pipe, "frobnicate\nhelp 'unclosed\nversion --output text\nexit\n")
    assert code == 0
    err = capsys.readouterr().err
    assert "kmstui: error: unknown command 'frobnicate'" in err
    assert "cannot split the line" in err
    assert "Traceback" not in err
    assert shell.session.stdout.getvalue().decode() == "kmstui 0.1.0\n"


def test_history_is_persistent_and_never_keeps_secrets(shell, pipe):
    secret = "hunter2-correct-horse"
    run(shell, pipe, "version --output text\n"
                     f"encrypt --key-id alias/app --plaintext {secret}\n"
                     f"hsm unseal --passphrase={secret}\n"
                     f"config show --query 'x' # password={secret}\n"
                     "random --number-of-bytes 32 --out - U2VjcmV0S2V5TWF0ZXJpYWxCYXNlNjRBYmNkZWYxMjM0NTY3ODk=\n"
                     "exit\n")
    path = history_path(shell.session)
    text = path.read_text()
    assert "version --output text" in text and "exit" in text
    assert secret not in text
    assert "U2VjcmV0" not in text
    assert path.stat().st_mode & 0o777 == 0o600
    assert all(secret not in line for line in shell.history.get_strings())  # not even in memory


def test_history_is_loaded_by_the_next_shell(pipe, shell):
    run(shell, pipe, "version --output text\nexit\n")
    again = Shell(shell.session, input=pipe, output=DummyOutput())
    assert list(again.history.load_history_strings())[:2] == ["exit", "version --output text"]


def test_set_editing_mode_and_output(shell, pipe, capsys):
    run(shell, pipe, "set editing-mode vi\nset output text\nversion\nset nonsense\nexit\n")
    assert shell.prompt.editing_mode == EditingMode.VI
    assert shell.status.editing_mode == "vi"
    assert shell.session.stdout.getvalue().decode() == "kmstui 0.1.0\n"
    assert "usage: set editing-mode" in capsys.readouterr().err


def test_editing_mode_from_config(pipe, kmstui_home):
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('editing_mode = "vi"\n')
    session = Session()
    sh = Shell(session, input=pipe, output=DummyOutput())
    assert sh.prompt.editing_mode == EditingMode.VI


def test_use_switches_profile_for_the_rest_of_the_session(pipe, kmstui_home, capsys):
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[profiles.other]\nbackend = "aws"\nregion = "eu-west-1"\n')
    session = Session()
    session.stdout = io.BytesIO()
    sh = Shell(session, input=pipe, output=DummyOutput())
    run(sh, pipe, "use other\nconfig show --output json --query ActiveProfile\nuse nowhere\nexit\n")
    assert session.profile_name == "other"
    assert sh.status.profile == "other" and sh.status.kind == "aws"
    assert session.stdout.getvalue().decode().strip() == '"other"'
    assert "no profile named 'nowhere'" in capsys.readouterr().err


def test_typed_confirmation_in_the_shell(shell, pipe, capsys):
    # The confirmation prompt reads the next line; a wrong answer changes nothing.
    run(shell, pipe, "key disable alias/app\nnot-it\nexit\n")
    assert "not confirmed; nothing was changed" in capsys.readouterr().err


def test_toolbar_shows_profile_backend_store_and_read_only(shell):
    shell.session.options.read_only = True
    text = "".join(t for _style, t in shell.status.toolbar())
    assert "profile local" in text and "backend local" in text and "not opened" in text
    assert "READ-ONLY" in text
    assert "(ro)" in "".join(t for _s, t in shell.status.prompt())


def test_history_keeps_no_secret_bearing_line_of_any_kind(shell, pipe):
    """Issue 11 item 11: `mac generate --message` text and `#` comments were kept in the history file."""
    lines = ["mac generate --key-id alias/mac --message wire-5000-to-acct-12",
             "# the prod passphrase is hunter22-horse",
             "version --output text  # hunter22-horse",
             "sign --key-id alias/s --message=release-notes-hunter22",
             "decrypt --in f --grant-token hunter22-horse-token",
             "mac generat --message hunter22-typo"]
    run(shell, pipe, "\n".join(lines) + "\nversion --output json\nexit\n")
    text = history_path(shell.session).read_text()
    assert "hunter22" not in text and "wire-5000" not in text
    assert "version --output json" in text
    assert not any("hunter22" in line or "wire-5000" in line for line in shell.history.get_strings())


@pytest.mark.parametrize("answer, created", [("y\n", True), ("\n", False), ("no\n", False)])
def test_first_run_asks_before_creating_the_hsm(shell, pipe, kmstui_home, monkeypatch, capsys, answer, created):
    """Issue 12 item 3: the REPL's first-run flow asks, explicitly, before `hsm init`; only a yes creates."""
    monkeypatch.setenv("KMSTUI_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("KMSTUI_KDF_COST", "8")
    pipe.send_text(answer)
    shell.offer_new_hsm()
    path = kmstui_home / "data" / "hsm.kmstui"
    assert path.exists() is created
    if not created:
        assert "hsm init" in capsys.readouterr().err
    pipe.send_text("exit\n")
    assert shell.loop() == 0
