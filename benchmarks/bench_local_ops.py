"""In-process local-backend throughput with the audit log and policy enforcement on, as shipped (run by hand,
not in CI).

Targets: Encrypt of 32 bytes >= 0.025x the bare primitive (cryptography's AESGCM on 32 bytes) measured in
the same run (issue 13; issue 2 asked >= 20,000 ops/s and GenerateDataKey >= 10,000 ops/s). The ratio shows
what the backend (lookup, state checks, authorization, blob format, audit line with its hash chain) costs
on top of the cipher. Contenders run in interleaved rounds (rotating order); medians and min-max of the
rounds are reported, per wall second and per CPU second of this process (the steadier figure on a shared
machine). The HSM file lives in --dir (default: the system temp folder, a disk like the default data
folder) and is created at the default KDF cost, which only the one unseal pays.

    python benchmarks/bench_local_ops.py [--seconds 0.5] [--rounds 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from peers import banner, closing, interleaved, median, spread


def rate(fn, seconds: float) -> tuple[float, float]:
    """(ops per wall second, ops per CPU second of this process)."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(200):
            fn()
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start), n / max(time.process_time() - cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="per contender per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where the HSM file and its audit log live")
    args = parser.parse_args()
    os.environ.pop("KMSTUI_KDF_COST", None)  # the default cost: only the one unseal pays it
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from kmstui.backends.local.backend import LocalBackend
    from kmstui.backends.local.unseal import create_hsm

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        store, keys = create_hsm(Path(tmp) / "bench.kmstui", "benchmark passphrase")
        backend = LocalBackend(store, keys)
        key = backend.create_key()["KeyMetadata"]["KeyId"]
        backend.create_alias(AliasName="alias/bench", TargetKeyId=key)
        data = os.urandom(32)
        aead, iv = AESGCM(os.urandom(32)), os.urandom(12)
        blob = backend.encrypt(KeyId=key, Plaintext=data)["CiphertextBlob"]
        ops = {
            "raw AESGCM encrypt 32 B (peer)": lambda: aead.encrypt(iv, data, None),
            "Encrypt 32 B, key id, context": lambda: backend.encrypt(KeyId=key, Plaintext=data,
                                                                     EncryptionContext={"app": "bench"}),
            "Encrypt 32 B, alias": lambda: backend.encrypt(KeyId="alias/bench", Plaintext=data),
            "GenerateDataKey AES_256": lambda: backend.generate_data_key(KeyId=key, KeySpec="AES_256"),
            "Decrypt 32 B": lambda: backend.decrypt(CiphertextBlob=blob),
        }
        where = Path(tmp).parent
        banner(f"Local HSM backend in-process, {args.rounds} interleaved rounds of {args.seconds} s per operation; "
               "median (min-max)",
               [f"HSM file and audit log in {where}; default KDF cost (paid once, by the unseal); audit log and "
                "policy enforcement on"])
        results = interleaved(args.rounds, {name: (lambda fn=fn: rate(fn, args.seconds)) for name, fn in ops.items()})
        backend.audit.flush()
        lines = sum(1 for _ in open(backend.audit.path, "rb"))
        verified = backend.verify_audit()
        backend.close()
    raw_cpu = median([r[1] for r in results["raw AESGCM encrypt 32 B (peer)"]])
    raw_wall = median([r[0] for r in results["raw AESGCM encrypt 32 B (peer)"]])
    print(f"{'operation':32}{'ops/s wall':>30}{'ops/CPU-s':>34}{'vs raw (CPU)':>14}{'vs raw (wall)':>15}")
    for name, rounds in results.items():
        wall, cpu = [r[0] for r in rounds], [r[1] for r in rounds]
        print(f"{name:32}{spread(wall, '{:,.0f}'):>30}{spread(cpu, '{:,.0f}'):>34}"
              f"{median(cpu) / raw_cpu:13.4f}x{median(wall) / raw_wall:14.4f}x")
    enc = median([r[1] for r in results["Encrypt 32 B, key id, context"]]) / raw_cpu
    print(f"\nEncrypt 32 B / raw AESGCM (CPU): {enc:.4f}x (target >= 0.025x)")
    print(f"audit log: {lines:,} lines written, verify: {'intact' if verified['Valid'] else verified}")
    closing()


if __name__ == "__main__":
    main()
