"""STS on `kmstui serve`: GetCallerIdentity and AssumeRole (trust policy in the authorization engine, session
credentials acting as the assumed-role ARN, expiry), through boto3's STS client."""

from __future__ import annotations

import datetime
import json
import threading
import time
from unittest import mock

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.timeout(300)


def _error(exc: ClientError) -> tuple[str, str, int]:
    e = exc.response["Error"]
    return e["Code"], e.get("Message", ""), exc.response["ResponseMetadata"]["HTTPStatusCode"]


def trust(*principals: str, actions=("sts:AssumeRole",)) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": list(actions)}]})


def test_get_caller_identity_for_users_and_root(kmstui_server):
    """UserId is the principal's aws:userid: an IAM user's unique id (AIDA...), the account id for the root
    (STS API reference, GetCallerIdentity)."""
    me = kmstui_server.client(service="sts").get_caller_identity()
    assert (me["Account"], me["Arn"], me["UserId"]) == (kmstui_server.account,
                                                        f"arn:aws:iam::{kmstui_server.account}:root",
                                                        kmstui_server.account)
    user = kmstui_server.client(kmstui_server.access_key("dora"), service="sts").get_caller_identity()
    assert user["Arn"] == f"arn:aws:iam::{kmstui_server.account}:user/dora" and user["UserId"].startswith("AIDA")


def test_assume_role_acts_as_the_session_and_policies_apply(kmstui_server):
    acct = kmstui_server.account
    user = f"arn:aws:iam::{acct}:user/ops"
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="deployer", PolicyDocument=trust(user))
        role_arn = f"arn:aws:iam::{acct}:role/deployer"
        admin.put_identity_policy(PrincipalArn=role_arn, PolicyName="encrypt", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}))
    finally:
        admin.close()
    key = kmstui_server.client().create_key()["KeyMetadata"]["KeyId"]
    sts = kmstui_server.client(kmstui_server.access_key("ops"), service="sts")
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci-run", DurationSeconds=900)
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and out["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{acct}:assumed-role/deployer/ci-run"
    assert 850 <= (c["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() <= 905
    creds = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    who = kmstui_server.client(creds, service="sts").get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{acct}:assumed-role/deployer/ci-run" and who["UserId"].endswith(":ci-run")
    kms = kmstui_server.client(creds)
    assert kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=key)
    assert _error(exc.value)[1].startswith(f"User: arn:aws:sts::{acct}:assumed-role/deployer/ci-run is not authorized "
                                           "to perform: kms:DescribeKey")
    forged = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"][:-8] + "AAAAAAA=")
    with pytest.raises(ClientError) as exc:
        kmstui_server.client(forged).list_keys()
    assert _error(exc.value)[0] == "UnrecognizedClientException"


def test_trust_policy_decides_who_may_assume(kmstui_server):
    """A trust policy naming only the account also needs the caller's identity policy to allow
    sts:AssumeRole (IAM policy evaluation logic); an unlisted caller gets AccessDenied (403)."""
    acct = kmstui_server.account
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="by-account", PolicyDocument=trust(acct))
    finally:
        admin.close()
    role_arn = f"arn:aws:iam::{acct}:role/by-account"
    sts = kmstui_server.client(kmstui_server.access_key("outsider"), service="sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert _error(exc.value) == ("AccessDenied", f"User: arn:aws:iam::{acct}:user/outsider is not authorized to "
                                 f"perform: sts:AssumeRole on resource: {role_arn}", 403)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/no-such-role", RoleSessionName="s1")
    assert _error(exc.value)[0] == "AccessDenied"
    assert kmstui_server.client(service="sts").assume_role(RoleArn=role_arn, RoleSessionName="as-root")["Credentials"]


def test_assume_role_input_checks(kmstui_server):
    acct = kmstui_server.account
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="checked", PolicyDocument=trust(acct, actions=("sts:AssumeRole",
                                                                                            "sts:TagSession")))
    finally:
        admin.close()
    sts = kmstui_server.client(service="sts")
    role_arn = f"arn:aws:iam::{acct}:role/checked"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="bad:name")
    assert _error(exc.value)[:1] == ("ValidationError",) and "roleSessionName" in _error(exc.value)[1]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="long", DurationSeconds=7200)
    assert _error(exc.value)[1] == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="tags", Tags=[{"Key": "a", "Value": "1"},
                                                                        {"Key": "A", "Value": "2"}])
    assert _error(exc.value)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="pol", Policy="{not json")
    assert _error(exc.value)[0] == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as exc:
        kmstui_server.client(("AKIAAAAAAAAAAAAAAAAA", "x" * 40), service="sts").get_caller_identity()
    assert _error(exc.value)[::2] == ("InvalidClientTokenId", 403)


