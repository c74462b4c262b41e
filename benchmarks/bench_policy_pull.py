"""`kmstui policy pull` of N keys from a moto server vs a plain sequential boto3 script making the same calls.

Both are fresh processes each round: ListKeys and ListAliases (paged), then per key DescribeKey, GetKeyPolicy,
ListGrants and ListResourceTags, then DescribeOrganization (which moto answers "not in use"), writing one JSON
file per key policy and grant list. Every key has a policy, an alias, a tag and a grant. Target (issue 14):
ratio kmstui / boto3 wall time <= 1.0 (moto itself is the bottleneck). Interleaved rounds, medians (min-max).

Run by hand:  python benchmarks/bench_policy_pull.py [--keys 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from peers import AWS_ENV, banner, clean_env, closing, interleaved, kmstui_cmd, median, spread, start_moto, timed

PEER = r'''
import json, os, sys
import boto3
out = sys.argv[1]
kms = boto3.client("kms")
org = boto3.client("organizations")
keys = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]]
aliases = [a for page in kms.get_paginator("list_aliases").paginate() for a in page["Aliases"]]
for kid in keys:
    kms.describe_key(KeyId=kid)
    policy = json.loads(kms.get_key_policy(KeyId=kid, PolicyName="default")["Policy"])
    grants = [g for page in kms.get_paginator("list_grants").paginate(KeyId=kid) for g in page["Grants"]]
    tags = [t for page in kms.get_paginator("list_resource_tags").paginate(KeyId=kid) for t in page["Tags"]] \
        if hasattr(kms, "list_resource_tags") else []
    os.makedirs(f"{out}/{kid}", exist_ok=True)
    with open(f"{out}/{kid}/key-policy.json", "w") as fh:
        json.dump(policy, fh)
    with open(f"{out}/{kid}/grants.json", "w") as fh:
        json.dump({"Grants": grants}, fh, default=str)
try:
    org.describe_organization()
except Exception:
    pass
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000, help="keys on the server (default 1000)")
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()

    import boto3

    server, url = start_moto()
    work = Path(tempfile.mkdtemp(prefix="kmstui-bench-pull-"))
    env = {**clean_env(), **AWS_ENV, "AWS_ENDPOINT_URL": url}
    kenv = {**env, "KMSTUI_HOME": str(work / "home"), "NO_COLOR": "1"}
    try:
        kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        for i in range(opts.keys):
            kid = kms.create_key(Description=f"bench {i}", Tags=[{"TagKey": "n", "TagValue": str(i)}])["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=f"alias/bench-{i}", TargetKeyId=kid)
            kms.create_grant(KeyId=kid, GranteePrincipal="arn:aws:iam::123456789012:role/reader",
                             Operations=["Decrypt"])
        (work / "peer.py").write_text(PEER)
        kcmd = [*kmstui_cmd(), "--backend", "aws", "policy", "pull", "--out", str(work / "k"), "--force",
                "--output", "json"]
        pcmd = [sys.executable, str(work / "peer.py"), str(work / "p")]
        banner(f"policy pull of {opts.keys} keys from moto ({url}): kmstui vs sequential boto3; {opts.rounds} "
               "interleaved rounds of fresh processes, median (min-max) seconds")
        timed(kcmd, kenv), timed(pcmd, env)  # warm-up: OS file cache, bytecode
        got = json.loads((work / "k" / "manifest.json").read_text())
        assert len(got["Keys"]) == opts.keys, f"kmstui pulled {len(got['Keys'])} keys, not {opts.keys}"
        res = interleaved(opts.rounds, {"kmstui": lambda: timed(kcmd, kenv), "boto3": lambda: timed(pcmd, env)})
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    ratio = median(res["kmstui"]) / median(res["boto3"])
    print(f"kmstui policy pull : {spread(res['kmstui'])} s")
    print(f"boto3 sequential   : {spread(res['boto3'])} s")
    print(f"{'PASS' if ratio <= 1.0 else 'FAIL'}  kmstui / boto3 = {ratio:.2f}x (target <= 1.0)")
    closing()
    return 0 if ratio <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
