"""Cold `kmstui --backend aws encrypt ...` vs `aws kms encrypt ...` against the same moto server, measured side
by side in one run (fresh processes each round, medians). Target: kmstui <= 0.7x the AWS CLI.

Also re-runs the `key list` comparison with both programs on moto: `kmstui --backend aws key list --output json`
(ListKeys, as `aws kms list-keys`: ids and ARNs; only a table describes each key) vs `aws kms list-keys`, printed
for reference.

Run by hand:  python benchmarks/bench_cold_encrypt_aws.py [--rounds 9] [--keys 5]

The AWS CLI (the `awscli` package from PyPI) is installed into its own venv under /tmp on first use. moto runs
in this process on 127.0.0.1; both programs get the same dummy credentials and AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from peers import AWS_ENV, aws_cli, banner, clean_env, closing, kmstui_cmd, spread, start_moto, timed


def compare(name: str, kcmd: list[str], kenv: dict, acmd: list[str], aenv: dict, rounds: int) -> float:
    timed(kcmd, kenv), timed(acmd, aenv)  # warm the OS file cache for both
    ktimes, atimes = [], []
    for _ in range(rounds):  # interleaved, so machine load hits both alike
        ktimes.append(timed(kcmd, kenv))
        atimes.append(timed(acmd, aenv))
    k, a = statistics.median(ktimes), statistics.median(atimes)
    print(f"{name}: kmstui {spread([t * 1000 for t in ktimes], '{:.1f}')} ms   aws "
          f"{spread([t * 1000 for t in atimes], '{:.1f}')} ms   ratio kmstui/aws {k / a:.2f}")
    return k / a


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--keys", type=int, default=5, help="keys on the server for the key list comparison")
    opts = parser.parse_args()

    import boto3

    aws = aws_cli()
    server, url = start_moto()
    home = Path(tempfile.mkdtemp(prefix="kmstui-bench-"))
    base_env = clean_env()
    env = {**base_env, **AWS_ENV, "AWS_ENDPOINT_URL": url}
    kenv = {**env, "KMSTUI_HOME": str(home), "NO_COLOR": "1"}
    kms = kmstui_cmd()
    try:
        client = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        key_id = client.create_key(Description="bench")["KeyMetadata"]["KeyId"]
        for i in range(opts.keys - 1):
            client.create_key(Description=f"bench {i}")
        plaintext = home / "plaintext.bin"
        plaintext.write_bytes(b"\x42" * 32)
        banner(f"Cold kmstui --backend aws vs aws CLI on moto ({url}); {opts.rounds} interleaved rounds of fresh "
               "processes, median (min-max)")
        ratio = compare(
            "encrypt 32 B",
            [*kms, "--backend", "aws", "encrypt", "--key-id", key_id, "--in", str(plaintext),
             "--context", "purpose=bench", "--output", "json"], kenv,
            [str(aws), "kms", "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{plaintext}",
             "--encryption-context", "purpose=bench", "--output", "json"], env, opts.rounds)
        compare(f"key list ({opts.keys} keys)", [*kms, "--backend", "aws", "key", "list", "--output", "json"], kenv,
                [str(aws), "kms", "list-keys", "--output", "json"], env, opts.rounds)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(f"{'PASS' if ratio <= 0.7 else 'FAIL'}  cold encrypt kmstui <= 0.7x aws: {ratio:.2f}x")
    closing()
    return 0 if ratio <= 0.7 else 1


if __name__ == "__main__":
    sys.exit(main())
