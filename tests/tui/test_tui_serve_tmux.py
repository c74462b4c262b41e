"""End to end in a real terminal: the real `python -m kmstui` in tmux at 80x24 beside a real `kmstui serve` on
the same store. The header shows the server, F7 shows boto3's requests as they arrive (a key id carrying a
terminal escape is drawn as text, the screen is not cleared), a denied request is explained, and stopping
the server turns the screen and the header to "not running"."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from tui_helpers import Tmux

pytest.importorskip("uvicorn", reason="kmstui serve needs the 'serve' extra (uvicorn)")
pytest.importorskip("boto3")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"


def test_serve_indicator_and_tail_in_tmux(serve_tools, tmp_path):
    from botocore.exceptions import ClientError

    server = serve_tools.start(tmp_path)
    port = server.url.rsplit(":", 1)[1]
    env_words = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in (("KMSTUI_HOME", server.home), ("KMSTUI_PASSPHRASE", PASSPHRASE),
                                                 ("TERM", "xterm-256color"), ("NO_COLOR", "1")))
    tmux = Tmux(f"kmstui-serve-test-{os.getpid()}", "tui")
    command = f"cd {tmp_path} && env PYTHONPATH={REPO} {env_words} {sys.executable} -m kmstui"
    tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", command)
    tmux.run("resize-window", "-t", "tui", "-x", "80", "-y", "24", check=False)
    try:
        tmux.wait_for(f"serving :{port}")  # the header, short form at 80 columns
        tmux.key("F7")
        tmux.wait_for(f"running {server.url}")
        tmux.wait_for(f"pid {server.proc.pid}")

        root = server.client()
        key_id = root.create_key()["KeyMetadata"]["KeyId"]
        blob = root.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        with pytest.raises(ClientError):  # an id from the network with a terminal escape in it
            root.describe_key(KeyId="alias/\x1b[2Jowned")
        mallory = server.client(server.access_key("mallory"))
        with pytest.raises(ClientError):
            mallory.decrypt(CiphertextBlob=blob)
        screen = tmux.wait_for("user/mallory")
        assert "Encrypt" in screen and "deny" in screen
        screen = tmux.wait_for("alias/\\x1b[2J")  # shown as text ...
        assert f"running {server.url}" in screen  # ... and the screen was not cleared by it

        tmux.key("d")
        tmux.wait_for("showing refused only")
        tmux.key("End")
        tmux.key("Enter")
        tmux.wait_for("DENY:")  # whatif --request-id, run by the screen
        tmux.key("Escape")

        assert serve_tools.stop(server) == 0
        tmux.wait_for("not running")
        tmux.key("Escape")
        tmux.wait_for("not serving")

        tmux.quit()
    finally:
        tmux.run("kill-server", check=False)
        serve_tools.stop(server)
