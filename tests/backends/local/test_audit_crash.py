"""SIGKILL in the middle of a stream of audited calls: every call a client saw succeed has its audit line,
the chain still verifies (the sealed head never points past the log), and the next process appends to
the same chain. The short form kills 3 times; `pytest --slow` kills 30 times at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import pytest

from kmstui.audit import read_events
from kmstui.session import Session

WORKER = r"""
import sys
from kmstui.session import Session
b = Session(load_plugins=False).backend()
key, tag = sys.argv[1], sys.argv[2]
i = 0
while True:
    b.encrypt(KeyId=key, Plaintext=b"x" * 32, EncryptionContext={"n": f"{tag}-{i}"})
    if i % 7 == 0:
        b.tag_resource(KeyId=key, Tags=[{"TagKey": "n", "TagValue": str(i)}])  # a change: anchors at once
    print(i, flush=True)
    i += 1
"""


def _run_and_kill(key: str, tag: str, rng: random.Random) -> int:
    """Start a worker, let it acknowledge a random number of calls, SIGKILL it; the highest index it
    acknowledged (-1 if none)."""
    proc = subprocess.Popen([sys.executable, "-c", WORKER, key, tag], stdout=subprocess.PIPE, text=True)
    want, last = rng.randint(1, 60), -1
    try:
        while last < want:
            line = proc.stdout.readline()
            assert line, "worker ended early"
            last = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    return last


def test_sigkill_loses_no_acknowledged_audit_line(unsealed_hsm, slow_mode):
    key = unsealed_hsm.create_key(Description="crash")["KeyMetadata"]["KeyId"]
    log = unsealed_hsm.audit.path
    unsealed_hsm.close()
    rng = random.Random(1234)
    for round_ in range(30 if slow_mode else 3):
        acknowledged = _run_and_kill(key, str(round_), rng)
        contexts = {(ev.get("requestParameters") or {}).get("encryptionContext", {}).get("n") for ev in read_events(log)
                    if ev.get("eventName") == "Encrypt"}
        missing = [i for i in range(acknowledged + 1) if f"{round_}-{i}" not in contexts]
        assert not missing, f"acknowledged Encrypt calls without an audit line: {missing[:10]}"
        backend = Session(load_plugins=False).backend()
        report = backend.verify_audit()
        assert report["Valid"], report
        backend.encrypt(KeyId=key, Plaintext=b"after")  # the chain continues after the crash
        backend.close()
        assert Session(load_plugins=False).backend().verify_audit()["Valid"]
