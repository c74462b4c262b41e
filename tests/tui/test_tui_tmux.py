"""End to end: the real `python -m kmstui` process in tmux, driven by keys, read back with capture-pane:
unseal (masked modal) -> create a key -> encrypt a file from the console -> quit."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tui_helpers import Tmux

PASSPHRASE = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")


def test_unseal_create_key_and_encrypt_in_tmux(hsm_file, kmstui_home, tmp_path):
    data = tmp_path / "notes.txt"
    data.write_text("meet at noon\n" * 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSTUI_")}
    env.update(KMSTUI_HOME=str(kmstui_home), TERM="xterm-256color", NO_COLOR="1")
    env_words = " ".join(f"{k}={v}" for k, v in (("KMSTUI_HOME", kmstui_home), ("TERM", "xterm-256color")))
    tmux = Tmux(f"kmstui-test-{os.getpid()}", "tui")
    command = f"cd {tmp_path} && env PYTHONPATH={REPO} {env_words} {sys.executable} -m kmstui"
    tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", command)
    tmux.run("resize-window", "-t", "tui", "-x", "120", "-y", "40", check=False)
    try:
        tmux.wait_for("HSM passphrase")
        tmux.type(PASSPHRASE)
        screen = tmux.screen()
        assert PASSPHRASE not in screen  # masked
        tmux.key("Enter")
        tmux.wait_for("unsealed")
        tmux.wait_for("0 keys")

        tmux.wait_for("n New key")  # the key table has focus and the main view's keys are live
        tmux.key("n")
        tmux.wait_for("Create a key")
        tmux.type("e2e")
        tmux.wait_for("e2e")
        tmux.key("Enter")
        tmux.wait_for("alias/e2e")
        tmux.wait_for("1 key ")

        tmux.wait_for("n New key")
        tmux.key(":")
        tmux.wait_gone("n New key")  # the footer drops the table's keys once the console line has focus
        line = f"envelope encrypt {data.name} --key-id alias/e2e --out {data.name}.enc"
        tmux.type(line)
        tmux.wait_for(line[:40])  # it landed on the console line
        tmux.key("Enter")
        tmux.wait_for("encrypted 1 file")
        assert Path(f"{data}.enc").stat().st_size > data.stat().st_size

        tmux.quit()
    finally:
        tmux.run("kill-server", check=False)
