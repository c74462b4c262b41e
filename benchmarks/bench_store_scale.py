"""Does the local HSM slow down with many keys? Open + DescribeKey + Encrypt on a 100,000-key store vs a
10-key store, measured side by side (run by hand; building the big store takes a few seconds).

Target (issue 2): the 100k-key store within 2x of the 10-key store.

    python benchmarks/bench_store_scale.py [--keys 100000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from peers import banner, closing, spread


def build(path: Path, n: int):
    from kmstui.backends.local.unseal import create_hsm
    from kmstui.backends.local.backend import LocalBackend

    store, keys = create_hsm(path, "benchmark passphrase")
    backend = LocalBackend(store, keys)
    ids = []
    batch = 5000
    for start in range(0, n, batch):
        with store.transaction():  # one commit per batch keeps building fast; each create is still audited
            for _ in range(min(batch, n - start)):
                ids.append(backend.create_key()["KeyMetadata"]["KeyId"])
    backend.close()
    return keys, ids


def one_round(path: Path, keys, key_id: str) -> float:
    from kmstui.backends.local.backend import open_path

    start = time.perf_counter()
    backend = open_path(path, keys)
    backend.describe_key(KeyId=key_id)
    backend.encrypt(KeyId=key_id, Plaintext=b"x" * 32)
    elapsed = time.perf_counter() - start
    backend.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("KMSTUI_KDF_COST", "10")
    banner(f"Store scale: open + describe + encrypt on a 10-key vs a {args.keys:,}-key store",
           [f"KMSTUI_KDF_COST={os.environ['KMSTUI_KDF_COST']} (NOT the default 17): stores are opened with their "
            "root keys in hand, so no round runs the KDF"])
    with tempfile.TemporaryDirectory() as tmp:
        small_path, big_path = Path(tmp) / "small.kmstui", Path(tmp) / "big.kmstui"
        t = time.perf_counter()
        small_keys, small_ids = build(small_path, 10)
        big_keys, big_ids = build(big_path, args.keys)
        print(f"built stores in {time.perf_counter() - t:.1f}s ({big_path.stat().st_size / 1e6:.0f} MB for "
              f"{args.keys:,} keys)")
        small, big = [], []
        for _ in range(args.rounds):  # interleaved so both see the same machine load
            small.append(one_round(small_path, small_keys, random.choice(small_ids)))
            big.append(one_round(big_path, big_keys, random.choice(big_ids)))
    s, b = statistics.median(small), statistics.median(big)
    print(f"open + describe + encrypt, median (min-max) of {args.rounds} interleaved rounds:")
    print(f"  10-key store       {spread([x * 1000 for x in small], '{:.2f}')} ms")
    print(f"  {args.keys:,}-key store {spread([x * 1000 for x in big], '{:.2f}')} ms")
    print(f"  ratio big/small    {b / s:8.2f}x   (target <= 2.00x)")
    closing()


if __name__ == "__main__":
    main()
