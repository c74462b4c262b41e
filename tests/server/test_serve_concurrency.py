"""Many clients at once against one `kmstui serve`: 8 client processes run mixed operations (create keys,
aliases, grants; encrypt, decrypt, data keys; list) for ~10 s (30 s with --slow). Nothing is lost, no
answer is a 5xx, every client's request ids are in the audit log, and its chain verifies."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(600)

CLIENT = textwrap.dedent('''
    import json, sys, time, boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    url, region, akid, secret, seconds, me = sys.argv[1:7]
    kms = boto3.client("kms", endpoint_url=url, region_name=region, aws_access_key_id=akid,
                       aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    made = {"keys": [], "grants": [], "aliases": [], "requests": [], "server_errors": [], "calls": 0}
    end = time.time() + float(seconds)
    i = 0
    def call(fn, **kw):
        try:
            out = fn(**kw)
        except ClientError as exc:
            if exc.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
                made["server_errors"].append(str(exc))
            raise
        made["calls"] += 1
        made["requests"].append(out["ResponseMetadata"]["RequestId"])
        return out
    while time.time() < end:
        i += 1
        key = call(kms.create_key, Description=f"client {me} #{i}")["KeyMetadata"]["KeyId"]
        made["keys"].append(key)
        alias = f"alias/c{me}-{i}"
        call(kms.create_alias, AliasName=alias, TargetKeyId=key)
        made["aliases"].append(alias)
        ctx = {"client": me, "n": str(i)}
        for _ in range(5):
            blob = call(kms.encrypt, KeyId=alias, Plaintext=b"p" * 32, EncryptionContext=ctx)["CiphertextBlob"]
            assert call(kms.decrypt, CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"p" * 32
            call(kms.generate_data_key, KeyId=key, KeySpec="AES_256")
        grant = call(kms.create_grant, KeyId=key, GranteePrincipal=f"arn:aws:iam::{akid[:0]}111122223333:user/g{me}",
                     Operations=["Decrypt"])
        made["grants"].append([key, grant["GrantId"]])
        call(kms.list_grants, KeyId=key)
        call(kms.describe_key, KeyId=alias)
        if i % 3 == 0:
            call(kms.list_keys, Limit=50)
    print(json.dumps(made))
''')


def test_eight_clients_mixed_operations(kmstui_server, slow_mode):
    seconds = 30 if slow_mode else 10
    akid, secret = kmstui_server.root
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, kmstui_server.url, kmstui_server.region, akid, secret,
                               str(seconds), str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(8)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 240)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert not [e for r in results for e in r["server_errors"]]
    assert all(r["keys"] for r in results), "every client got work done"
    kms = kmstui_server.client()
    listed = {k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]}
    made_keys = [k for r in results for k in r["keys"]]
    assert set(made_keys) <= listed and len(set(made_keys)) == len(made_keys)
    aliases = {a["AliasName"]: a.get("TargetKeyId") for page in kms.get_paginator("list_aliases").paginate()
               for a in page["Aliases"]}
    for r in results:
        for key, alias in zip(r["keys"], r["aliases"]):
            assert aliases[alias] == key
        for key, grant_id in r["grants"]:
            assert [g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]] == [grant_id]
    admin = kmstui_server.admin()
    try:
        report = admin.verify_audit()
    finally:
        admin.close()
    assert report["Valid"], report
    logged = {json.loads(line).get("requestID")
              for line in (kmstui_server.store.parent / "hsm.kmstui.audit.jsonl").read_text().splitlines()}
    assert all(rid in logged for r in results for rid in r["requests"])
    assert sum(r["calls"] for r in results) > 8 * 20
