"""README's "Use the local HSM from any AWS SDK" runs as written: `kmstui serve &`, `iam create-access-key`,
then the aws CLI line with the key filled in, then `kmstui serve log` lists that request; and `kmstui serve
--status` reports the running server."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.timeout(300)


def sdk_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Use the local HSM from any AWS SDK\n.*?```sh\n(.*?)```", text, re.S)
    assert block, "README.md lost its 'Use the local HSM from any AWS SDK' sh block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_sdk_section_runs_as_written(tmp_path, kmstui_home, unsealed_hsm):
    lines = sdk_lines()
    assert [line.split()[:2] for line in lines] == [["kmstui", "serve"], ["kmstui", "iam"],
                                                    ["AWS_ACCESS_KEY_ID=AKIA...", "AWS_SECRET_ACCESS_KEY=..."],
                                                    ["kmstui", "serve"]]
    unsealed_hsm.create_key()
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key)
    unsealed_hsm.close()
    (tmp_path / "report.pdf").write_bytes(os.urandom(3000))
    env = {**os.environ, "KMSTUI_KDF_COST": "8"}
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(var, None)
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    kmstui = [sys.executable, "-m", "kmstui"]
    serve = lines[0].rstrip("&").split()[1:]
    # port 0 instead of the default 4599, so concurrent test runs on one machine do not collide
    server = subprocess.Popen([*kmstui, *serve, "--port", "0", "--quiet"], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = subprocess.run([*kmstui, "serve", "--status", "--output", "json"], env=env,
                                    capture_output=True, text=True, timeout=60)
            if status.returncode == 0:
                break
            assert server.poll() is None, server.stderr.read().decode()
            time.sleep(0.2)
        state = json.loads(status.stdout)
        url = state["Servers"][0]["Url"]
        assert state["Running"] and url.startswith("http://127.0.0.1:") and state["Servers"][0]["Pid"] == server.pid
        made = subprocess.run([*kmstui, *shlex.split(lines[1])[1:]], env=env, capture_output=True, text=True,
                              timeout=60)
        assert made.returncode == 0, made.stderr
        assert "account root" in made.stderr
        akid, secret = made.stdout.split()
        words = [url if w == "http://127.0.0.1:4599" else w for w in shlex.split(lines[2])[2:]]
        words[0] = sys.executable
        words.insert(1, "-m")
        words.insert(2, "awscli")
        out = subprocess.run(words, env={**env, "AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret},
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["KeyId"].endswith(key)
        logged = subprocess.run([*kmstui, *shlex.split(lines[3])[1:], "--output", "json"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert logged.returncode == 0, logged.stderr
        last = json.loads(logged.stdout)["Requests"][-1]  # the access log is written within 0.05 s of the answer
        assert (last["operation"], last["decision"], last["status"]) == ("Encrypt", "allow", 200)
        assert last["key"].endswith(key) and last["principal"] == "arn:aws:iam::111122223333:root"
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
    assert code == 0  # SIGTERM is a graceful stop
    stopped = subprocess.run([*kmstui, "serve", "--status"], env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 1 and "no kmstui serve is running" in stopped.stderr
    # the access log has the request's line once the server has stopped (lines are written in batches)
    access = [json.loads(line) for line in open(state["Servers"][0]["AccessLog"], encoding="utf-8")]
    assert [(a["operation"], a["status"], a["principal"]) for a in access if a["operation"] == "Encrypt"] == [
        ("Encrypt", 200, f"arn:aws:iam::{state['Servers'][0]['AccountId']}:root")]
