"""In-process local-backend throughput with the audit log and policy enforcement on, as shipped (run by hand,
not in CI).

Targets: Encrypt of 32 bytes >= 0.025x the bare primitive (cryptography's AESGCM on 32 bytes) measured in
the same run (issue 13; issue 2 asked >= 20,000 ops/s and GenerateDataKey >= 10,000 ops/s). The ratio shows
what the backend (lookup, state checks, authorization, blob format, audit line with its hash chain) costs
on top of the cipher. Contenders run in interleaved rounds (rotating order); medians and min-max of the
rounds are reported, per wall second and per CPU second of this process (the steadier figure on a shared
machine). The HSM file lives in --dir (default: the system temp folder, a disk like the default data
folder) and is created at the default KDF cost, which only the one unseal pays.

With `--baseline REV_OR_DIR` (a git revision of this repository, or a folder holding a `kmstui` package)
each round runs this tree and the baseline in child processes, one after the other in rotating order, and
the comparison is of each tree's "vs raw" ratio: every child measures raw AESGCM in its own process, so
the ratio of the two trees' ratios is before/after with the machine's moment taken out.

    python benchmarks/bench_local_ops.py [--seconds 0.5] [--rounds 5] [--dir DIR] [--baseline REV_OR_DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers import REPO, banner, closing, interleaved, median, spread, with_pythonpath

RAW = "raw AESGCM encrypt 32 B (peer)"
ENCRYPT = "Encrypt 32 B, key id, context"


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


def core_baseline(spec: str, into: Path) -> Path:
    """A folder to put first on PYTHONPATH so that `import kmstui` is the baseline: `spec` is such a folder,
    or a git revision whose kmstui/ is extracted into `into`."""
    folder = Path(spec)
    if (folder / "kmstui" / "__init__.py").is_file():
        return folder
    archive = subprocess.run(["git", "-C", str(REPO), "archive", spec, "kmstui"], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"--baseline {spec}: neither a folder holding kmstui/ nor a git revision "
                         f"({archive.stderr.decode().strip()})")
    dest = into / "baseline"
    dest.mkdir()
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def compare(args: argparse.Namespace) -> None:
    """This tree against --baseline, each round in fresh child processes (rotating order)."""
    with tempfile.TemporaryDirectory(prefix="kmstui-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "KMSTUI_KDF_COST"}
        baseline = core_baseline(args.baseline, Path(tmp)).resolve()
        trees = {"this tree": (env, None), f"baseline {args.baseline}": (with_pythonpath(env, baseline), baseline)}
        cmd = [sys.executable, __file__, "--child", "--seconds", str(args.seconds)] + (
            ["--dir", args.dir] if args.dir else [])
        banner(f"Local HSM backend in-process, this tree vs {args.baseline}: {args.rounds} interleaved rounds, each "
               f"tree in a fresh process per round ({args.seconds} s per operation); median (min-max) of the "
               "rounds' ratios to raw AESGCM measured in the same process (CPU)",
               [f"baseline: {baseline}",
                "default KDF cost (paid once per process, by the unseal); audit log and policy enforcement on"])

        def run(tree_env: dict[str, str], folder: Path | None) -> dict[str, list[float]]:
            proc = subprocess.run(cmd, env=tree_env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            imported = Path(out.pop("kmstui")).resolve()
            if folder is not None and not imported.is_relative_to(folder):
                raise SystemExit(f"the baseline's child imported {imported}, not the baseline in {folder}")
            return out

        results = interleaved(args.rounds, {name: (lambda t=t: run(*t)) for name, t in trees.items()})
    names = [n for n in results["this tree"][0] if n != RAW]
    ratios = {tree: {n: [r[n][1] / r[RAW][1] for r in rounds] for n in names} for tree, rounds in results.items()}
    base = f"baseline {args.baseline}"
    print(f"{'operation (vs raw AESGCM, CPU)':32}{'this tree':>26}{base[:26]:>26}{'this / baseline':>17}")
    for n in names:
        mine, theirs = ratios["this tree"][n], ratios[base][n]
        print(f"{n:32}{spread(mine, '{:.4f}x'):>26}{spread(theirs, '{:.4f}x'):>26}"
              f"{median(mine) / median(theirs):16.3f}x")
    print(f"\nEncrypt 32 B / raw AESGCM (CPU): this tree {median(ratios['this tree'][ENCRYPT]):.4f}x, baseline "
          f"{median(ratios[base][ENCRYPT]):.4f}x (target >= 0.025x)")
    closing()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="per contender per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where the HSM file and its audit log live")
    parser.add_argument("--baseline", default=None, help="git revision or folder holding kmstui/ to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one round, JSON out (--baseline)
    args = parser.parse_args()
    if args.baseline:
        return compare(args)
    if args.child:
        args.rounds = 1
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
            RAW: lambda: aead.encrypt(iv, data, None),
            ENCRYPT: lambda: backend.encrypt(KeyId=key, Plaintext=data,
                                                                     EncryptionContext={"app": "bench"}),
            "Encrypt 32 B, alias": lambda: backend.encrypt(KeyId="alias/bench", Plaintext=data),
            "GenerateDataKey AES_256": lambda: backend.generate_data_key(KeyId=key, KeySpec="AES_256"),
            "Decrypt 32 B": lambda: backend.decrypt(CiphertextBlob=blob),
        }
        where = Path(tmp).parent
        if args.child:
            results = interleaved(1, {name: (lambda fn=fn: rate(fn, args.seconds)) for name, fn in ops.items()})
            backend.close()
            import kmstui

            print(json.dumps({"kmstui": kmstui.__file__, **{name: rounds[0] for name, rounds in results.items()}}))
            return
        banner(f"Local HSM backend in-process, {args.rounds} interleaved rounds of {args.seconds} s per operation; "
               "median (min-max)",
               [f"HSM file and audit log in {where}; default KDF cost (paid once, by the unseal); audit log and "
                "policy enforcement on"])
        results = interleaved(args.rounds, {name: (lambda fn=fn: rate(fn, args.seconds)) for name, fn in ops.items()})
        backend.audit.flush()
        lines = sum(1 for _ in open(backend.audit.path, "rb"))
        verified = backend.verify_audit()
        backend.close()
    raw_cpu = median([r[1] for r in results[RAW]])
    raw_wall = median([r[0] for r in results[RAW]])
    print(f"{'operation':32}{'ops/s wall':>30}{'ops/CPU-s':>34}{'vs raw (CPU)':>14}{'vs raw (wall)':>15}")
    for name, rounds in results.items():
        wall, cpu = [r[0] for r in rounds], [r[1] for r in rounds]
        print(f"{name:32}{spread(wall, '{:,.0f}'):>30}{spread(cpu, '{:,.0f}'):>34}"
              f"{median(cpu) / raw_cpu:13.4f}x{median(wall) / raw_wall:14.4f}x")
    enc = median([r[1] for r in results[ENCRYPT]]) / raw_cpu
    print(f"\nEncrypt 32 B / raw AESGCM (CPU): {enc:.4f}x (target >= 0.025x)")
    print(f"audit log: {lines:,} lines written, verify: {'intact' if verified['Valid'] else verified}")
    closing()


if __name__ == "__main__":
    main()
