"""Two writer processes on one HSM file, killed with SIGKILL at random moments and restarted (issue 11 campaign).

Whatever the moment of the kill: every key a writer acknowledged exists; every key that exists has its
CreateKey line (no change without its audit line); the file, its row sets and the audit chain verify; no
process ever sees a gap. Short in CI; `--slow` runs many more kills.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from kmstui.audit import read_events
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import Store
from kmstui.backends.local.verify import verify_file

WORKER = r"""
import sys
from kmstui.errors import DependencyTimeoutException
from kmstui.session import Session

def again(call, *args, **kwargs):
    # Under this contention SQLite may give up on a lock ("locking protocol", rescode.html#protocol): kmstui
    # then refuses the whole call, nothing changed, "try again"; a user would, so this writer does.
    while True:
        try:
            return call(*args, **kwargs)
        except DependencyTimeoutException:
            print("retried", file=sys.stderr, flush=True)

backend = again(Session(load_plugins=False).backend)
tag = sys.argv[1]
i = 0
while True:
    key = again(backend.create_key, Description=f"{tag}-{i}")["KeyMetadata"]["KeyId"]
    print(key, flush=True)
    again(backend.encrypt, KeyId=key, Plaintext=b"x")
    again(backend.tag_resource, KeyId=key, Tags=[{"TagKey": "n", "TagValue": str(i)}])
    if i % 3 == 0:
        again(backend.disable_key, KeyId=key)
        again(backend.enable_key, KeyId=key)
    if i % 4 == 0:
        again(backend.create_alias, AliasName=f"alias/{tag}-{i}", TargetKeyId=key)
    again(backend.list_keys, Limit=5)
    i += 1
"""


class Writer:
    def __init__(self, tag: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, tag], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.seen: list[str] = []

    def wait_for_first_key(self, timeout: float = 60) -> None:
        """Block until the writer acknowledged a key (it has started and is writing)."""
        deadline = time.monotonic() + timeout
        while not self.seen and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.seen.append(line.strip())

    def kill(self) -> list[str]:
        """SIGKILL it; the keys it acknowledged (printed after CreateKey returned)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        out, err = self.proc.stdout.read(), self.proc.stderr.read()  # after readline: through the same buffer
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert "Error" not in err and "Traceback" not in err, err
        return self.seen + out.split()


def test_sigkill_two_writers_loses_nothing_acknowledged(unsealed_hsm, slow_mode):
    hsm = unsealed_hsm
    keys = hsm._keys
    hsm.close()
    rounds = 60 if slow_mode else 6
    rng = random.Random(11)
    writers = [Writer("a0"), Writer("b0")]
    acknowledged: list[str] = []
    kills = 0
    deadline = time.monotonic() + (600 if slow_mode else 60)
    for n in range(rounds):
        victim = rng.randrange(2)
        writers[victim].wait_for_first_key()
        time.sleep(rng.uniform(0.0, 0.5))  # then kill it at a random moment of its work
        acknowledged += writers[victim].kill()
        kills += 1
        writers[victim] = Writer(f"{'ab'[victim]}{n + 1}")
        if time.monotonic() > deadline:
            break
    for w in writers:
        acknowledged += w.kill()
        kills += 1
    assert kills >= 3 and len(acknowledged) >= 3, (kills, len(acknowledged))

    backend = LocalBackend(Store.open(hsm.path), keys)
    # The last kill may land inside a write of a line nobody acknowledged, leaving it torn (the kernel can cut
    # a write short at a page boundary); the next call cuts it off and records the cut, as after a crash.
    existing = {k["KeyId"] for k in backend.list_keys(Limit=1000)["Keys"]}
    store = Store.open(hsm.path)
    report = verify_file(store, keys, hsm.audit.path)
    store.close()
    assert report["Valid"], report["Problems"]
    assert set(acknowledged) <= existing
    created = {arn.rsplit("/", 1)[1] for e in read_events(hsm.audit.path)
               if e["eventName"] == "CreateKey" and "errorCode" not in e for arn in
               [r["ARN"] for r in e.get("resources") or []]}
    assert existing <= created, "a key exists without its CreateKey line"
    assert backend.verify_audit()["Valid"]
    backend.close()
    print(f"\nSIGKILL campaign: {kills} kills, {len(acknowledged)} acknowledged keys, {len(existing)} keys in the file")
