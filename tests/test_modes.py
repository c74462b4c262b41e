"""The scripted modes through the real entry point (`python -m kmstui`): -c, run FILE, piped stdin, one
command, and the exit codes scripts rely on. Commands here need no key store."""

from __future__ import annotations

import json
import os


def test_c_runs_commands_separated_by_semicolons(run_kmstui):
    r = run_kmstui("-c", "version --output json; config locate --output json")
    assert r.code == 0, r.err
    first, second = r.out.split("}\n{")
    assert json.loads(first + "}")["Version"]
    assert json.loads("{" + second)["ConfigFile"].endswith("config.toml")


def test_a_flag_on_one_command_of_a_script_applies_to_that_command_only(run_kmstui):
    """Each command runs with a copy of the session's options (kmstui.session.Options.replace), so the next
    command is back to the default format."""
    r = run_kmstui("-c", "config locate --output text; config locate")
    assert r.code == 0, r.err
    first, rest = r.out.split("\n", 1)
    assert first.endswith("config.toml")
    assert json.loads(rest)["ConfigFile"] == first


def test_c_stops_at_first_failure_with_its_exit_code(run_kmstui, kmstui_home):
    r = run_kmstui("-c", "frobnicate; config init")
    assert r.code == 252
    assert "unknown command 'frobnicate'" in r.err
    assert not (kmstui_home / "config" / "config.toml").exists()  # the second command never ran


def test_run_file_stops_at_failing_line_and_names_it(run_kmstui, tmp_path, kmstui_home):
    script = tmp_path / "setup.kms"
    script.write_text("# set things up\nversion --output json\n\nhelp no-such-thing   # fails\nconfig init\n")
    r = run_kmstui("run", str(script))
    assert r.code == 252
    assert f"{script}:4: error:" in r.err
    assert json.loads(r.out)["Version"]
    assert not (kmstui_home / "config" / "config.toml").exists()


def test_run_keep_going_runs_every_line_and_returns_first_failure(run_kmstui, tmp_path, kmstui_home):
    script = tmp_path / "s.kms"
    script.write_text("help no-such-thing\nconfig init\n")
    r = run_kmstui("run", str(script), "--keep-going")
    assert r.code == 252
    assert f"{script}:1: error" in r.err
    assert (kmstui_home / "config" / "config.toml").exists()


def test_run_reports_unclosed_quote_with_line_number(run_kmstui, tmp_path):
    script = tmp_path / "bad.kms"
    script.write_text("version\nhelp 'key\n")
    r = run_kmstui("run", str(script))
    assert r.code == 252
    assert f"{script}:2: error: cannot split the line" in r.err


def test_run_missing_file_is_a_usage_error(run_kmstui, tmp_path):
    r = run_kmstui("run", str(tmp_path / "nope.kms"))
    assert r.code == 252
    assert "cannot read script" in r.err


