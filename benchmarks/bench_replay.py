"""Replay 1,000,000 recorded requests against a proposed key policy (target: <= 20 s on one core).

Run by hand: python benchmarks/bench_replay.py [N]
Writes N CloudTrail-shaped KMS events (the shape of kmstui's audit log: userIdentity, requestParameters with
encryptionContext, resources) as JSON lines to a temporary file, then times `policy diff`'s engine path:
read + parse every line, build the request, decide it under the current and the proposed policy, list
changes. Peer measured side by side: the same replay without de-duplication (every line evaluated twice).
Timing is CPU time of this process.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time

from kmstui.authz import compile_policy, evaluate
from kmstui.authz.engine import _action, allowed_under
from kmstui.authz.grants import GrantSet
from kmstui.authz.replay import diff, iter_requests, projection, statements_differ

sys.path.insert(0, os.path.dirname(__file__))
from bench_authz import ACCT, KEY, POLICY  # noqa: E402
from peers import banner, closing  # noqa: E402

PROPOSED = json.loads(json.dumps(POLICY))
PROPOSED["Statement"][2]["Condition"] = {"StringEquals": {"kms:EncryptionContext:app": ["web"]}}  # drop "api"


def write_events(path: str, n: int) -> None:
    rng = random.Random(7)
    principals = ([f"arn:aws:sts::{ACCT}:assumed-role/App/i-{i:04x}" for i in range(200)] +
                  [f"arn:aws:iam::{ACCT}:user/u{i}" for i in range(100)] +
                  [f"arn:aws:sts::444455556666:assumed-role/reader-{i}/s" for i in range(50)])
    actions = ["Decrypt"] * 6 + ["Encrypt", "GenerateDataKey", "DescribeKey", "ReEncryptFrom"]
    apps = ["web", "api", "batch", "db"]
    with open(path, "w") as fh:
        for i in range(n):
            p = rng.choice(principals)
            ident = {"type": "AssumedRole" if ":assumed-role/" in p else "IAMUser", "arn": p,
                     "accountId": p.split(":")[4]}
            ev = {"eventVersion": "1.08", "userIdentity": ident, "eventSource": "kms.amazonaws.com",
                  "eventName": rng.choice(actions), "awsRegion": "us-east-1", "sourceIPAddress": "local",
                  "userAgent": "kmstui", "requestParameters": {"keyId": KEY, "encryptionContext": {
                      "app": rng.choice(apps), "tenant": f"t{rng.randrange(20)}"}},
                  "resources": [{"accountId": ACCT, "type": "AWS::KMS::Key", "ARN": KEY}],
                  "readOnly": False, "eventType": "AwsApiCall", "recipientAccountId": ACCT, "seq": i}
            fh.write(json.dumps(ev, separators=(",", ":")) + "\n")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    current, proposed = compile_policy(POLICY), compile_policy(PROPOSED)
    banner(f"Replay of {n:,} recorded requests against a proposed policy (CPU time; one run each: the peer is "
           "extrapolated from a sample)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "audit.jsonl")
        write_events(path, n)
        size = os.path.getsize(path)
        t0 = time.process_time()
        differ = statements_differ(current, proposed)
        pair = [current, proposed]
        no_grants = GrantSet(())
        changes, total, distinct = diff(iter_requests(path), lambda r: evaluate(current, [], [], r),
                                        lambda r: evaluate(proposed, [], [], r),
                                        relevant=lambda r: differ(_action(r.action)[0]),
                                        both=lambda r: tuple(allowed_under(pair, [], no_grants, r)),
                                        key=projection(pair, no_grants))
        replay = time.process_time() - t0
        print(f"{total:,} requests ({size / 1e6:.0f} MB of JSON lines), {distinct:,} distinct shapes as the policies see them, "
              f"{len(changes):,} distinct requests change decision "
              f"({sum(c.count for c in changes):,} recorded requests)")
        per_million = replay * 1_000_000 / n
        print(f"replay (diff):                 {replay:6.1f} s CPU  = {per_million:.1f} s per million "
              f"({20 / per_million:.2f}x the 20 s target)")
        m = min(n, 200_000)
        t0 = time.process_time()
        for i, r in enumerate(iter_requests(path)):
            if i >= m:
                break
            evaluate(current, [], [], r).allowed != evaluate(proposed, [], [], r).allowed
        naive = (time.process_time() - t0) * n / m
        print(f"every line, two evaluate() (peer): {naive:6.1f} s CPU  (extrapolated from {m:,}; diff is "
              f"{naive / replay:.1f}x faster)")
    closing()


if __name__ == "__main__":
    main()
