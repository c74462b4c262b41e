"""argv -> mode: output defaults on a terminal vs a pipe, colour rules, shell completion scripts, and which
face `kmstui` alone opens."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from kmstui import cli

KMSTUI = [sys.executable, "-m", "kmstui"]


def run_on_tty(*args: str, env: dict) -> str:
    """Run kmstui with stdout on a pseudo-terminal (stdin stays a pipe); return what the terminal got."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*KMSTUI, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                            env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read()
    return b"".join(chunks).decode()


def test_table_on_a_terminal_json_on_a_pipe(run_kmstui, monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    tty_out = run_on_tty("plugins", env=env)
    assert "Name" in tty_out and "Version" in tty_out and "{" not in tty_out
    assert "\x1b[1m" in tty_out  # bold table header on a colour terminal
    piped = run_kmstui("plugins")
    assert json.loads(piped.out)["Plugins"]
    assert "\x1b" not in piped.out


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color"])
def test_no_color_on_a_terminal(how):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    args = ["plugins"]
    if how == "NO_COLOR":
        env["NO_COLOR"] = "1"
    else:
        args.append("--no-color")
    out = run_on_tty(*args, env=env)
    assert "Name" in out
    assert "\x1b" not in out


def test_output_from_environment_and_config(run_kmstui, kmstui_home):
    assert run_kmstui("version", env={"KMSTUI_OUTPUT": "yaml"}).out.startswith("Version:")
    cfg = kmstui_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('output = "text"\n')
    assert run_kmstui("version").out.startswith("kmstui ")
    assert run_kmstui("version", env={"KMSTUI_OUTPUT": "json"}).out.startswith("{")  # env beats config
    assert run_kmstui("version", "--output", "yaml", env={"KMSTUI_OUTPUT": "json"}).out.startswith("Version:")
    bad = run_kmstui("version", env={"KMSTUI_OUTPUT": "xml"})
    assert bad.code == 252 and "KMSTUI_OUTPUT" in bad.err


def test_hidden_complete_command(run_kmstui):
    r = run_kmstui("__complete", "--", "con")
    assert r.out.splitlines()[0].split("\t")[0] == "config"
    r = run_kmstui("__complete", "--", "config", "")
    assert [line.split("\t")[0] for line in r.out.splitlines()] == ["init", "locate", "show"]
    r = run_kmstui("__complete", "--", "version", "--out")
    assert r.out.splitlines()[0].startswith("--output\t")
    r = run_kmstui("__complete", "--", "version", "--output", "")
    assert [line.split("\t")[0] for line in r.out.splitlines()] == ["json", "table", "text", "yaml"]


def _bash_complete(tmp_path, script: str, line: str) -> tuple[list[str], str]:
    """COMPREPLY for `line` (cursor at its end) from the script, run by a real bash."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "kmstui"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m kmstui \"$@\"\n")
    shim.chmod(0o755)
    (tmp_path / "c.bash").write_text(script)
    probe = ('source c.bash; COMP_LINE="$LINE"; COMP_POINT=${#LINE}; read -ra COMP_WORDS <<< "$LINE"; '
             'COMP_CWORD=${#COMP_WORDS[@]}; _kmstui_complete; printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "LINE": line}
    out = subprocess.run(["bash", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.split(), out.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_script_completes_through_kmstui(run_kmstui, tmp_path):
    script = run_kmstui("completion", "bash").out
    assert "complete -o default -o nospace -F _kmstui_complete kmstui" in script
    got, err = _bash_complete(tmp_path, script, "kmstui config lo")
    assert got == ["locate"], err
    # Regressions: fuzzy matches beside prefix ones made readline's common prefix empty, so Tab did nothing
    # ("key cr" also matched "describe"); and bash completes only the part after '=' in --flag=value.
    assert _bash_complete(tmp_path, script, "kmstui key cr")[0] == ["create"]
    assert _bash_complete(tmp_path, script, "kmstui key create --key-spec=RSA_3")[0] == ["RSA_3072"]
    assert _bash_complete(tmp_path, script, "kmstui --output j")[0] == ["json"]


def test_hidden_complete_handles_leading_global_flags(run_kmstui):
    """Regression: `kmstui --output <Tab>` printed nothing (the flag without its value failed to parse)."""
    r = run_kmstui("__complete", "--", "--output", "")
    assert [line.split("\t")[0] for line in r.out.splitlines()] == ["json", "table", "text", "yaml"]
    r = run_kmstui("__complete", "--", "--ver")
    assert r.out.splitlines()[0].startswith("--version\t")
    r = run_kmstui("__complete", "--", "--output", "json", "con")
    assert r.out.splitlines()[0].startswith("config\t")


def test_zsh_and_fish_scripts_call_back_into_kmstui(run_kmstui):
    zsh = run_kmstui("completion", "zsh").out
    assert zsh.startswith("#compdef kmstui") and "kmstui __complete --" in zsh
    fish = run_kmstui("completion", "fish").out
    assert "complete -c kmstui" in fish and "kmstui __complete --" in fish
    assert run_kmstui("completion", "tcsh").code == 252


# -- which face `kmstui` alone opens (in-process: a terminal cannot be faked for both faces here) --------
def _fake_tty(monkeypatch):
    class TTY:
        def isatty(self):
            return True

    monkeypatch.setattr(cli, "_tty", lambda stream: True)
    return TTY()


def test_plain_kmstui_on_a_tty_opens_the_tui_when_it_imports(monkeypatch):
    _fake_tty(monkeypatch)
    seen = []
    fake = types.ModuleType("kmstui.tui.app")
    fake.run_tui = lambda session: seen.append(session) or 0
    monkeypatch.setitem(sys.modules, "kmstui.tui.app", fake)
    assert cli.main([]) == 0
    assert len(seen) == 1 and seen[0].profile_name == "local"


def test_plain_kmstui_on_a_tty_falls_back_to_the_repl(monkeypatch):
    _fake_tty(monkeypatch)
    monkeypatch.setitem(sys.modules, "kmstui.tui.app", None)  # as if the TUI were not installed
    import kmstui.shell.app as shell_app

    seen = []
    monkeypatch.setattr(shell_app, "run_repl", lambda session: seen.append(session) or 7)
    assert cli.main([]) == 7
    assert len(seen) == 1


def test_dash_dash_ends_leading_flags():
    parsed = cli.parse_argv(["--output", "json", "--", "version"])
    assert parsed.options == {"output": "json"} and parsed.rest == ["version"]
    parsed = cli.parse_argv(["run", "f.kms", "--keep-going", "--as", "arn:aws:iam::1:user/a"])
    assert parsed.rest == ["run", "f.kms"] and parsed.keep_going and parsed.options == {"as_": "arn:aws:iam::1:user/a"}


def test_console_script_entry_point_is_the_launcher_then_cli_main():
    """The script first offers the command to the warm launcher (tests/test_warm.py), then runs cli.console."""
    import tomllib

    import kmstui.launch

    data = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert data["project"]["scripts"]["kmstui"] == "kmstui.launch:console"
    assert "from kmstui.cli import console as in_process" in Path(kmstui.launch.__file__).read_text()


# -- the cyclic collector around a command (the console script owns the process) --------------------------
def test_console_script_keeps_the_collector_out_of_start_up_but_on_for_the_work(monkeypatch, tmp_path):
    """Start-up objects are frozen and the collector is on while the command (a shell, a server, a
    10,000-file envelope run) works, so what the work leaves in cycles is collected as usual."""
    import gc

    from kmstui.runner import Runner

    seen = {}

    def run(self, words):
        seen["enabled"], seen["frozen"] = gc.isenabled(), gc.get_freeze_count()
        seen["young"] = gc.get_threshold()[0]
        gc.collect()  # the work may collect as it likes
        return 0

    monkeypatch.setattr(Runner, "run", run)
    monkeypatch.setattr(sys, "argv", ["kmstui", "key", "list"])
    monkeypatch.setenv("KMSTUI_HOME", str(tmp_path))
    gc.unfreeze()  # an in-process server test may have frozen objects before
    assert gc.isenabled()
    before = gc.get_threshold()
    try:
        assert cli.main() == 0
        assert seen["enabled"] and seen["frozen"] > 0
        assert gc.isenabled()
        # a one-shot command collects its young generation in fewer, larger passes; then the defaults return
        assert seen["young"] == 100_000 > before[0]
        assert gc.get_threshold() == before
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.parametrize("argv, method", [(["-c", "key list"], "run_lines"), (["serve", "--port", "0"], "run")],
                         ids=["script", "server"])
def test_scripts_and_long_running_faces_keep_the_default_young_generation(monkeypatch, tmp_path, argv, method):
    """Only a one-shot command trades frequent young collections for fewer larger ones; a script (or a shell, a
    TUI, a server) runs as long as its user likes, with the interpreter's usual thresholds. `kmstui serve`
    arrives as a one-shot command (its words on the command line) but runs until it is stopped: a young
    generation of 100,000 objects between collections is a start-up trade, not one for a process that lives
    for days."""
    import gc

    from kmstui.runner import Runner

    seen = {}

    def record(self, *args, **kwargs):
        seen["young"] = gc.get_threshold()[0]
        return 0

    monkeypatch.setattr(Runner, method, record)
    monkeypatch.setattr(sys, "argv", ["kmstui", *argv])
    monkeypatch.setenv("KMSTUI_HOME", str(tmp_path))
    gc.unfreeze()
    before = gc.get_threshold()
    try:
        assert cli.main() == 0
        assert seen["young"] == before[0]
    finally:
        gc.unfreeze()
        gc.enable()


def _run_with_closed(redirect: str, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    """kmstui started by a shell that closed some standard descriptors (`<&-`, `>&-`, `2>&-`)."""
    command = " ".join([*(f"'{a}'" for a in (*KMSTUI, *args)), redirect])
    return subprocess.run(["sh", "-c", f"exec {command}"], capture_output=True, text=True, timeout=60,
                          input=input_text)


def test_closed_standard_input_reads_as_empty_not_a_traceback(unsealed_hsm):
    r = _run_with_closed("<&-", "random", "--number-of-bytes", "4", "--output", "text")
    assert r.returncode == 0, r.stderr
    assert len(base64.b64decode(r.stdout.strip())) == 4 and "Traceback" not in r.stderr
    r = _run_with_closed("<&-", "encrypt", "--key-id", "alias/none", "--plaintext", "fileb:///dev/stdin")
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1 and r.returncode != 0


def test_closed_standard_output_is_refused_in_one_line_before_anything_runs(unsealed_hsm):
    log = unsealed_hsm.audit.path
    before = log.read_bytes() if log.exists() else b""
    r = _run_with_closed(">&-", "key", "create", "--description", "lost")
    assert r.returncode == 252
    assert r.stderr.startswith("kmstui: error: standard output is closed") and r.stderr.count("\n") == 1
    assert (log.read_bytes() if log.exists() else b"") == before  # no key was made whose id nobody saw


def test_closed_standard_error_keeps_errors_out_of_standard_output(unsealed_hsm):
    r = _run_with_closed("2>&-", "key", "describe", "--key-id", "alias/none")
    assert r.returncode == 254 and r.stdout == ""


def test_a_one_shot_commands_reader_sees_the_end_of_its_output_before_the_process_exits(kmstui_home, tmp_path):
    """`kmstui COMMAND | next`: once the command has written its output, standard output is flushed and
    released, so `next` sees the end at once rather than after the interpreter's exit (closing the store, the
    final collection, finalization: ~8 ms of every pipeline). Here the exit is held open by an atexit hook
    until the test has seen the end of the output; without the release the read below would never end."""
    go = tmp_path / "go"
    held_exit = ("import atexit, os, sys, time\n"
                 "def hold():\n"
                 "    for _ in range(12000):\n"
                 "        if os.path.exists(os.environ['GO']):\n"
                 "            return\n"
                 "        time.sleep(0.01)\n"
                 "atexit.register(hold)\n"
                 "from kmstui.cli import console\n"
                 "console()\n")
    proc = subprocess.Popen([sys.executable, "-c", held_exit, "plugins", "--output", "json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "GO": str(go)})
    try:
        out = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the end of the output must come while the exit is held
            if select.select([proc.stdout], [], [], 0.2)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        else:
            pytest.fail("standard output stayed open until the process exited")
        assert proc.poll() is None  # ... and the process is still exiting
        assert "envelope" in [p["Name"] for p in json.loads(out)["Plugins"]]  # and the output is whole
    finally:
        go.touch()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()


@pytest.mark.parametrize("how", ["argv", "sys.argv"])
def test_main_called_in_process_leaves_standard_output_alone(kmstui_home, capfd, monkeypatch, how):
    """Only the console script (cli.console) hands standard output back; a program that calls main(), with
    arguments or with sys.argv set, keeps its own."""
    import gc

    before = os.fstat(1)
    try:
        if how == "argv":
            assert cli.main(["plugins", "--output", "json"]) == 0
        else:
            monkeypatch.setattr(sys, "argv", ["kmstui", "plugins", "--output", "json"])
            assert cli.main() == 0
    finally:
        gc.unfreeze()
        gc.enable()
    after = os.fstat(1)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
    assert '"envelope"' in capfd.readouterr().out


def test_output_that_cannot_be_written_is_one_line_and_a_failure(kmstui_home):
    """`kmstui plugins > /dev/full`: the command's output fails to write; one line says so, the exit status is a
    failure, and nothing more (no traceback, no "Exception ignored" from the interpreter's exit)."""
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([*KMSTUI, "plugins", "--output", "json"], stdout=full, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, timeout=60,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"})
    assert proc.returncode != 0
    assert proc.stderr == "kmstui: error: cannot write standard output (No space left on device)\n", proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