def test_scripts_that_are_not_utf8_are_refused_cleanly(kmstui_home, tmp_path):
    """Regression: bytes that are not UTF-8 piped on stdin under a strict UTF-8 locale ended in a traceback."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    proc = subprocess.run([sys.executable, "-m", "kmstui"], input=b"\xff\xfe\n", capture_output=True, env=env,
                          timeout=60)
    assert proc.returncode == 252 and b"Traceback" not in proc.stderr
    assert b"cannot read script <stdin>: it is not UTF-8 text" in proc.stderr
    script = tmp_path / "latin1.kms"
    script.write_bytes("version # caf\xe9\n".encode("latin-1"))
    proc = subprocess.run([sys.executable, "-m", "kmstui", "run", str(script)], capture_output=True, env=env,
                          timeout=60)
    assert proc.returncode == 252 and b"is not UTF-8 text" in proc.stderr


def test_commands_piped_on_stdin(run_kmstui, kmstui_home):
    r = run_kmstui(input="config init --output text\nconfig locate --output text\n")
    assert r.code == 0, r.err
    path = str(kmstui_home / "config" / "config.toml")
    assert r.out.splitlines() == [path, path]


def test_piped_stdin_names_failing_line(run_kmstui):
    r = run_kmstui(input="version\nnonsense here\nversion\n")
    assert r.code == 252
    assert "<stdin>:2: error: unknown command 'nonsense'" in r.err
    assert r.out.count("Version") == 1


def test_one_command_straight_from_the_shell(run_kmstui):
    r = run_kmstui("plugins", "--output", "json")
    assert r.code == 0, r.err
    names = {p["Name"] for p in json.loads(r.out)["Plugins"]}
    assert {"core", "builtin"} <= names


def test_global_flags_before_or_after_the_command(run_kmstui):
    before = run_kmstui("--output", "yaml", "version")
    after = run_kmstui("version", "--output", "yaml")
    assert before.code == after.code == 0
    assert before.out == after.out
    assert before.out.startswith("Version: ")


def test_leading_global_flags_apply_to_every_command_in_c(run_kmstui):
    r = run_kmstui("--output", "text", "-c", "version; version --output json")
    assert r.code == 0
    assert r.out.startswith("kmstui ")
    assert '"Version"' in r.out


def test_unknown_command_and_bad_flag_exit_252(run_kmstui):
    unknown = run_kmstui("frobnicate")
    assert unknown.code == 252
    assert unknown.errors == ["kmstui: error: unknown command 'frobnicate' (try 'help')"]
    bad_flag = run_kmstui("version", "--frob")
    assert bad_flag.code == 252
    assert "unrecognized arguments: --frob" in bad_flag.err
    bad_global = run_kmstui("--frob", "version")
    assert bad_global.code == 252
    assert "unknown option '--frob'" in bad_global.err
    bad_choice = run_kmstui("version", "--output", "xml")
    assert bad_choice.code == 252


def test_unknown_subcommand_lists_the_group(run_kmstui):
    r = run_kmstui("config", "explode")
    assert r.code == 252
    assert "'config' has: init, locate, show" in r.err


def test_debug_shows_traceback_otherwise_one_line(run_kmstui):
    quiet = run_kmstui("help", "no-such-thing")
    assert quiet.code == 252
    assert "Traceback" not in quiet.err
    assert len(quiet.errors) == 1
    loud = run_kmstui("help", "no-such-thing", "--debug")
    assert loud.code == 252
    assert "Traceback (most recent call last)" in loud.err
    assert loud.err.rstrip().splitlines()[-1].startswith("kmstui: error:")


def test_bad_config_file_exits_253(run_kmstui, kmstui_home):
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("this is [not toml\n")
    r = run_kmstui("version")
    assert r.code == 253
    assert "is not valid TOML" in r.err
    # The TOML parser is imported only when a config file exists (start-up): its error is still one line.
    assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("kmstui: error: ConfigError: ")


def test_unknown_profile_exits_253(run_kmstui):
    r = run_kmstui("use", "nowhere")
    assert r.code == 253
    assert "no profile named 'nowhere'" in r.err


def test_read_only_refuses_mutating_commands_before_touching_anything(run_kmstui, kmstui_home):
    r = run_kmstui("--read-only", "key", "create", "--description", "x")
    assert r.code == 252
    assert "read-only mode" in r.err
    assert not (kmstui_home / "data").exists()


def test_confirmation_without_tty_exits_252_and_yes_skips_it(run_kmstui):
    r = run_kmstui("key", "disable", "alias/app")
    assert r.code == 252
    assert "needs confirmation" in r.err and "--yes" in r.err
    with_yes = run_kmstui("key", "disable", "alias/app", "--yes")
    assert with_yes.code != 252  # past the confirmation: now it is about the (missing) key store
    assert "needs confirmation" not in with_yes.err


def test_version_flag_and_python_m(run_kmstui):
    r = run_kmstui("--version")
    assert r.code == 0
    assert r.out.startswith("kmstui 0.")


def test_help_flag_on_a_group_and_on_a_command(run_kmstui):
    group = run_kmstui("config", "--help")
    assert group.code == 0
    assert "config init" in group.out and "config show" in group.out
    cmd = run_kmstui("config", "init", "--help")
    assert cmd.code == 0
    assert cmd.out.startswith("usage: config init [--force]")


def test_plain_kmstui_with_empty_stdin_does_nothing(run_kmstui):
    r = run_kmstui()
    assert r.code == 0
    assert r.out == ""


def test_plain_kmstui_on_a_terminal_with_stdout_piped_is_one_line_253(kmstui_home):
    """`kmstui | less`: stdin is a terminal but stdout is not, so the TUI refuses; no traceback."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "kmstui"], stdin=follower, capture_output=True, text=True,
                              timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 253, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmstui: error: ConfigError: the TUI needs a terminal"), lines


def test_shell_with_piped_stdin_runs_the_lines_without_drawing_a_prompt(run_kmstui):
    """`kmstui shell < script` has no terminal to edit lines on: it used to draw prompt_toolkit's prompt and
    status bar into the output (and warn that the input is not a terminal); now the lines run as they do
    for `kmstui < script`."""
    r = run_kmstui("shell", input="version --output json\nnonsense here\nversion\n")
    assert r.code == 252 and "not a terminal" not in r.err
    assert json.loads(r.out)["Version"]  # nothing but the first command's output: the script stops at line 2
    assert "<stdin>:2: error: unknown command 'nonsense'" in r.err
