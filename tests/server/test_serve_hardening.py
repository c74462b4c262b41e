"""What an attacker tried against `kmstui serve` and must keep failing at (one test per finding of the review):
spoofed client addresses, sessions outliving their role, session revocation, caller-chosen names with control
characters, browser requests under --insecure-anonymous-as, input that crashed the handler, and the CLI
command that makes roles."""

from __future__ import annotations

import datetime
import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

pytestmark = pytest.mark.timeout(300)

KMS = {"Content-Type": "application/x-amz-json-1.1"}


def _error(exc: ClientError) -> tuple[str, str, int]:
    e = exc.response["Error"]
    return e["Code"], e.get("Message", ""), exc.response["ResponseMetadata"]["HTTPStatusCode"]


def post(server, operation: str, body: bytes = b"{}", *, sign: tuple | None = None,
         extra: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST one KMS request (signed with botocore when `sign` is given), adding `extra` headers after signing."""
    request = AWSRequest(method="POST", url=server.url + "/", data=body,
                         headers={**KMS, "X-Amz-Target": f"TrentService.{operation}"})
    if sign is not None:
        SigV4Auth(Credentials(*sign), "kms", server.region).add_auth(request)
    headers = {**dict(request.prepare().headers.items()), **(extra or {})}
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def trust(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}]})


def audit_event(server, request_id: str) -> dict:
    from kmstui import audit

    path = server.store.with_name(server.store.name + ".audit.jsonl")
    for _ in range(50):
        found = [e for e in audit.read_events(path) if e.get("requestID") == request_id]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no audit line for {request_id}")


# -- aws:SourceIp is the socket's address, never a header ------------------------------------------------------
def test_x_forwarded_for_does_not_set_the_source_ip(kmstui_server):
    """aws:SourceIp: "Use this key to compare the requester's IP address with the IP address that you specify in
    the policy" (IAM global condition keys). A header the client writes is not the requester's address: uvicorn
    trusted X-Forwarded-For from 127.0.0.1 peers, so any local client could satisfy an IpAddress condition."""
    acct = kmstui_server.account
    creds = kmstui_server.access_key("fromoffice")
    admin = kmstui_server.admin()
    try:
        admin.put_identity_policy(PrincipalArn=f"arn:aws:iam::{acct}:user/fromoffice", PolicyName="office-only",
                                  PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                      {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*",
                                       "Condition": {"IpAddress": {"aws:SourceIp": "10.1.2.3/32"}}}]}))
    finally:
        admin.close()
    for header in ({"X-Forwarded-For": "10.1.2.3"}, {"Forwarded": "for=10.1.2.3"}, {"X-Real-IP": "10.1.2.3"}):
        status, body = post(kmstui_server, "ListKeys", sign=creds, extra=header)
        assert (status, body["__type"]) == (400, "AccessDeniedException"), header
    with pytest.raises(ClientError) as exc:
        kmstui_server.client(creds).list_keys()
    event = audit_event(kmstui_server, exc.value.response["ResponseMetadata"]["RequestId"])
    assert event["sourceIPAddress"] == "127.0.0.1"


# -- sessions: revocation and the role's lifetime ---------------------------------------------------------------
def test_revoking_older_sessions_with_token_issue_time_works(kmstui_server):
    """AWS's "Revoke active sessions" attaches a Deny with DateLessThan on aws:TokenIssueTime: "It includes a
    condition that applies the restrictions only if the user assumed the role before the point in time when you
    revoke the permissions" (IAM User Guide, Revoke IAM role temporary security credentials); "If the user is
    using temporary credentials, then the key aws:TokenIssueTime exists and has a value". Without the key the
    Deny never matched and revoked sessions kept working."""
    acct = kmstui_server.account
    role = f"arn:aws:iam::{acct}:role/revoked"
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="revoked", PolicyDocument=trust(acct))
        admin.put_identity_policy(PrincipalArn=role, PolicyName="use", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}))
    finally:
        admin.close()
    sts = kmstui_server.client(service="sts")
    c = sts.assume_role(RoleArn=role, RoleSessionName="before")["Credentials"]
    old = kmstui_server.client((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    assert old.list_keys()["ResponseMetadata"]["HTTPStatusCode"] == 200
    cutoff = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    admin = kmstui_server.admin()
    try:
        admin.put_identity_policy(PrincipalArn=role, PolicyName="AWSRevokeOlderSessions", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                                                     "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]}))
    finally:
        admin.close()
    time.sleep(0.3)  # the server sees another process's identity-policy change within 50 ms (AWS: minutes)
    with pytest.raises(ClientError) as exc:
        old.list_keys()
    assert _error(exc.value)[0] == "AccessDeniedException" and "explicit deny" in _error(exc.value)[1]
    time.sleep(3)  # a session issued after the cut-off is not revoked
    c = sts.assume_role(RoleArn=role, RoleSessionName="after")["Credentials"]
    fresh = kmstui_server.client((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    assert fresh.list_keys()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_session_does_not_outlive_its_role_or_become_a_new_role_of_the_same_name(kmstui_server):
    """A role made again under the same name is a new role (a new RoleId); the sessions of the deleted one must
    not act as it. Before the fix a session kept working after delete-role and after the role was re-created."""
    acct = kmstui_server.account
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="ephemeral", PolicyDocument=trust(acct))
    finally:
        admin.close()
    c = kmstui_server.client(service="sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/ephemeral",
                                                        RoleSessionName="s1")["Credentials"]
    session = kmstui_server.client((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), service="sts")
    assert session.get_caller_identity()["Arn"].endswith(":assumed-role/ephemeral/s1")
    admin = kmstui_server.admin()
    try:
        admin.delete_role(RoleName="ephemeral")
    finally:
        admin.close()
    with pytest.raises(ClientError) as exc:
        session.get_caller_identity()
    assert _error(exc.value)[::2] == ("InvalidClientTokenId", 403)
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="ephemeral", PolicyDocument=trust(acct))
    finally:
        admin.close()
    with pytest.raises(ClientError) as exc:
        session.get_caller_identity()
    assert _error(exc.value)[::2] == ("InvalidClientTokenId", 403)


def test_session_names_and_source_identity_follow_stss_ascii_pattern(kmstui_server):
    """RoleSessionName: "a string of characters consisting of upper- and lower-case alphanumeric characters with
    no spaces. You can also include underscores or any of the following characters: =,.@-" (STS API reference,
    AssumeRole; SourceIdentity the same). A trailing newline or non-ASCII letters used to pass and ended up in
    the session's ARN, the audit log and the access log."""
    acct = kmstui_server.account
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="named", PolicyDocument=trust(acct))
    finally:
        admin.close()
    sts = kmstui_server.client(service="sts")
    arn = f"arn:aws:iam::{acct}:role/named"
    for bad in ("ops\n", "caf\u00e9", "x\u0663y"):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=arn, RoleSessionName=bad)
        assert _error(exc.value)[0] == "ValidationError" and "roleSessionName" in _error(exc.value)[1]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="ok", SourceIdentity="me\n")
    assert _error(exc.value)[0] == "ValidationError" and "sourceIdentity" in _error(exc.value)[1]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="ok", Tags=[{"Key": "team", "Value": "a\x1b[2Jb"}])
    assert _error(exc.value)[0] == "ValidationError"
    assert sts.assume_role(RoleArn=arn, RoleSessionName="ok.name@x=1,-_")["AssumedRoleUser"]["Arn"].endswith(
        "/ok.name@x=1,-_")


