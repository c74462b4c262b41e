"""`whatif --cloudtrail EVENT.json` (issue 14 item 6): the request a CloudTrail record describes, decided
against given policies and layers, compared with what AWS recorded."""

from __future__ import annotations

import gzip
import json

import pytest

from kmstui.errors import UsageError
from kmstui.session import Session

ACCT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{ACCT}:role/App"
ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def event(error=None, event_id="e1", key_id="alias/app", name="Decrypt"):
    rec = {"eventVersion": "1.08", "eventID": event_id, "eventTime": "2026-12-06T08:00:00Z",
           "eventSource": "kms.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
           "sourceIPAddress": "10.1.2.3",
           "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCT}:assumed-role/App/s1",
                            "accountId": ACCT, "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}},
           "requestParameters": {"keyId": key_id, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                                 "encryptionContext": {"app": "web"}},
           "resources": [{"ARN": KEY, "accountId": ACCT, "type": "AWS::KMS::Key"}]}
    if error:
        rec["errorCode"], rec["errorMessage"] = error, "User is not authorized"
    return rec


@pytest.fixture
def files(tmp_path):
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*", "Resource": "*"}]}))
    iam = tmp_path / "iam.json"
    iam.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:RequestAlias": "alias/app"}}}]}))
    layers = tmp_path / "layers.json"
    layers.write_text(json.dumps({
        "organization": {"id": "o-a1b2c3d4e5", "management_account": "999999999999", "member_accounts": [ACCT]},
        "scps": [{"target": "root", "PolicyName": "NoDecrypt", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}}]}))
    return tmp_path, kp, iam, layers


def run(*words):
    s = Session()
    try:
        return s.execute([str(w) for w in words])
    finally:
        s.close()


def test_a_recorded_success_is_explained_with_the_alias_it_named(files):
    tmp, kp, iam, _ = files
    f = tmp / "ok.json"
    f.write_text(json.dumps(event()))
    r = run("whatif", "--cloudtrail", f, "--key-policy", kp, "--iam-policy", iam)
    assert r.data["Decision"] == "ALLOW" and r.data["Agrees"] is True
    assert r.data["Recorded"]["ErrorCode"] is None and "agrees with" in r.text
    assert r.data["Trace"]["request"]["key_arn"] == KEY


def test_an_access_denied_record_is_explained_by_the_scp(files):
    tmp, kp, iam, layers = files
    f = tmp / "log.json.gz"
    with gzip.open(f, "wt") as fh:
        json.dump({"Records": [event("AccessDenied", "e2"), event(None, "e3", KEY)]}, fh)
    with pytest.raises(UsageError, match="2 KMS records; pick one with --event-id"):
        run("whatif", "--cloudtrail", f, "--key-policy", kp, "--iam-policy", iam)
    r = run("whatif", "--cloudtrail", f, "--event-id", "e2", "--key-policy", kp, "--iam-policy", iam,
            "--layers", layers)
    assert r.data["Decision"] == "DENY" and r.data["Agrees"] and r.data["Trace"]["layer"] == "scp"
    # the same record without the organization: kmstui would allow, so it says the answers differ
    r = run("whatif", "--cloudtrail", f, "--event-id", "e2", "--key-policy", kp, "--iam-policy", iam)
    assert r.data["Decision"] == "ALLOW" and r.data["Agrees"] is False and "DIFFERS" in r.text
    # named by key ARN: kms:RequestAlias is absent, the IAM condition fails
    r = run("whatif", "--cloudtrail", f, "--event-id", "e3", "--key-policy", kp, "--iam-policy", iam)
    assert r.data["Decision"] == "DENY"


@pytest.mark.parametrize("content,needle", [("{", "not JSON"), (json.dumps({"Records": []}), "no KMS record"),
                                            (json.dumps(event(event_id="x")), None)])
def test_bad_cloudtrail_files_are_one_line(files, content, needle):
    tmp, kp, iam, _ = files
    f = tmp / "bad.json"
    f.write_text(content)
    if needle is None:  # a good record but no key policy given
        with pytest.raises(UsageError, match="needs the key's policy"):
            run("whatif", "--cloudtrail", f)
        return
    with pytest.raises(UsageError, match=needle):
        run("whatif", "--cloudtrail", f, "--key-policy", kp)
