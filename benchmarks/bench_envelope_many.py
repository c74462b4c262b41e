"""Envelope encryption of many small files: files/s and backend calls, with and without the data-key cache,
side by side with an earlier kmstui (run by hand, not in CI).

Targets: 10,000 files of 4 KiB with caching on
  - make <= 1 % of the backend calls made without caching (issue 3);
  - encrypt and decrypt at >= 2x the files/s of the plugin as it was before issue 13, in the same run
    (`--baseline 248ed19`; repeat --baseline to add another earlier copy, e.g. a before/after pair);
  - >= 10x aws-encryption-cli's files/s (issue 3), when that CLI is installed in its own venv
    (`python3 -m venv /tmp/esdkcli && /tmp/esdkcli/bin/pip install aws-encryption-sdk-cli`; it runs against a
    moto KMS server on 127.0.0.1 and needs moto[server] in this interpreter).
The local HSM is set up as the README does (default KDF cost, unseal agent running). Each round runs every
contender once (rotating order); medians and min-max are reported. The tree and outputs live in --dir
(default /dev/shm: tmpfs measures kmstui, not a disk's journal; pass --dir /tmp to include one: then
per-file creation in the file system dominates both sides).

    python benchmarks/bench_envelope_many.py [--files 10000] [--size 4096] [--rounds 3] [--baseline 248ed19]
                                             [--kdf-cost N] [--dir DIR] [--esdk-cli PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from peers import (ReadmeHsm, banner, baseline_envs, child, closing, envelope_bench, envelope_options, interleaved,
                   median, spread, start_moto)

CACHE = ["--cache-max-messages", "100000", "--cache-max-age", "600"]


def run_child(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, its standard output)."""
    wall, cpu, _, out = child(cmd, env, capture=True)
    return wall, cpu, out


def esdk_cli_run(cli: str, tree: Path, out: Path) -> float | None:
    """aws-encryption-cli over the tree with a moto KMS key; None when moto is not available."""
    try:
        import boto3
    except ImportError:
        print("  (boto3 not importable: aws-encryption-cli row skipped)")
        return None
    server, url = start_moto()
    try:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_KMS": url}
        kms = boto3.client("kms", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        out.mkdir()
        wall, _, _ = run_child([cli, "--encrypt", "--input", str(tree), "--recursive", "--output", str(out),
                                "--wrapping-keys", f"key={arn}", "--commitment-policy",
                                "require-encrypt-require-decrypt", "--suppress-metadata"], env)
        return wall
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    envelope_options(parser)
    parser.add_argument("--esdk-cli", default="/tmp/esdkcli/bin/aws-encryption-cli")
    envelope_bench(parser.parse_args(), "kmstui-bench-many-", bench)


def bench(args, tmp: Path, hsm: ReadmeHsm) -> None:
    tree = tmp / "tree"
    for i in range(args.files):
        d = tree / f"d{i // 1000:02}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05}").write_bytes(os.urandom(args.size))
    kms = hsm.kms
    # One command over a whole tree: what is measured is the cost per file, so every kmstui row runs in its own
    # process (KMSTUI_WARM=0), where its CPU is counted (a warm launcher's worker is not a child of the
    # measured process) and as the baselines run (a tree on PYTHONPATH is never run warm).
    own = {**hsm.env, "KMSTUI_WARM": "0"}
    envs = {"kmstui": own, **baseline_envs(args.baseline, own, tmp)}

    def contender(name: str, env: dict):
        enc, dec = tmp / f"{name}.enc", tmp / f"{name}.dec"

        def go():
            e = run_child([*kms, "envelope", "encrypt", str(tree), "-r", "--out", str(enc), "--key-id", "alias/bench",
                           "--output", "json", *CACHE], env)
            d = run_child([*kms, "envelope", "decrypt", str(enc), "-r", "--out", str(dec), "--output", "json"], env)
            calls = (json.loads(e[2])["Summary"]["BackendCalls"], json.loads(d[2])["Summary"]["BackendCalls"])
            shutil.rmtree(enc)
            shutil.rmtree(dec)
            return e[:2], d[:2], calls
        return go

    # Once, untimed against the others: backend calls without the cache (the claim is about calls).
    nocache = run_child([*kms, "envelope", "encrypt", str(tree), "-r", "--out", str(tmp / "nocache"), "--key-id",
                         "alias/bench", "--output", "json"], own)
    nocache_calls = json.loads(nocache[2])["Summary"]["BackendCalls"]
    shutil.rmtree(tmp / "nocache")
    cli_wall = None
    if Path(args.esdk_cli).exists():
        cli_wall = esdk_cli_run(args.esdk_cli, tree, tmp / "esdk-cli")
    else:
        print(f"  ({args.esdk_cli} not found: aws-encryption-cli row skipped)")

    n = args.files
    banner(f"Envelope encrypt/decrypt of {n} files of {args.size} B in {args.dir or tempfile.gettempdir()}, "
           f"data-key cache on ({args.rounds} interleaved rounds; median (min-max))",
           [hsm.describe(), "every kmstui command runs in its own process (KMSTUI_WARM=0): its CPU is counted"])
    results = interleaved(args.rounds, {name: contender(name, env) for name, env in envs.items()})
    print(f"{'run':<34}{'files/s':>24}{'CPU s':>8}{'backend calls':>15}")
    rates = {}
    for name, rounds in results.items():
        for i, verb in ((0, "encrypt"), (1, "decrypt")):
            fps = [n / r[i][0] for r in rounds]
            rates[(name, verb)] = median(fps)
            print(f"{name + ' ' + verb + ', cache':<34}{spread(fps, '{:.0f}'):>24}"
                  f"{median([r[i][1] for r in rounds]):8.2f}{rounds[-1][2][i]:15d}")
    print(f"{'kmstui encrypt, no cache (once)':<34}{n / nocache[0]:>24.0f}{nocache[1]:8.2f}{nocache_calls:15d}")
    if cli_wall:
        print(f"{'aws-encryption-cli encrypt (once)':<34}{n / cli_wall:>24.0f}{'':8}{n:>15}")
    cache_calls = results["kmstui"][-1][2][0]
    print(f"\nbackend calls with cache / without: {cache_calls / nocache_calls * 100:.2f} % (target <= 1 %)")
    for name in envs:
        if name == "kmstui":
            continue
        for i, verb in enumerate(("encrypt", "decrypt")):
            ratio = rates[("kmstui", verb)] / rates[(name, verb)]
            cpu = median([r[i][1] for r in results[name]]) / median([r[i][1] for r in results["kmstui"]])
            target = "   (issue 13 target >= 2x)" if name == "kmstui@248ed19" else ""
            print(f"files/s kmstui / {name}, {verb}: {ratio:.2f}x wall, {cpu:.2f}x CPU{target}")
    if cli_wall:
        print(f"files/s kmstui (cache) / aws-encryption-cli: {rates[('kmstui', 'encrypt')] * cli_wall / n:.1f}x "
              "(target >= 10x)")
    closing()


if __name__ == "__main__":
    main()
