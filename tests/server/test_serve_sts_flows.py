"""STS on `kmstui serve` for the SDK flows beyond a plain AssumeRole: GetSessionToken (IAM users' and the
root's long-term keys to session credentials), AssumeRole's ExternalId, SourceIdentity and PolicyArns, and
MFA parameters, through boto3's STS client. Each rule cites the STS API reference (its service model's
documentation) or the IAM User Guide."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.exceptions import ClientError

from tests.server.test_serve_sts import clocked_server  # noqa: F401  (the in-process server with a moved clock)

pytestmark = pytest.mark.timeout(300)


def _error(exc: ClientError) -> tuple[str, str, int]:
    e = exc.response["Error"]
    return e["Code"], e.get("Message", ""), exc.response["ResponseMetadata"]["HTTPStatusCode"]


def _creds(out: dict) -> tuple[str, str, str]:
    c = out["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


def _lasts(out: dict) -> float:
    return (out["Credentials"]["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _lenient(server, creds: tuple | None = None):
    """An STS client that sends what it is given (botocore checks `min` constraints itself; these tests check
    that the server refuses such values too, as STS does for SDKs that do not check)."""
    import boto3
    from botocore.config import Config

    akid, secret, *token = creds or server.root
    return boto3.client("sts", endpoint_url=server.url, region_name=server.region, aws_access_key_id=akid,
                        aws_secret_access_key=secret, aws_session_token=token[0] if token else None,
                        config=Config(retries={"max_attempts": 1}, parameter_validation=False))


def _audit(server) -> list[dict]:
    return [json.loads(line) for line in (server.store.parent / "hsm.kmstui.audit.jsonl").read_text().splitlines()]


def _set_up(server, *, roles: dict[str, str] = {}, identity: dict[str, str] = {}) -> None:  # noqa: B006
    admin = server.admin()
    try:
        for name, trust in roles.items():
            admin.put_role_trust_policy(RoleName=name, PolicyDocument=trust, MaxSessionDuration=7200)
        for arn, doc in identity.items():
            admin.put_identity_policy(PrincipalArn=arn, PolicyName="flows", PolicyDocument=doc)
    finally:
        admin.close()


# -- GetSessionToken --------------------------------------------------------------------------------------------
def test_get_session_token_acts_as_the_user(kmstui_server):
    """"The credentials that GetSessionToken returns are based on permissions associated with the IAM user whose
    credentials were used to call the operation. The temporary credentials have the same permissions as the IAM
    user." Durations: "from 900 seconds (15 minutes) up to a maximum of 129,600 seconds (36 hours), with a default
    of 43,200 seconds (12 hours)"."""
    acct = kmstui_server.account
    user = f"arn:aws:iam::{acct}:user/gst-user"
    _set_up(kmstui_server, identity={user: _policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"})})
    key = kmstui_server.client().create_key()["KeyMetadata"]
    long_term = kmstui_server.access_key("gst-user")
    sts = kmstui_server.client(long_term, service="sts")
    me = sts.get_caller_identity()

    out = sts.get_session_token(DurationSeconds=900)
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA") and 850 <= _lasts(out) <= 905
    session = _creds(out)
    who = kmstui_server.client(session, service="sts").get_caller_identity()
    assert (who["Arn"], who["UserId"], who["Account"]) == (user, me["UserId"], acct)
    kms = kmstui_server.client(session)
    rid = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=key["KeyId"])
    assert _error(exc.value)[1].startswith(f"User: {user} is not authorized to perform: kms:DescribeKey")
    event = next(e for e in _audit(kmstui_server) if e.get("requestID") == rid)
    assert event["userIdentity"]["type"] == "IAMUser" and event["userIdentity"]["arn"] == user
    assert event["userIdentity"]["accessKeyId"] == session[0] and event["userIdentity"]["userName"] == "gst-user"
    assert "creationDate" in event["userIdentity"]["sessionContext"]["attributes"]

    assert 43200 - 60 <= _lasts(sts.get_session_token()) <= 43200 + 5
    assert 129600 - 60 <= _lasts(sts.get_session_token(DurationSeconds=129600)) <= 129600 + 5
    for bad, words in ((899, "greater than or equal to 900"), (129601, "less than or equal to 129600")):
        with pytest.raises(ClientError) as exc:
            _lenient(kmstui_server, long_term).get_session_token(DurationSeconds=bad)
        assert _error(exc.value)[::2] == ("ValidationError", 400) and words in _error(exc.value)[1]
    grants = [e for e in _audit(kmstui_server) if e["eventName"] == "GetSessionToken"]
    assert grants and all(e["eventSource"] == "sts.amazonaws.com" for e in grants)
    assert all(session[1] not in json.dumps(e) for e in _audit(kmstui_server))


def test_get_session_token_for_the_root_is_one_hour_at_most(kmstui_server):
    """"Credentials based on account credentials can range from 900 seconds (15 minutes) up to 3,600 seconds
    (1 hour), with a default of 1 hour", and "If the duration is longer than one hour, the session for Amazon Web
    Services account owners defaults to one hour" (not an error); "If GetSessionToken is called using root user
    credentials, the temporary credentials have root user permissions"."""
    sts = kmstui_server.client(service="sts")
    assert 3540 <= _lasts(sts.get_session_token()) <= 3605
    out = sts.get_session_token(DurationSeconds=7200)
    assert 3540 <= _lasts(out) <= 3605
    assert kmstui_server.client(_creds(out), service="sts").get_caller_identity()["Arn"] == \
        f"arn:aws:iam::{kmstui_server.account}:root"
    assert kmstui_server.client(_creds(out)).create_key()["KeyMetadata"]["Enabled"]


def test_get_session_token_needs_long_term_credentials(kmstui_server):
    """"The GetSessionToken operation must be called by using the long-term AWS security credentials"; STS answers
    session credentials with AccessDenied "Cannot call GetSessionToken with session credentials". Its sessions may
    call AssumeRole ("You cannot call any STS API except AssumeRole or GetCallerIdentity"), and that is not role
    chaining: the role's MaxSessionDuration applies, not the one-hour chaining limit."""
    acct = kmstui_server.account
    _set_up(kmstui_server, roles={"gst-target": _policy({"Effect": "Allow", "Principal": {"AWS": acct},
                                                         "Action": "sts:AssumeRole"})})
    gst = _creds(kmstui_server.client(service="sts").get_session_token(DurationSeconds=900))
    role = _creds(kmstui_server.client(service="sts").assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/gst-target", RoleSessionName="r1"))
    for creds in (gst, role):
        with pytest.raises(ClientError) as exc:
            kmstui_server.client(creds, service="sts").get_session_token()
        assert _error(exc.value) == ("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    out = kmstui_server.client(gst, service="sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/gst-target",
                                                               RoleSessionName="from-gst", DurationSeconds=7200)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{acct}:assumed-role/gst-target/from-gst"
    via = kmstui_server.access_key("gst-via", ViaService=f"s3.{kmstui_server.region}.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        kmstui_server.client(via, service="sts").get_session_token()
    assert _error(exc.value)[::2] == ("AccessDenied", 403) and "--via-service" in _error(exc.value)[1]


def test_mfa_parameters_are_refused_not_ignored(kmstui_server):
    """kmstui registers no MFA devices, so a SerialNumber/TokenCode can never be valid: "An incorrect MFA code
    causes the API to return an access denied error" (GetSessionToken); malformed values are the model's
    ValidationError (TokenCode: 6 digits; SerialNumber: 9 to 256 characters)."""
    sts = kmstui_server.client(service="sts")
    serial = f"arn:aws:iam::{kmstui_server.account}:mfa/phone"
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode="123456")
    assert _error(exc.value)[::2] == ("AccessDenied", 403) and "MultiFactorAuthentication failed" in \
        _error(exc.value)[1]
    with pytest.raises(ClientError) as exc:
        _lenient(kmstui_server).get_session_token(SerialNumber=serial, TokenCode="12345x")
    assert _error(exc.value)[:1] == ("ValidationError",) and "tokenCode" in _error(exc.value)[1]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=f"arn:aws:iam::{kmstui_server.account}:role/any-role", RoleSessionName="mfa",
                        SerialNumber=serial, TokenCode="123456")
    assert _error(exc.value)[::2] == ("AccessDenied", 403)


def test_get_session_token_credentials_expire(clocked_server):  # noqa: F811
    import boto3

    url, backend, offset = clocked_server
    root = backend.create_access_key(UserName="brief-user")["AccessKey"]

    def client(service, creds):
        return boto3.client(service, endpoint_url=url, region_name=backend.region, aws_access_key_id=creds[0],
                            aws_secret_access_key=creds[1], aws_session_token=creds[2] if len(creds) > 2 else None)

    session = _creds(client("sts", (root["AccessKeyId"], root["SecretAccessKey"])).get_session_token(
        DurationSeconds=900))
    assert client("sts", session).get_caller_identity()["Arn"].endswith(":user/brief-user")
    offset[0] = 901
    from unittest import mock

    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=901)
    with mock.patch("botocore.auth.get_current_datetime", return_value=later):
        with pytest.raises(ClientError) as exc:
            client("kms", session).list_keys()
        assert _error(exc.value)[:1] == ("ExpiredTokenException",)