def test_user_and_role_names_refuse_a_trailing_newline(unsealed_hsm):
    """IAM's name pattern [\\w+=,.@-]+ is ASCII and whole: 'alice\\n' is not a user name."""
    from kmstui.errors import ValidationException

    for bad in ("alice\n", "al\u00efce"):
        with pytest.raises(ValidationException):
            unsealed_hsm.create_access_key(UserName=bad)
        with pytest.raises(ValidationException):
            unsealed_hsm.put_role_trust_policy(RoleName=bad, PolicyDocument=trust(unsealed_hsm.account_id))


# -- input that crashed the handler ------------------------------------------------------------------------------
def test_deeply_nested_json_is_a_serialization_error_not_a_500(kmstui_server):
    """json.loads raised RecursionError (not ValueError) past ~1000 levels: the request escaped the handler
    and uvicorn answered a bare text/plain 500 with no audit or access-log line."""
    body = b'{"KeyId":' * 5000 + b'1' + b'}' * 5000
    status, answer = post(kmstui_server, "DescribeKey", body, sign=kmstui_server.root)
    assert (status, answer["__type"]) == (400, "SerializationException")
    assert kmstui_server.client().list_keys()["ResponseMetadata"]["HTTPStatusCode"] == 200


# -- --insecure-anonymous-as and web browsers --------------------------------------------------------------------
def test_anonymous_access_is_not_lent_to_web_pages(tmp_path, serve_tools):
    """Unsigned requests act as the --insecure-anonymous-as principal; a web page must not: a form posted to
    127.0.0.1 (STS is form-encoded, a "simple" request) or a DNS-rebound page carries Origin / Sec-Fetch-Site,
    which SDKs and the CLI never send."""
    server = serve_tools.start(tmp_path, "--insecure-anonymous-as", "arn:aws:iam::111122223333:root")
    try:
        assert post(server, "ListKeys")[0] == 200
        for browser in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Origin": "null", "Sec-Fetch-Site": "same-origin", "Host": "rebound.evil.example"}):
            status, body = post(server, "ListKeys", extra=browser)
            assert (status, body["__type"]) == (400, "MissingAuthenticationTokenException"), browser
        url = urlsplit(server.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                     headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"})
        resp = conn.getresponse()
        assert resp.status == 403 and b"<Code>MissingAuthenticationToken</Code>" in resp.read()
        conn.close()
        assert post(server, "ListKeys", sign=server.root, extra={"Origin": "http://app.example"})[0] == 200
    finally:
        serve_tools.stop(server)


# -- the CLI command that makes the roles STS serves ------------------------------------------------------------
def test_put_role_trust_policy_from_the_command_line(unsealed_hsm, run_kmstui, tmp_path):
    """`kmstui iam put-role-trust-policy --file` failed with NameError (an import lost when it landed) for any
    input; it now reads a file, file:// or inline JSON like every other policy flag."""
    doc = trust(unsealed_hsm.account_id)
    path = tmp_path / "trust.json"
    path.write_text(doc)
    for value in (str(path), f"file://{path}", doc):
        result = run_kmstui("--output", "json", "iam", "put-role-trust-policy", "--role-name", "cli", "--file", value)
        assert result.code == 0, result.err
        assert json.loads(result.out)["Role"]["Arn"] == f"arn:aws:iam::{unsealed_hsm.account_id}:role/cli"
    bad = run_kmstui("iam", "put-role-trust-policy", "--role-name", "cli", "--file", '{"Statement": []}')
    assert bad.code != 0 and "Traceback" not in bad.err and "MalformedPolicyDocument" in bad.err


def test_a_session_cannot_shed_its_session_policy_by_assuming_its_role_again(kmstui_server):
    """"The resulting session's permissions are the intersection of the role's identity-based policy and the
    session policies" (STS API reference, AssumeRole, Policy), for every action, sts:AssumeRole included. The
    trust decision ignored the caller's session policy (and boundary, SCPs), so a session limited to
    kms:DescribeKey re-assumed its own role without the policy and got everything the role has."""
    acct = kmstui_server.account
    role = f"arn:aws:iam::{acct}:role/wide"
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="wide", PolicyDocument=trust(acct))
        admin.put_identity_policy(PrincipalArn=role, PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    finally:
        admin.close()
    narrow_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})
    sts = kmstui_server.client(service="sts")
    c = sts.assume_role(RoleArn=role, RoleSessionName="narrow", Policy=narrow_policy)["Credentials"]
    narrow = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    with pytest.raises(ClientError) as exc:
        kmstui_server.client(narrow, service="sts").assume_role(RoleArn=role, RoleSessionName="escaped")
    assert _error(exc.value)[::2] == ("AccessDenied", 403)
    # the same chaining is allowed when the session policy allows sts:AssumeRole
    open_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:DescribeKey", "sts:AssumeRole"], "Resource": "*"}]})
    c = sts.assume_role(RoleArn=role, RoleSessionName="chainer", Policy=open_policy)["Credentials"]
    chained = kmstui_server.client((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), service="sts")
    assert chained.assume_role(RoleArn=role, RoleSessionName="next")["AssumedRoleUser"]["Arn"].endswith("/wide/next")


