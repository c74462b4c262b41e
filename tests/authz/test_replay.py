"""Recorded requests: CloudTrail events and log files, kmstui's audit lines, scenarios; diffing decisions."""

import gzip
import json

from kmstui.authz import evaluate
from kmstui.authz.replay import diff, iter_requests, request_from_event

from .helpers import ACCT, KEY, ROLE, ROOT_STMT, SESSION, allow, policy

EVENT = {
    "eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "awsRegion": "us-east-1",
    "sourceIPAddress": "203.0.113.9",
    "userIdentity": {"type": "AssumedRole", "arn": SESSION, "accountId": ACCT,
                     "sessionContext": {"sessionIssuer": {"arn": ROLE}}},
    "requestParameters": {"encryptionContext": {"app": "web"}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
    "resources": [{"accountId": ACCT, "type": "AWS::KMS::Key", "ARN": KEY}],
}


def test_cloudtrail_event_to_request():
    r = request_from_event(EVENT)
    assert (r.principal, r.action, r.key_arn, r.caller_account) == (SESSION, "kms:Decrypt", KEY, ACCT)
    assert r.encryption_context == {"app": "web"}
    assert r.context == {"aws:PrincipalArn": ROLE, "aws:SourceIp": "203.0.113.9"}


def test_via_service_and_service_events():
    ev = json.loads(json.dumps(EVENT))
    ev["userIdentity"]["invokedBy"] = "s3.amazonaws.com"
    ev["sourceIPAddress"] = "s3.amazonaws.com"
    assert request_from_event(ev).context["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    svc = {**EVENT, "userIdentity": {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}}
    assert request_from_event(svc).principal == "cloudtrail.amazonaws.com"
    assert request_from_event({**EVENT, "eventType": "AwsServiceEvent"}) is None
    assert request_from_event({**EVENT, "eventSource": "s3.amazonaws.com"}) is None


def test_files_in_every_shape(tmp_path):
    lines = tmp_path / "audit.jsonl"
    lines.write_text("\n".join(json.dumps({**EVENT, "seq": i, "hash": "x"}) for i in range(3)) + "\nnot json\n")
    problems = []
    assert len(list(iter_requests(lines, on_error=problems.append))) == 3 and len(problems) == 1
    log = tmp_path / "ct.json.gz"
    with gzip.open(log, "wt") as fh:
        json.dump({"Records": [EVENT, EVENT, {"eventName": "PutObject", "eventSource": "s3.amazonaws.com"}]}, fh)
    assert len(list(iter_requests(log))) == 2
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps([EVENT], indent=2))
    assert len(list(iter_requests(pretty))) == 1
    sc = tmp_path / "s.scenario.json"
    sc.write_text(json.dumps([{"key_policy": {}, "request": {"principal": SESSION, "action": "kms:Encrypt", "key_arn": KEY}}],
                             indent=1))
    assert [r.action for r in iter_requests(sc)] == ["kms:Encrypt"]


def test_diff_lists_changes_once_per_distinct_request():
    current = policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:Decrypt"))
    proposed = policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:Decrypt", {"StringEquals": {"kms:EncryptionContext:app": "db"}}))
    reqs = [request_from_event(EVENT)] * 5
    other = json.loads(json.dumps(EVENT))
    other["requestParameters"]["encryptionContext"] = {"app": "db"}
    reqs.append(request_from_event(other))
    changes, total, distinct = diff(reqs, lambda r: evaluate(current, [], [], r), lambda r: evaluate(proposed, [], [], r))
    assert (total, distinct, len(changes)) == (6, 2, 1)
    c = changes[0]
    assert (c.before.decision, c.after.decision, c.count) == ("ALLOW", "DENY", 5)


def test_projection_groups_only_requests_with_equal_decisions():
    import random

    from kmstui.authz import Request
    from kmstui.authz.grants import GrantSet
    from kmstui.authz.replay import projection, request_key

    kp = policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:Decrypt", {"StringEquals": {"kms:EncryptionContext:App": "web"}}),
                allow("*", "kms:Encrypt", {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "tenant"},
                                           "StringEquals": {"aws:SourceIp": "10.0.0.1"}}))
    from kmstui.authz import compile_policy

    compiled = compile_policy(kp)
    key = projection([compiled], GrantSet(()))
    rng = random.Random(3)
    seen = {}
    full = set()
    for _ in range(3000):
        ec = {rng.choice(["app", "App", "tenant", "x"]): rng.choice(["web", "db", "t1"]) for _ in range(rng.randrange(3))}
        ctx = {rng.choice(["aws:SourceIp", "AWS:sourceip"]): rng.choice(["10.0.0.1", "10.0.0.2"])} if rng.random() < .5 else {}
        r = Request(rng.choice([SESSION, f"arn:aws:iam::{ACCT}:user/u"]), rng.choice(["kms:Decrypt", "kms:Encrypt"]),
                    KEY, encryption_context=ec, context=ctx)
        d = evaluate(compiled, [], [], r).allowed
        assert seen.setdefault(key(r), d) == d
        full.add(request_key(r))
    assert len(seen) < len(full) / 2  # the value of "x" and of unrelated pairs does not split shapes
