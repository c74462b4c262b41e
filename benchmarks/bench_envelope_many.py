"""Envelope encryption of many small files: backend calls and files/s with and without the data-key
cache (run by hand, not in CI).

Target (issue 3): 10,000 files of 4 KiB with caching on make <= 1 % of the backend calls made without
caching. If an aws-encryption-cli is installed in its own venv (--esdk-cli PATH, e.g.
`python3 -m venv /tmp/esdkcli && /tmp/esdkcli/bin/pip install aws-encryption-sdk-cli`), the same tree is
also encrypted by it against a moto KMS server on 127.0.0.1 (needs moto[server] in this interpreter), for
the files/s comparison (target >= 10x).

    python benchmarks/bench_envelope_many.py [--files 10000] [--size 4096] [--esdk-cli /tmp/esdkcli/bin/aws-encryption-cli]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed: {proc.stderr.strip()[-500:]}")
    return wall, proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def esdk_cli_run(cli: str, tree: Path, out: Path) -> float | None:
    """aws-encryption-cli over the tree with a moto KMS key; None when moto is not available."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("  (moto[server]/boto3 not importable: aws-encryption-cli row skipped)")
        return None
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
               "AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{port}"}
        kms = boto3.client("kms", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        out.mkdir()
        wall, _ = timed([cli, "--encrypt", "--input", str(tree), "--recursive", "--output", str(out),
                         "--wrapping-keys", f"key={arn}", "--commitment-policy", "require-encrypt-require-decrypt",
                         "--suppress-metadata"], env)
        return wall
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--esdk-cli", default="/tmp/esdkcli/bin/aws-encryption-cli")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kmstui-bench-many-"))
    env = {**os.environ, "KMSTUI_HOME": str(tmp / "home"), "KMSTUI_PASSPHRASE": "bench passphrase",
           "KMSTUI_KDF_COST": "10", "KMSTUI_PLUGINS": "envelope"}
    kms = [sys.executable, "-m", "kmstui"]
    subprocess.run([*kms, "hsm", "init"], env=env, check=True, capture_output=True)
    key = subprocess.run([*kms, "key", "create", "--query", "KeyMetadata.KeyId", "--output", "text"], env=env,
                         check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([*kms, "alias", "create", "alias/bench", key], env=env, check=True, capture_output=True)
    tree = tmp / "tree"
    for i in range(args.files):
        d = tree / f"d{i // 1000:02}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05}").write_bytes(os.urandom(args.size))

    rows = {}
    for name, extra in (("no cache", []), ("cache", ["--cache-max-messages", "100000", "--cache-max-age", "600"])):
        out = tmp / name.replace(" ", "-")
        wall, stdout = timed([*kms, "envelope", "encrypt", str(tree), "-r", "--out", str(out),
                              "--key-id", "alias/bench", "--output", "json", *extra], env)
        summary = json.loads(stdout)["Summary"]
        rows[name] = (wall, summary["BackendCalls"])
    dec_wall, stdout = timed([*kms, "envelope", "decrypt", str(tmp / "cache"), "-r", "--out", str(tmp / "dec"),
                              "--output", "json"], env)
    dec_calls = json.loads(stdout)["Summary"]["BackendCalls"]
    cli_wall = None
    if Path(args.esdk_cli).exists():
        cli_wall = esdk_cli_run(args.esdk_cli, tree, tmp / "esdk-cli")
    else:
        print(f"  ({args.esdk_cli} not found: aws-encryption-cli row skipped)")

    n = args.files
    print(f"{n} files of {args.size} B, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'run':<32}{'wall s':>9}{'files/s':>10}{'backend calls':>15}")
    for name, (wall, calls) in rows.items():
        print(f"{'kmstui encrypt, ' + name:<32}{wall:9.2f}{n / wall:10.0f}{calls:15d}")
    print(f"{'kmstui decrypt (discovery)':<32}{dec_wall:9.2f}{n / dec_wall:10.0f}{dec_calls:15d}")
    if cli_wall:
        print(f"{'aws-encryption-cli encrypt':<32}{cli_wall:9.2f}{n / cli_wall:10.0f}{n:>15}")
    ratio = rows["cache"][1] / rows["no cache"][1]
    print(f"\nbackend calls with cache / without: {ratio * 100:.2f} % (target <= 1 %)")
    if cli_wall:
        print(f"files/s kmstui (cache) / aws-encryption-cli: {cli_wall / rows['cache'][0]:.1f}x (target >= 10x)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