# -- failing closed ------------------------------------------------------------------------------------------------
def test_serve_refuses_to_run_without_the_authorization_engine(session, monkeypatch):
    """Security code fails closed: a backend without its authorizer would allow every request, so the server
    does not start on one."""
    import argparse

    from kmstui.backends.local import backend as local_backend
    from kmstui.errors import ConfigError
    from kmstui.server import run

    monkeypatch.setattr(local_backend, "ENFORCEMENT_MODULE", "kmstui.authz.not_installed")

    def bind(*a):
        raise AssertionError("the server got as far as binding its socket")

    monkeypatch.setattr(run, "_bind", bind)
    cmd_serve = run.cmd_serve
    args = argparse.Namespace(status=False, host="127.0.0.1", port=0, allow_remote=False, tls=False, cert=None,
                              key=None, insecure_anonymous_as=None, access_log=None, quiet=True)
    with pytest.raises(ConfigError, match="refusing to serve without it"):
        cmd_serve(session, args)


def test_an_authorizer_that_fails_denies_the_request(unsealed_hsm):
    """When the authorization engine itself raises, the call does not run: the client gets KMSInternalException
    (500) and no ciphertext, and the audit line records the failure."""
    from kmstui import audit
    from kmstui.server.auth import SignedRequest
    from kmstui.server.handler import AccessRecord, Handler

    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    handler = Handler(unsealed_hsm, anonymous_as=f"arn:aws:iam::{unsealed_hsm.account_id}:root")

    def broken(*args, **kwargs):
        raise RuntimeError("engine bug")

    unsealed_hsm.authorizer = broken
    body = json.dumps({"KeyId": key, "Plaintext": "eA=="}).encode()
    record = AccessRecord(time=time.time(), request_id="r-1", source_ip="127.0.0.1")
    response = handler.handle(SignedRequest("POST", "http", "/", "", [
        ("host", "127.0.0.1"), ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.Encrypt")], body), "127.0.0.1", record)
    assert response.status == 500 and json.loads(response.body)["__type"] == "KMSInternalException"
    assert b"CiphertextBlob" not in response.body and record.decision == "error"
    last = list(audit.read_events(unsealed_hsm.audit.path))[-1]
    assert (last["eventName"], last["errorCode"]) == ("Encrypt", "RuntimeError")


def test_files_the_server_writes_are_private(kmstui_server):
    """The state file, the access log and their folder are the operator's alone (0600 / 0700)."""
    import stat

    folder = kmstui_server.home / "data" / "serve"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert any(f.name.startswith("server-") for f in files) and any(f.name.startswith("access-") for f in files)
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_assume_role_never_issues_a_session_token_it_would_refuse(kmstui_server):
    """50 long session tags made a token longer than the server reads back: AssumeRole succeeded and every use of
    the session failed with InvalidClientTokenId. STS refuses such a request instead: "The request was rejected
    because the total packed size of the session policies and session tags combined was too large"
    (PackedPolicyTooLarge, STS API reference)."""
    acct = kmstui_server.account
    admin = kmstui_server.admin()
    try:
        admin.put_role_trust_policy(RoleName="tagged", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}))
    finally:
        admin.close()
    sts = kmstui_server.client(service="sts")
    arn = f"arn:aws:iam::{acct}:role/tagged"
    huge = [{"Key": f"k{i:02d}" + "k" * 125, "Value": "v" * 256} for i in range(50)]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="huge", Tags=huge)
    assert _error(exc.value)[::2] == ("PackedPolicyTooLarge", 400)
    c = sts.assume_role(RoleArn=arn, RoleSessionName="some", Tags=huge[:5])["Credentials"]
    session = kmstui_server.client((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), service="sts")
    assert session.get_caller_identity()["Arn"].endswith(":assumed-role/tagged/some")


def test_access_log_lines_stay_bounded_whatever_the_client_sends(kmstui_server):
    """The access log copied the client's KeyId (or STS Action) before checking it: one request with a 900 KB
    KeyId wrote a 900 KB line (and the TUI tails that file). Client text is cut to KMS's own bounds."""
    status, _ = post(kmstui_server, "DescribeKey", json.dumps({"KeyId": "x" * 900_000}).encode(),
                     sign=kmstui_server.root)
    assert status == 400
    url = urlsplit(kmstui_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", "/", body=b"Action=" + b"A" * 500_000 + b"&Version=2011-06-15",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    assert resp.status == 400 and len(resp.read()) < 2048
    conn.close()
    assert kmstui_server.client().list_keys()["ResponseMetadata"]["HTTPStatusCode"] == 200  # flushes the batch
    time.sleep(0.5)
    (log,) = (kmstui_server.home / "data" / "serve").glob("access-*.jsonl")
    assert max(len(line) for line in log.read_text().splitlines()) < 4096
