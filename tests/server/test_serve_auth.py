"""Authentication (SigV4 against the HSM's access keys) and authorization (the one engine) of `kmstui serve`,
and its answers to bad input: AWS's error codes, messages and statuses, and the server keeps serving."""

from __future__ import annotations

import datetime
import hashlib
import json
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

pytestmark = pytest.mark.timeout(300)


def _error(exc: ClientError) -> tuple[str, str, int]:
    e = exc.response["Error"]
    return e["Code"], e.get("Message", ""), exc.response["ResponseMetadata"]["HTTPStatusCode"]


def raw(server, body: bytes, headers: dict[str, str], *, sign: tuple | None = None, region: str | None = None,
        service: str = "kms", when: datetime.datetime | None = None) -> tuple[int, dict, dict]:
    """POST / with exactly these headers (signed with botocore when `sign` is given); (status, json, headers)."""
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers=headers)
    if sign is not None:
        auth = SigV4Auth(Credentials(*sign), service, region or server.region)
        if when is not None:
            from unittest import mock

            with mock.patch("botocore.auth.get_current_datetime", return_value=when):
                auth.add_auth(request)
        else:
            auth.add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body, method="POST", headers=dict(prepared.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return (exc.code, json.loads(text) if text.startswith(b"{") else {"raw": text.decode()},
                {k.lower(): v for k, v in exc.headers.items()})


KMS_HEADERS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"}


def assert_still_serving(server):
    assert server.client().list_keys()["ResponseMetadata"]["HTTPStatusCode"] == 200


# -- authentication -------------------------------------------------------------------------------------------
def test_wrong_secret_is_invalid_signature(kmstui_server):
    """AWS: InvalidSignatureException, "The request signature we calculated does not match the signature you
    provided. Check your AWS Secret Access Key and signing method." (reference §3.4)."""
    akid, _secret = kmstui_server.root
    with pytest.raises(ClientError) as exc:
        kmstui_server.client((akid, "x" * 40)).list_keys()
    code, message, status = _error(exc.value)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("The request signature we calculated does not match the signature you provided.")
    assert "x" * 40 not in kmstui_server.log()


def test_unknown_access_key_is_unrecognized_client(kmstui_server):
    with pytest.raises(ClientError) as exc:
        kmstui_server.client(("AKIAAAAAAAAAAAAAAAAA", "y" * 40)).list_keys()
    assert _error(exc.value) == ("UnrecognizedClientException",
                                 "The security token included in the request is invalid.", 400)


def test_deleted_access_key_stops_working(kmstui_server):
    creds = kmstui_server.access_key("leaver")
    admin = kmstui_server.admin()
    try:
        admin.delete_access_key(AccessKeyId=creds[0], UserName="leaver")
    finally:
        admin.close()
    with pytest.raises(ClientError) as exc:
        kmstui_server.client(creds).list_keys()
    assert _error(exc.value)[0] == "UnrecognizedClientException"


def test_missing_and_malformed_authorization(kmstui_server):
    status, body, headers = raw(kmstui_server, b"{}", KMS_HEADERS)
    assert (status, body["__type"]) == (400, "MissingAuthenticationTokenException") and headers["x-amzn-requestid"]
    status, body, _ = raw(kmstui_server, b"{}", {**KMS_HEADERS, "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x",
                                                 "X-Amz-Date": "20260101T000000Z"})
    assert (status, body["__type"]) == (400, "IncompleteSignatureException")
    assert "Authorization header requires 'SignedHeaders' parameter." in body["message"]
    assert_still_serving(kmstui_server)


def test_clock_skew_beyond_five_minutes_is_refused(kmstui_server):
    """AWS allows 5 minutes of skew either way; beyond it: InvalidSignatureException "Signature expired: ..."
    or "Signature not yet current: ..." (reference §3.3)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    for delta, words in ((-6, "Signature expired:"), (6, "Signature not yet current:")):
        status, body, _ = raw(kmstui_server, b"{}", dict(KMS_HEADERS), sign=kmstui_server.root,
                              when=now + datetime.timedelta(minutes=delta))
        assert (status, body["__type"]) == (400, "InvalidSignatureException") and body["message"].startswith(words)
    status, _body, _ = raw(kmstui_server, b"{}", dict(KMS_HEADERS), sign=kmstui_server.root,
                           when=now - datetime.timedelta(minutes=4))
    assert status == 200


def test_wrong_region_or_service_in_the_scope(kmstui_server):
    status, body, _ = raw(kmstui_server, b"{}", dict(KMS_HEADERS), sign=kmstui_server.root, region="eu-west-3")
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    assert "Credential should be scoped to a valid region, not 'eu-west-3'" in body["message"]
    status, body, _ = raw(kmstui_server, b"{}", dict(KMS_HEADERS), sign=kmstui_server.root, service="s3")
    assert (status, body["__type"]) == (400, "InvalidSignatureException")


def test_body_not_matching_the_signed_payload_hash(kmstui_server):
    """The signature covers the body's SHA-256: a body changed after signing, or an X-Amz-Content-SHA256
    that does not match the body, is refused."""
    request = AWSRequest(method="POST", url=kmstui_server.url + "/", data=b"{}", headers=dict(KMS_HEADERS))
    SigV4Auth(Credentials(*kmstui_server.root), "kms", kmstui_server.region).add_auth(request)
    headers = dict(request.prepare().headers.items())
    tampered = b'{"Limit": 1}'
    req = urllib.request.Request(kmstui_server.url + "/", data=tampered, method="POST",
                                 headers={**headers, "Content-Length": str(len(tampered))})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=30)
    assert exc.value.code == 400 and json.loads(exc.value.read())["__type"] == "InvalidSignatureException"
    status, body, _ = raw(kmstui_server, b"{}", {**KMS_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(b"x").hexdigest()},
                          sign=kmstui_server.root)
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    assert_still_serving(kmstui_server)


# -- bad input --------------------------------------------------------------------------------------------------
def test_bad_input_gets_aws_shaped_4xx_and_the_server_keeps_serving(kmstui_server):
    root = kmstui_server.root
    status, body, _ = raw(kmstui_server, b"{not json", dict(KMS_HEADERS), sign=root)
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body, _ = raw(kmstui_server, b"{}", {**KMS_HEADERS, "X-Amz-Target": "TrentService.Nope"}, sign=root)
    assert (status, body) == (400, {"__type": "UnknownOperationException"})
    status, body, _ = raw(kmstui_server, b"{}", {"Content-Type": "application/x-amz-json-1.1"}, sign=root)
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body, _ = raw(kmstui_server, b"{}", {"X-Amz-Target": "TrentService.ListKeys"}, sign=root)
    assert status == 400 and body["__type"] == "SerializationException"
    status, body, _ = raw(kmstui_server, b'{"Plaintext": "not base64!", "KeyId": "x"}',
                          {**KMS_HEADERS, "X-Amz-Target": "TrentService.Encrypt"}, sign=root)
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body, _ = raw(kmstui_server, b'{"Plaintext": "AA=="}', {**KMS_HEADERS, "X-Amz-Target": "TrentService.Encrypt"},
                          sign=root)
    assert (status, body["__type"]) == (400, "ValidationException")
    assert body["message"] == ("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
                               "Member must not be null")
    big = b'{"Description": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    status, body, _ = raw(kmstui_server, big, {**KMS_HEADERS, "X-Amz-Target": "TrentService.CreateKey"}, sign=root)
    assert status == 413 and body["__type"] == "ValidationException"
    assert_still_serving(kmstui_server)


# -- authorization ----------------------------------------------------------------------------------------------
def test_denied_principal_gets_awss_message(kmstui_server):
    """AWS: "User: ARN is not authorized to perform: kms:Decrypt on resource: KEY-ARN because no resource-based
    policy allows the kms:Decrypt action" (reference §5), and for operations on no key "... on resource: *
    because no identity-based policy allows ..." (aws-ia/terraform-aws-control_tower_account_factory#569)."""
    root = kmstui_server.client()
    key = root.create_key()["KeyMetadata"]
    ct = root.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    user = f"arn:aws:iam::{kmstui_server.account}:user/mallory"
    mallory = kmstui_server.client(kmstui_server.access_key("mallory"))
    with pytest.raises(ClientError) as exc:
        mallory.decrypt(CiphertextBlob=ct)
    code, message, status = _error(exc.value)
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (f"User: {user} is not authorized to perform: kms:Decrypt on resource: {key['Arn']} because "
                       "no identity-based policy allows the kms:Decrypt action")
    with pytest.raises(ClientError) as exc:
        mallory.create_key()
    assert _error(exc.value)[1] == (f"User: {user} is not authorized to perform: kms:CreateKey on resource: * because "
                                    "no identity-based policy allows the kms:CreateKey action")
    strict = root.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{kmstui_server.account}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": user}, "Action": "kms:DescribeKey", "Resource": "*"}]}))["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        mallory.describe_key(KeyId=strict["KeyId"])
    assert _error(exc.value)[1] == (f"User: {user} is not authorized to perform: kms:DescribeKey on resource: "
                                    f"{strict['Arn']} with an explicit deny in a resource-based policy")


def test_identity_policy_allows_and_the_audit_names_the_access_key(kmstui_server):
    root = kmstui_server.client()
    key = root.create_key()["KeyMetadata"]
    user = f"arn:aws:iam::{kmstui_server.account}:user/alice"
    admin = kmstui_server.admin()
    try:
        admin.put_identity_policy(PrincipalArn=user, PolicyName="use", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"],
                                                    "Resource": key["Arn"]}]}))
    finally:
        admin.close()
    creds = kmstui_server.access_key("alice")
    alice = kmstui_server.client(creds)
    out = alice.encrypt(KeyId=key["Arn"], Plaintext=b"secret-plaintext", EncryptionContext={"who": "alice"})
    rid = out["ResponseMetadata"]["RequestId"]
    assert alice.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"who": "alice"})["Plaintext"] == \
        b"secret-plaintext"
    events = [json.loads(line) for line in (kmstui_server.store.parent / "hsm.kmstui.audit.jsonl").read_text().splitlines()]
    event = next(e for e in events if e.get("requestID") == rid)
    assert event["userIdentity"]["type"] == "IAMUser" and event["userIdentity"]["accessKeyId"] == creds[0]
    assert event["userIdentity"]["arn"] == user and event["userIdentity"]["principalId"].startswith("AIDA")
    assert event["sourceIPAddress"] == "127.0.0.1" and event["userAgent"].startswith("Boto3/")
    assert event["requestParameters"] == {"keyId": key["Arn"], "encryptionContext": {"who": "alice"}}
    text = (kmstui_server.store.parent / "hsm.kmstui.audit.jsonl").read_text()
    assert creds[1] not in text and "secret-plaintext" not in text and creds[1] not in kmstui_server.log()