# -- expiry, with the server's clock moved on (an in-process server) --------------------------------------------
@pytest.fixture
def clocked_server(unsealed_hsm):
    """The Handler and app of `kmstui serve` on unsealed_hsm, under uvicorn in a thread, with a clock the test
    moves; yields (url, backend, clock offset list)."""
    import socket

    import uvicorn

    from kmstui.server.app import KmsApp
    from kmstui.server.handler import Handler

    offset = [0.0]
    handler = Handler(unsealed_hsm, clock=lambda: time.time() + offset[0])
    app = KmsApp(handler, lambda record: None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    server.capture_signals = lambda: __import__("contextlib").nullcontext()  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", unsealed_hsm, offset
    server.should_exit = True
    thread.join(10)


def test_expired_session_is_refused(clocked_server):
    """Session credentials stop working at their Expiration: ExpiredTokenException, "The security token
    included in the request is expired" (reference §3.4)."""
    import boto3

    url, backend, offset = clocked_server
    root = backend.create_access_key()["AccessKey"]
    backend.put_role_trust_policy(RoleName="short", PolicyDocument=trust(backend.account_id))

    def client(service, creds):
        return boto3.client(service, endpoint_url=url, region_name=backend.region, aws_access_key_id=creds[0],
                            aws_secret_access_key=creds[1], aws_session_token=creds[2] if len(creds) > 2 else None)

    out = client("sts", (root["AccessKeyId"], root["SecretAccessKey"])).assume_role(
        RoleArn=f"arn:aws:iam::{backend.account_id}:role/short", RoleSessionName="brief", DurationSeconds=900)
    c = out["Credentials"]
    session = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert client("sts", session).get_caller_identity()["Arn"].endswith(":assumed-role/short/brief")
    offset[0] = 901
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=901)
    with mock.patch("botocore.auth.get_current_datetime", return_value=later):
        with pytest.raises(ClientError) as exc:
            client("kms", session).list_keys()
        assert _error(exc.value) == ("ExpiredTokenException", "The security token included in the request is expired",
                                     400)
        with pytest.raises(ClientError) as exc:
            client("sts", session).get_caller_identity()
        assert _error(exc.value)[::2] == ("ExpiredToken", 403)
        assert client("kms", (root["AccessKeyId"], root["SecretAccessKey"])).list_keys()["Keys"] == []


def test_session_policy_limits_the_session(kmstui_server):
    """Effective permissions of a session = the role's identity policies ∩ the session policy (STS API
    reference, AssumeRole: "The resulting session's permissions are the intersection of the role's
    identity-based policy and the session policies"); AWS names the session policy in the denial."""
    acct = kmstui_server.account
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="limited", PolicyDocument=trust(acct))
        admin.put_identity_policy(PrincipalArn=f"arn:aws:iam::{acct}:role/limited", PolicyName="both",
                                  PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                      {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"],
                                       "Resource": "*"}]}))
    finally:
        admin.close()
    key = kmstui_server.client().create_key()["KeyMetadata"]
    session_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})
    c = kmstui_server.client(service="sts").assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/limited", RoleSessionName="narrow", Policy=session_policy)["Credentials"]
    kms = kmstui_server.client((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert _error(exc.value)[1] == (f"User: arn:aws:sts::{acct}:assumed-role/limited/narrow is not authorized to "
                                    f"perform: kms:Encrypt on resource: {key['Arn']} because no session policy "
                                    "allows the kms:Encrypt action")
