"""In-process local-backend throughput with the audit log on (run by hand, not in CI).

Targets (issue 2): Encrypt of 32 bytes >= 20,000 ops/s and GenerateDataKey >= 10,000 ops/s. For scale, the
same run measures the bare primitive (cryptography's AESGCM on 32 bytes), so the ratio shows what the
backend (lookup, state checks, blob format, audit line) costs on top.

    python benchmarks/bench_local_ops.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def rate(fn, seconds: float) -> tuple[float, float]:
    """(ops per wall second, ops per CPU second of this process): the second is what a shared, loaded
    machine cannot distort; on an idle machine the two agree."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(500):
            fn()
        n += 500
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    os.environ.setdefault("KMSTUI_KDF_COST", "10")  # only the one-off unseal; the operations do not use it
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from kmstui.backends.local.backend import LocalBackend
    from kmstui.backends.local.unseal import create_hsm

    with tempfile.TemporaryDirectory() as tmp:
        store, keys = create_hsm(Path(tmp) / "bench.kmstui", "benchmark passphrase")
        backend = LocalBackend(store, keys)
        key = backend.create_key()["KeyMetadata"]["KeyId"]
        backend.create_alias(AliasName="alias/bench", TargetKeyId=key)
        data = os.urandom(32)
        aead, iv = AESGCM(os.urandom(32)), os.urandom(12)
        raw = rate(lambda: aead.encrypt(iv, data, None), args.seconds)
        enc = rate(lambda: backend.encrypt(KeyId=key, Plaintext=data, EncryptionContext={"app": "bench"}), args.seconds)
        enc_alias = rate(lambda: backend.encrypt(KeyId="alias/bench", Plaintext=data), args.seconds)
        gdk = rate(lambda: backend.generate_data_key(KeyId=key, KeySpec="AES_256"), args.seconds)
        blob = backend.encrypt(KeyId=key, Plaintext=data)["CiphertextBlob"]
        dec = rate(lambda: backend.decrypt(CiphertextBlob=blob), args.seconds)
        backend.audit.flush()
        lines = sum(1 for _ in open(backend.audit.path, "rb"))
        verified = backend.verify_audit()
        backend.close()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'operation':32} {'ops/s wall':>11} {'ops/CPU-s':>10} {'target':>7} {'vs target':>10} {'vs raw AESGCM':>14}")
    for name, (wall, cpu), target in (("raw AESGCM encrypt 32 B (peer)", raw, None),
                                      ("Encrypt 32 B, key id, context", enc, 20000),
                                      ("Encrypt 32 B, alias", enc_alias, 20000),
                                      ("GenerateDataKey AES_256", gdk, 10000),
                                      ("Decrypt 32 B", dec, None)):
        vs_target = f"{wall / target:.2f}x" if target else "-"
        print(f"{name:32} {wall:11,.0f} {cpu:10,.0f} {target or '-':>7} {vs_target:>10} {cpu / raw[1]:13.3f}x")
    print(f"audit log: {lines:,} lines written, verify: {'intact' if verified['Valid'] else verified}")


if __name__ == "__main__":
    main()