def test_source_ip_secure_transport_and_via_service_conditions(kmstui_server):
    """aws:SourceIp comes from the socket, aws:SecureTransport is false over plain HTTP, and an access key
    issued --via-service S sets kms:ViaService=S (and aws:ViaAWSService)."""
    acct = kmstui_server.account
    root = kmstui_server.client()
    user = f"arn:aws:iam::{acct}:user/svc"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "ViaS3", "Effect": "Allow", "Principal": {"AWS": user}, "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
        {"Sid": "Loopback", "Effect": "Allow", "Principal": {"AWS": user}, "Action": "kms:DescribeKey",
         "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "kms:GenerateDataKey", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    key = root.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    direct = kmstui_server.client(kmstui_server.access_key("svc"))
    via = kmstui_server.client(kmstui_server.access_key("svc", ViaService="s3.us-east-1.amazonaws.com"))
    with pytest.raises(ClientError) as exc:
        direct.encrypt(KeyId=key, Plaintext=b"x")
    assert _error(exc.value)[0] == "AccessDeniedException"
    assert via.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
    assert direct.describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key
    with pytest.raises(ClientError) as exc:
        root.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert "explicit deny in a resource-based policy" in _error(exc.value)[1]


def test_grant_tokens_in_the_request_are_checked(kmstui_server):
    root = kmstui_server.client()
    key = root.create_key()["KeyMetadata"]["KeyId"]
    user = f"arn:aws:iam::{kmstui_server.account}:user/grantee2"
    grant = root.create_grant(KeyId=key, GranteePrincipal=user, Operations=["Encrypt"])
    grantee = kmstui_server.client(kmstui_server.access_key("grantee2"))
    assert grantee.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=[grant["GrantToken"]])["KeyId"].endswith(key)
    with pytest.raises(ClientError) as exc:
        grantee.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=["forged-token"])
    assert _error(exc.value)[0] == "InvalidGrantTokenException"


