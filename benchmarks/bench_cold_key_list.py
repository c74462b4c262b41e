"""Cold `kmstui key list --output json` (local HSM, unsealed by the agent) vs `aws kms list-keys` against a
local moto server, measured side by side in one run. Target: kmstui <= 0.5x the AWS CLI.

Run by hand:  python benchmarks/bench_cold_key_list.py [--keys 5] [--rounds 9]

The AWS CLI (the `awscli` package from PyPI) is installed into its own venv under /tmp on first use.
Each round starts both programs as fresh processes (cold interpreter, warm OS file cache) and the
medians are compared. Everything binds 127.0.0.1; the kmstui side uses a throwaway KMSTUI_HOME.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from peers import AWS_ENV, aws_cli, banner, clean_env, closing, kmstui_cmd, spread, start_moto, timed

PASSPHRASE = "benchmark passphrase"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=9)
    opts = parser.parse_args()

    import boto3

    aws = aws_cli()
    server, url = start_moto()
    home = Path(tempfile.mkdtemp(prefix="kmstui-bench-"))
    base_env = clean_env()
    kenv = {**base_env, "KMSTUI_HOME": str(home), "NO_COLOR": "1"}
    kms = kmstui_cmd()
    try:
        client = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        for i in range(opts.keys):
            client.create_key(Description=f"bench {i}")

        setup = {**kenv, "KMSTUI_PASSPHRASE": PASSPHRASE}
        subprocess.run([*kms, "hsm", "init"], env=setup, check=True, capture_output=True)
        for i in range(opts.keys):
            subprocess.run([*kms, "key", "create", "--description", f"bench {i}"], env=setup, check=True,
                           capture_output=True)
        subprocess.run([*kms, "hsm", "unseal"], env=setup, check=True, capture_output=True)

        kcmd = [*kms, "key", "list", "--output", "json"]  # no KMSTUI_PASSPHRASE: the agent unseals
        acmd = [str(aws), "kms", "list-keys", "--endpoint-url", url, "--output", "json"]
        aenv = {**base_env, **AWS_ENV}
        banner(f"Cold key list: kmstui (local HSM, README flow: default KDF cost, unseal agent) vs aws CLI on moto; "
               f"{opts.keys} keys per store, {opts.rounds} interleaved rounds, median (min-max) of cold process starts")
        timed(kcmd, kenv), timed(acmd, aenv)  # warm the OS file cache for both
        ktimes, atimes = [], []
        for _ in range(opts.rounds):
            ktimes.append(timed(kcmd, kenv))
            atimes.append(timed(acmd, aenv))
        k, a = statistics.median(ktimes), statistics.median(atimes)
        print(f"kmstui key list --output json (local HSM via agent): {spread([t * 1000 for t in ktimes], '{:.1f}')} ms")
        print(f"aws kms list-keys (moto on {url}):        {spread([t * 1000 for t in atimes], '{:.1f}')} ms")
        ratio = k / a
        print(f"ratio kmstui/aws = {ratio:.2f}  (target <= 0.50: {'met' if ratio <= 0.5 else 'NOT met'})")
        closing()
    finally:
        subprocess.run([*kms, "hsm", "seal"], env=kenv, capture_output=True)
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
