"""The unseal agent's own safety: no passphrase in its environment, no key handed to a folder or listener
that belongs to someone else, TTLs on a clock that counts suspend, and `hsm seal --all`."""

from __future__ import annotations

import os
import time

import pytest

from kmstui.backends.local import agent
from kmstui.config import Paths
from kmstui.errors import ConfigError
from kmstui.session import Session


@pytest.fixture
def runtime_dir():
    path = Paths.discover().runtime_dir
    yield path
    agent.stop(path)


def _wait_gone(runtime_dir, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and agent.status(runtime_dir):
        time.sleep(0.05)
    return agent.status(runtime_dir) is None


def test_agent_environment_holds_no_passphrase(runtime_dir, monkeypatch):
    monkeypatch.setenv("KMSTUI_PASSPHRASE", "env passphrase that must not leak")
    monkeypatch.setenv("KMSTUI_NEW_PASSPHRASE", "another secret to keep out")
    monkeypatch.setenv("KMSTUI_PKCS11_PIN", "a token pin")  # any secret `hsm unseal` happened to run with
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "an aws secret")
    reply = agent.put_key(runtime_dir, "file-a", os.urandom(32), 60)
    environ = open(f"/proc/{reply['pid']}/environ", "rb").read()
    assert b"a token pin" not in environ and b"an aws secret" not in environ
    cmdline = open(f"/proc/{reply['pid']}/cmdline", "rb").read()
    assert b"KMSTUI_PASSPHRASE" not in environ and b"must not leak" not in environ
    assert b"KMSTUI_NEW_PASSPHRASE" not in environ and b"keep out" not in environ
    assert b"passphrase" not in cmdline
    assert os.readlink(f"/proc/{reply['pid']}/cwd") == "/"


def test_loose_runtime_dir_is_made_private(runtime_dir):
    runtime_dir.mkdir(parents=True)
    os.chmod(runtime_dir, 0o777)
    agent.put_key(runtime_dir, "file-a", os.urandom(32), 60)
    assert oct(os.stat(runtime_dir).st_mode & 0o777) == "0o700"
    assert oct(os.stat(agent.socket_path(runtime_dir)).st_mode & 0o777) == "0o600"


def test_runtime_dir_of_another_user_is_refused(runtime_dir):
    """In the /tmp fallback anyone can create /tmp/kmstui-UID first; the key must never go there."""
    runtime_dir.mkdir(parents=True)
    try:
        os.chown(runtime_dir, 65534, 65534)
    except PermissionError:
        pytest.skip("needs root to give the folder to another uid")
    os.chmod(runtime_dir, 0o777)
    with pytest.raises(ConfigError, match="belongs to uid 65534"):
        agent.put_key(runtime_dir, "file-a", os.urandom(32), 60)
    assert not agent.socket_path(runtime_dir).exists()
    agent.Agent(runtime_dir).serve()  # returns at once instead of listening in someone else's folder
    assert not agent.socket_path(runtime_dir).exists()


def test_ttl_uses_a_clock_that_counts_suspend(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(agent, "_clock", lambda: now[0])
    a = agent.Agent(Paths.discover().runtime_dir)
    a.handle({"op": "put", "id": "f", "key": "A" * 43 + "=", "ttl": 60})  # a 32-byte key, base64
    assert a.handle({"op": "get", "id": "f"})["ok"]
    now[0] += 61  # e.g. a laptop asleep overnight: CLOCK_BOOTTIME moved on, CLOCK_MONOTONIC would not have
    assert a.handle({"op": "get", "id": "f"}) == {"ok": False}
    if hasattr(os, "CLOCK_BOOTTIME") or hasattr(time, "CLOCK_BOOTTIME"):
        monkeypatch.undo()
        assert abs(agent._clock() - time.clock_gettime(time.CLOCK_BOOTTIME)) < 1


def test_seal_all_stops_an_agent_holding_several_files(unsealed_hsm, runtime_dir):
    agent.put_key(runtime_dir, "some-other-hsm-file", os.urandom(32), 600)
    Session(load_plugins=False).execute(["hsm", "unseal", "--ttl", "10m"])
    sealed = Session(load_plugins=False).execute(["hsm", "seal"])
    assert sealed.data["AgentHeldKey"] is True and sealed.data["AgentOtherFiles"] == 1
    assert "still holds 1 other" in sealed.message
    assert agent.status(runtime_dir) is not None
    stopped = Session(load_plugins=False).execute(["hsm", "seal", "--all"]).data
    assert stopped["AgentStopped"] is True
    assert _wait_gone(runtime_dir)
    assert Session(load_plugins=False).execute(["hsm", "seal", "--all"]).data["AgentStopped"] is False


def test_a_relative_kmstui_home_unseals_too(tmp_path, monkeypatch):
    """KMSTUI_HOME=./kms: the agent runs in / (above), so it is given the folder as an absolute path; it was
    given the relative one, listened in /kms/run, and `hsm unseal` failed with "could not start the agent"."""
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "KMSTUI_HOME": "kms", "KMSTUI_KDF_COST": "8", "KMSTUI_PASSPHRASE": "relative home"}
    for args in (["hsm", "init"], ["hsm", "unseal", "--ttl", "60"]):
        proc = subprocess.run([sys.executable, "-m", "kmstui", *args], env=env, capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
    runtime = tmp_path / "kms" / "run"
    try:
        assert agent.status(runtime)["entries"]
    finally:
        agent.stop(runtime)