def test_denials_are_explained_after_the_fact(kmstui_server):
    """`kmstui audit show --denied` lists the denied requests and `kmstui whatif --request-id ID` prints the
    decision trace the server kept for one."""
    import os
    import subprocess
    import sys

    root = kmstui_server.client()
    key = root.create_key()["KeyMetadata"]
    eve = kmstui_server.client(kmstui_server.access_key("eve"))
    with pytest.raises(ClientError) as exc:
        eve.describe_key(KeyId=key["KeyId"])
    rid = exc.value.response["ResponseMetadata"]["RequestId"]
    env = {**os.environ, "KMSTUI_HOME": str(kmstui_server.home), "KMSTUI_PASSPHRASE": "correct horse battery staple"}

    def kmstui(*args):
        proc = subprocess.run([sys.executable, "-m", "kmstui", *args], capture_output=True, text=True, env=env,
                              timeout=120)
        return proc

    shown = kmstui("audit", "show", "--denied", "--output", "json", "--limit", "100")
    assert shown.returncode == 0, shown.stderr
    events = json.loads(shown.stdout)["Events"]
    assert events and all(e["errorCode"] == "AccessDeniedException" for e in events)
    mine = next(e for e in events if e["requestID"] == rid)
    assert mine["additionalEventData"]["authorizationTrace"]["decision"] == "DENY"
    assert mine["userIdentity"]["arn"].endswith(":user/eve")
    explained = kmstui("whatif", "--request-id", rid, "--output", "text")
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("DENY: ") and "kms:DescribeKey" in explained.stdout
    missing = kmstui("whatif", "--request-id", "no-such-request")
    assert missing.returncode == 252 and "no request" in missing.stderr
