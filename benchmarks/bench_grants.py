"""Grant throughput on the local backend, with the audit log and authorization on (run by hand, not in CI).

Measures CreateGrant, ListGrants and RetireGrant rates, and Decrypt ops/s with 0, 1, 100 and 10,000 grants
on the key, both as the account root (key policy allows; grants are not needed) and as a grantee whose one
grant sits among all the others. Target (issue 6): Decrypt with 10,000 grants >= 0.5x Decrypt with none.
The peer, measured side by side (before and after), is Decrypt on a key with no grants; each figure
is the median of --rounds runs (min-max shown), ops per CPU-second being the figure a loaded machine
distorts least.

    python benchmarks/bench_grants.py [--seconds 2] [--grants 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from peers import banner, closing, median, spread

ACCOUNT = "111122223333"
GRANTEE = f"arn:aws:iam::{ACCOUNT}:role/reader"


def rate(fn, seconds: float, batch: int = 200) -> tuple[float, float]:
    """(ops per wall second, ops per CPU second of this process)."""
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        n += batch
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start), n / max(time.process_time() - cpu, 1e-9)


def timed(fn, count: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start), count / max(time.process_time() - cpu, 1e-9)


def bulk_grants(backend, key: str, count: int) -> None:
    """Add `count` grants to other principals in one transaction (set-up, not measured)."""
    with backend.store.transaction():
        for i in range(count):
            backend.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/svc-{i}",
                                 Operations=["Decrypt", "Encrypt"],
                                 Constraints={"EncryptionContextSubset": {"tenant": f"t{i}"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--grants", type=int, default=10000)
    parser.add_argument("--create", type=int, default=500, help="grants created one by one for the create rate")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per figure (median and min-max)")
    args = parser.parse_args()
    os.environ.setdefault("KMSTUI_KDF_COST", "10")
    from kmstui.backends.local.backend import LocalBackend
    from kmstui.backends.local.unseal import create_hsm

    banner(f"Grants: Decrypt rates by grant count, grant create/list/retire; {args.rounds} rounds per figure, "
           "median (min-max)", ["KMSTUI_KDF_COST=10 for the HSM set-up only (NOT the default; no operation here "
                                "runs the KDF)"])
    rows: list[tuple[str, tuple[float, float], str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store, keys = create_hsm(Path(tmp) / "bench.kmstui", "benchmark passphrase", account_id=ACCOUNT)
        b = LocalBackend(store, keys)
        context = {"tenant": "acme"}

        def best(fn) -> tuple[tuple[float, float], str]:
            """Median of `--rounds` measurements (wall, CPU), and the CPU min-max."""
            fn()  # warm: the first grantee call after a change reads and indexes the key's grants
            runs = [rate(fn, args.seconds) for _ in range(args.rounds)]
            return (median([r[0] for r in runs]), median([r[1] for r in runs])), spread([r[1] for r in runs],
                                                                                      "{:,.0f}")

        def decrypt_rates(key: str, label: str) -> None:
            blob = b.encrypt(KeyId=key, Plaintext=os.urandom(32), EncryptionContext=context)["CiphertextBlob"]
            for who, name in ((None, "root"), (GRANTEE, "grantee")):
                if who and "no grants" in label:
                    continue
                b.set_caller(who)
                rows.append((f"Decrypt as {name}, {label}",
                             *best(lambda: b.decrypt(CiphertextBlob=blob, EncryptionContext=context))))
            b.set_caller(None)

        bare = b.create_key()["KeyMetadata"]["KeyId"]
        decrypt_rates(bare, "no grants")
        for count in (1, 100, args.grants):
            key = b.create_key()["KeyMetadata"]["KeyId"]
            b.create_grant(KeyId=key, GranteePrincipal=GRANTEE, Operations=["Decrypt"],
                           Constraints={"EncryptionContextSubset": context})
            bulk_grants(b, key, count - 1)
            decrypt_rates(key, f"{count:,} grant(s) on the key")
        decrypt_rates(bare, "no grants (again)")
        b.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/late", Operations=["Decrypt"])
        blob = b.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=context)["CiphertextBlob"]
        b.set_caller(GRANTEE)
        start = time.perf_counter()
        b.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        reload_ms = (time.perf_counter() - start) * 1000
        b.set_caller(None)

        key = b.create_key()["KeyMetadata"]["KeyId"]
        made: list[dict] = []
        rows.append((f"CreateGrant (one commit each, {args.create})", timed(lambda i: made.append(b.create_grant(
            KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/w{i}", Operations=["Decrypt"],
            RetiringPrincipal=GRANTEE)), args.create), ""))
        rows.append((f"ListGrants (page of 50 of {args.create})", rate(lambda: b.list_grants(KeyId=key, Limit=50),
                                                                        args.seconds, batch=20), ""))
        b.set_caller(GRANTEE)
        rows.append((f"RetireGrant by token ({args.create})",
                     timed(lambda i: b.retire_grant(GrantToken=made[i]["GrantToken"]), args.create), ""))
        b.set_caller(None)
        b.close()

    base = max((r[1] for r in rows if "no grants" in r[0]), key=lambda r: r[1])
    print(f"{'measurement':46} {'ops/s wall':>11} {'ops/CPU-s median (min-max)':>30} {'vs Decrypt, no grants (CPU)':>28}")
    for name, (wall, cpu), cpu_spread in rows:
        print(f"{name:46} {wall:11,.0f} {cpu_spread or f'{cpu:,.0f}':>30} {cpu / base[1]:27.2f}x")
    print(f"first grantee Decrypt after a grant change on the {args.grants:,}-grant key (re-reads and indexes "
          f"its grants): {reload_ms:.0f} ms")
    worst = min(cpu for name, (_, cpu), _ in rows if f"{args.grants:,} grant" in name)
    print(f"target: Decrypt with {args.grants:,} grants >= 0.5x Decrypt with none -> "
          f"{worst / base[1]:.2f}x {'(met)' if worst / base[1] >= 0.5 else '(NOT met)'}")
    closing()


if __name__ == "__main__":
    main()
