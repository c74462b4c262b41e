"""Decisions per second for a 10-statement key policy with conditions (target: >= 100,000/s on one core), and
the same requests inside an organization of 3 levels (root > OU > OU > account) with 6 SCPs, an RCP, a
permissions boundary and an identity policy (target: >= 50,000/s).

Run by hand: python benchmarks/bench_authz.py [--rounds 5]
Peers measured side by side in interleaved rounds: the same engine with the policy recompiled per request
(what a naive evaluator pays; target: compiled >= 40x), and trace building (what `whatif` pays per
request); medians and min-max of CPU-time rates, ratios against the targets.
"""

from __future__ import annotations

import argparse
import itertools
import time

from kmstui.authz import Request, compile_policy, evaluate
from kmstui.authz.org import Organization, make_layers
from peers import banner, closing, interleaved, median, spread

ACCT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:role/KeyAdmin"},
         "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"], "Resource": "*"},
        {"Sid": "Users", "Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{ACCT}:role/App",
                                                                    f"arn:aws:iam::{ACCT}:user/alice"]},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:app": ["web", "api"]}}},
        {"Sid": "ViaS3", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
         "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": ACCT,
                                                          "kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
        {"Sid": "Grants", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:role/App"},
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}},
        {"Sid": "DenyOutsideVpc", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
                       "Bool": {"aws:ViaAWSService": "false"}}},
        {"Sid": "DenyOldTls", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
         "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 0}}},
        {"Sid": "External", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
         "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
         "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::444455556666:role/reader-*"}}},
        {"Sid": "Tagged", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["tenant"]},
                       "StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}},
        {"Sid": "Dated", "Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
         "Condition": {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
    ],
}

REQUESTS = [
    Request(f"arn:aws:sts::{ACCT}:assumed-role/App/s1", "kms:Decrypt", KEY, encryption_context={"app": "web"},
            context={"aws:SourceIp": "10.1.2.3"}),
    Request(f"arn:aws:iam::{ACCT}:user/alice", "kms:Encrypt", KEY, encryption_context={"app": "db"}),
    Request(f"arn:aws:iam::{ACCT}:user/bob", "kms:GenerateDataKey", KEY,
            context={"kms:ViaService": "s3.us-east-1.amazonaws.com"}),
    Request("arn:aws:sts::444455556666:assumed-role/reader-1/x", "kms:Decrypt", KEY,
            context={"aws:SourceIp": "192.168.1.1"}),
    Request(f"arn:aws:iam::{ACCT}:role/KeyAdmin", "kms:PutKeyPolicy", KEY),
    Request("arn:aws:iam::999988887777:user/mallory", "kms:ScheduleKeyDeletion", KEY),
]


ORG_ID = "o-abc123def4"
ALLOW_KMS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def _doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


SCPS = [  # 6 SCPs: FullAWSAccess at the root, allow-lists below, two deny-lists
    ("root", "FullAWSAccess", _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
    ("ou:Prod", "KmsAndS3", _doc({"Effect": "Allow", "Action": ["kms:*", "s3:*"], "Resource": "*"})),
    ("ou:Prod", "NoKeyDeletion", _doc({"Effect": "Deny", "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey"],
                                       "Resource": "*"})),
    ("ou:Finance", "CryptoAndAdmin", _doc({"Effect": "Allow", "NotAction": ["kms:ImportKeyMaterial"],
                                           "Resource": "*"})),
    ("ou:Finance", "RegionLock", _doc({"Effect": "Deny", "Action": "kms:*", "Resource": "*", "Condition": {
        "StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}})),
    (f"account:{ACCT}", "AccountKms", _doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})),
]
RCPS = [("root", "Perimeter", _doc({"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
                                     "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID},
                                                   "Bool": {"aws:PrincipalIsAWSService": "false"}}}))]
BOUNDARY = _doc({"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*",
                                               "kms:DescribeKey", "kms:PutKeyPolicy"], "Resource": "*"})


def organization() -> Organization:
    return Organization.from_dict(
        {"id": ORG_ID, "management_account": "999999999999", "member_accounts": [ACCT, "444455556666"],
         "ous": [{"name": "Prod", "parent": "root", "accounts": ["444455556666"]},
                 {"name": "Finance", "parent": "Prod", "accounts": [ACCT]}]},
        scps=[{"target": t, "PolicyName": n, "PolicyDocument": d} for t, n, d in SCPS],
        rcps=[{"target": t, "PolicyName": n, "PolicyDocument": d} for t, n, d in RCPS])


def rate(fn, n: int) -> float:
    reqs = itertools.islice(itertools.cycle(REQUESTS), n)
    t0 = time.process_time()  # CPU time of this process: one core, robust to other load on the machine
    for r in reqs:
        fn(r)
    return n / (time.process_time() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    compiled = compile_policy(POLICY)
    assert len(compiled.statements) == 10
    iam = [compile_policy(ALLOW_KMS, "iam")]
    layers = make_layers(organization(), BOUNDARY, None)
    print("decisions:", [evaluate(compiled, [], [], r).decision for r in REQUESTS])
    print("with the organization:", [evaluate(compiled, iam, [], r, layers=layers).decision for r in REQUESTS])
    rate(lambda r: evaluate(compiled, [], [], r), 20_000)  # warm caches
    rate(lambda r: evaluate(compiled, iam, [], r, layers=layers), 20_000)
    banner(f"Authorization decisions per CPU second, 10-statement key policy with conditions, {args.rounds} "
           "interleaved rounds; median (min-max)")
    results = interleaved(args.rounds, {
        "compiled": lambda: rate(lambda r: evaluate(compiled, [], [], r), 100_000),
        "organization": lambda: rate(lambda r: evaluate(compiled, iam, [], r, layers=layers), 50_000),
        "naive": lambda: rate(lambda r: evaluate(compile_policy(POLICY), [], [], r), 5_000),
        "traced": lambda: rate(lambda r: evaluate(compiled, [], [], r).trace, 5_000),
    })
    fast, org, naive, traced = (median(results[k]) for k in ("compiled", "organization", "naive", "traced"))
    print(f"compiled policy, evaluate():          {spread(results['compiled'], '{:,.0f}'):>34} decisions/s "
          f"({fast / 100_000:.2f}x the 100,000/s target)")
    print(f"organization, 6 SCPs, RCP, boundary:  {spread(results['organization'], '{:,.0f}'):>34} decisions/s "
          f"({org / 50_000:.2f}x the 50,000/s target)")
    print(f"recompiled per request (naive peer):  {spread(results['naive'], '{:,.0f}'):>34} decisions/s "
          f"(compiled is {fast / naive:.0f}x faster; target >= 40x)")
    print(f"with full trace built:                {spread(results['traced'], '{:,.0f}'):>34} decisions/s "
          f"(compiled without trace is {fast / traced:.0f}x faster)")
    closing()


if __name__ == "__main__":
    main()