# -- AssumeRole: ExternalId --------------------------------------------------------------------------------------
def test_external_id_is_the_trust_policys_sts_external_id(kmstui_server):
    """ExternalId: "If the administrator of the account to which the role belongs provided you with an external
    ID, then provide that value in the ExternalId parameter" -- the trust policy's sts:ExternalId condition key.
    Model: 2 to 1224 characters of [\\w+=,.@:\\/-]."""
    acct = kmstui_server.account
    role_arn = f"arn:aws:iam::{acct}:role/third-party"
    _set_up(kmstui_server, roles={"third-party": _policy({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/vendor"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "Unique-ID:42"}}})})
    vendor = kmstui_server.access_key("vendor")
    sts = kmstui_server.client(vendor, service="sts")
    for external in (None, "Wrong-ID:41"):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="vendor-run", **({"ExternalId": external} if external else {}))
        assert _error(exc.value) == ("AccessDenied", f"User: arn:aws:iam::{acct}:user/vendor is not authorized to "
                                     f"perform: sts:AssumeRole on resource: {role_arn}", 403)
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="vendor-run", ExternalId="Unique-ID:42")["Credentials"]
    event = [e for e in _audit(kmstui_server) if e["eventName"] == "AssumeRole"][-1]
    assert event["requestParameters"]["externalId"] == "Unique-ID:42" and "errorCode" not in event
    for bad, words in (("x", "externalId' failed to satisfy constraint: Member must have length greater than or "
                             "equal to 2"), ("has space", "regular expression pattern")):
        with pytest.raises(ClientError) as exc:
            _lenient(kmstui_server, vendor).assume_role(RoleArn=role_arn, RoleSessionName="vendor-run", ExternalId=bad)
        assert _error(exc.value)[:1] == ("ValidationError",) and words in _error(exc.value)[1]


# -- AssumeRole: SourceIdentity --------------------------------------------------------------------------------
def test_source_identity_needs_set_source_identity_and_follows_the_session(kmstui_server):
    """IAM User Guide (source identity): "you must have the following permissions-only action in your policy:
    sts:SetSourceIdentity"; "When an identity sets a source identity, the sts:SourceIdentity key is present in the
    request. For subsequent actions taken during the role session, the aws:SourceIdentity key is present in the
    request"; "The value that is set persists when a role is used to assume another role ... The value that is set
    cannot be changed during the role session"; "You cannot use a value that begins with the text aws:"."""
    acct = kmstui_server.account
    user = f"arn:aws:iam::{acct}:user/dev"
    first, second, plain = (f"arn:aws:iam::{acct}:role/{n}" for n in ("si-first", "si-second", "si-plain"))
    key = kmstui_server.client().create_key()["KeyMetadata"]
    _set_up(kmstui_server, roles={
        "si-first": _policy({"Effect": "Allow", "Principal": {"AWS": user},
                             "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                             "Condition": {"StringEquals": {"sts:SourceIdentity": "dev-alice"}}}),
        "si-second": _policy({"Effect": "Allow", "Principal": {"AWS": acct},
                              "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}),
        "si-plain": _policy({"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole"}),
    }, identity={
        first: _policy({"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"], "Resource": "*"},
                       {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceIdentity": "dev-alice"}}}),
    })
    sts = kmstui_server.client(kmstui_server.access_key("dev"), service="sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=first, RoleSessionName="s1", SourceIdentity="dev-bob")
    assert _error(exc.value) == ("AccessDenied", f"User: {user} is not authorized to perform: sts:AssumeRole on "
                                 f"resource: {first}", 403)
    out = sts.assume_role(RoleArn=first, RoleSessionName="s1", SourceIdentity="dev-alice")
    assert out["SourceIdentity"] == "dev-alice"
    session = _creds(out)
    rid = kmstui_server.client(session).describe_key(KeyId=key["KeyId"])["ResponseMetadata"]["RequestId"]
    event = next(e for e in _audit(kmstui_server) if e.get("requestID") == rid)
    assert event["userIdentity"]["sessionContext"]["sourceIdentity"] == "dev-alice"

    chained = kmstui_server.client(session, service="sts")
    assert chained.assume_role(RoleArn=second, RoleSessionName="hop")["SourceIdentity"] == "dev-alice"
    with pytest.raises(ClientError) as exc:
        chained.assume_role(RoleArn=second, RoleSessionName="hop", SourceIdentity="dev-carol")
    assert _error(exc.value)[:1] == ("ValidationError",) and "cannot be changed" in _error(exc.value)[1]
    with pytest.raises(ClientError) as exc:  # carrying the source identity on needs sts:SetSourceIdentity
        chained.assume_role(RoleArn=plain, RoleSessionName="hop")
    assert _error(exc.value) == ("AccessDenied", f"User: arn:aws:sts::{acct}:assumed-role/si-first/s1 is not "
                                 f"authorized to perform: sts:SetSourceIdentity on resource: {plain}", 403)
    root = kmstui_server.client(service="sts")
    with pytest.raises(ClientError) as exc:
        root.assume_role(RoleArn=plain, RoleSessionName="p1", SourceIdentity="someone")
    assert "sts:SetSourceIdentity" in _error(exc.value)[1]
    assert "SourceIdentity" not in root.assume_role(RoleArn=plain, RoleSessionName="p1")
    with pytest.raises(ClientError) as exc:
        root.assume_role(RoleArn=second, RoleSessionName="p1", SourceIdentity="aws:admin")
    assert _error(exc.value)[:1] == ("ValidationError",) and "aws:" in _error(exc.value)[1]


# -- AssumeRole: PolicyArns -------------------------------------------------------------------------------------
def test_policy_arns_and_provided_contexts_are_refused_clearly(kmstui_server):
    """PolicyArns names managed policies ("The policies must exist in the same account as the role ... You can
    provide up to 10 managed policy ARNs"). kmstui keeps identity policies inline and has no managed policy to
    resolve: the request is refused with the reason, never run with the managed session policies ignored."""
    acct = kmstui_server.account
    _set_up(kmstui_server, roles={"managed": _policy({"Effect": "Allow", "Principal": {"AWS": acct},
                                                      "Action": "sts:AssumeRole"})})
    sts = kmstui_server.client(service="sts")
    arn = f"arn:aws:iam::{acct}:policy/ReadOnly"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/managed", RoleSessionName="m1", PolicyArns=[{"arn": arn}])
    code, message, status = _error(exc.value)
    assert (code, status) == ("InvalidParameterValue", 400) and arn in message and "inline" in message
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/managed", RoleSessionName="m1",
                        PolicyArns=[{"arn": f"{arn}{i}"} for i in range(11)])
    assert _error(exc.value)[:1] == ("ValidationError",)
    with pytest.raises(ClientError) as exc:  # a trusted context assertion kmstui cannot check: refused too
        sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/managed", RoleSessionName="m1",
                        ProvidedContexts=[{"ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
                                           "ContextAssertion": "x" * 40}])
    assert _error(exc.value)[:1] == ("InvalidParameterValue",) and "ProvidedContexts" in _error(exc.value)[1]
