"""Real processes on one HSM file: concurrent writers lose nothing, SIGKILL mid-write loses no
acknowledged key, and the unseal agent keeps the key for its TTL and forgets it on `hsm seal`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kmstui.backends.local import agent
from kmstui.config import Paths
from kmstui.errors import SealedError
from kmstui.session import Session

WORKER = r"""
import sys
from kmstui.session import Session
b = Session(load_plugins=False).backend()
tag = sys.argv[1]
for i in range(int(sys.argv[2])):
    k = b.create_key(Description=f"{tag}-{i}")["KeyMetadata"]["KeyId"]
    b.encrypt(KeyId=k, Plaintext=b"x")
    print(k, flush=True)
"""


def spawn(tag: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, tag, str(n)], stdout=subprocess.PIPE, text=True)


def test_two_processes_mutating_at_once_lose_nothing(unsealed_hsm):
    procs = [spawn("a", 40), spawn("b", 40)]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    acknowledged = set(outputs[0]) | set(outputs[1])
    assert len(acknowledged) == 80
    metadata = unsealed_hsm.list_key_metadata()
    assert {m["KeyId"] for m in metadata} == acknowledged
    assert sorted(m["Description"] for m in metadata) == sorted([f"a-{i}" for i in range(40)] + [f"b-{i}" for i in range(40)])
    report = unsealed_hsm.verify_audit()
    assert report["Valid"] and report["Lines"] == 161  # 80 CreateKey, 80 Encrypt, and the ListKeys of key listing


def test_sigkill_mid_writes_keeps_every_acknowledged_key(unsealed_hsm):
    proc = spawn("k", 100000)
    acknowledged = []
    while len(acknowledged) < 30:
        line = proc.stdout.readline()
        assert line, "worker ended early"
        acknowledged.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    backend = Session(load_plugins=False).backend()
    for key in acknowledged:
        blob = backend.encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"]
        assert backend.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
    assert backend.verify_audit()["Valid"]
    backend.close()


@pytest.fixture
def runtime_dir():
    path = Paths.discover().runtime_dir
    yield path
    agent.request(agent.socket_path(path), {"op": "stop"})


def _session_without_passphrase(monkeypatch) -> Session:
    monkeypatch.delenv("KMSTUI_PASSPHRASE", raising=False)
    return Session(load_plugins=False)


def test_agent_holds_key_for_ttl_then_forgets(unsealed_hsm, runtime_dir, monkeypatch):
    Session(load_plugins=False).execute(["hsm", "unseal", "--ttl", "2s"])
    sock = agent.socket_path(runtime_dir)
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"
    s = _session_without_passphrase(monkeypatch)
    backend = s.backend()
    assert backend.unsealed_by == "agent"
    s.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and agent.status(runtime_dir):
        time.sleep(0.2)
    assert agent.status(runtime_dir) is None, "agent still running after its TTL"
    with pytest.raises(SealedError, match="hsm unseal"):
        _session_without_passphrase(monkeypatch).backend()


def test_hsm_seal_ends_the_agent(unsealed_hsm, runtime_dir, monkeypatch):
    result = Session(load_plugins=False).execute(["hsm", "unseal", "--ttl", "15m"])
    assert result.data["ExpiresInSeconds"] == 900 and result.data["Sealed"] is False
    status = _session_without_passphrase(monkeypatch).execute(["hsm", "status"]).data
    assert status["Sealed"] is False and status["Agent"]["HoldsKey"]
    sealed = Session(load_plugins=False).execute(["hsm", "seal"]).data
    assert sealed["AgentHeldKey"] is True
    with pytest.raises(SealedError):
        _session_without_passphrase(monkeypatch).backend()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and agent.status(runtime_dir):
        time.sleep(0.1)
    assert agent.status(runtime_dir) is None
