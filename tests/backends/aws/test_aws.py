"""The AWS backend against moto over HTTP, plus a scripted KMS endpoint on 127.0.0.1 for what moto cannot
produce (throttling, rejected credentials, multi-page listings)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kmstui.backends.aws import AwsBackend
from kmstui.errors import (
    EXIT_CONFIG, ConfigError, InvalidCiphertextException, KMSInvalidMacException, NotFoundException, UsageError,
    ValidationException,
)
from kmstui.session import Session


@pytest.fixture
def kms(aws_profile):
    session = Session(load_plugins=False)
    yield session.backend(aws_profile)
    session.close()


class ScriptedKMS:
    """A KMS endpoint that answers each request with the next scripted (status, body) and records requests."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict]] = []
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                outer.requests.append((self.headers.get("X-Amz-Target", ""), body))
                status, reply = outer.script.pop(0) if outer.script else (500, {"__type": "KMSInternalException"})
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted(moto_server):  # moto_server only for the dummy credentials it exports
    server = ScriptedKMS()
    yield server
    server.close()


def test_errors_keep_the_aws_message(kms):
    with pytest.raises(NotFoundException, match="alias/absent is not found"):
        kms.describe_key(KeyId="alias/absent")
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"a": "1"})["CiphertextBlob"]
    with pytest.raises(InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "2"})
    with pytest.raises(ValidationException, match="KeySpec"):
        kms.create_key(KeySpec="NOT_A_SPEC")
    from kmstui.errors import UsageError

    # botocore's own parameter check refuses before sending: the aws CLI's usage error (exit 252)
    with pytest.raises(UsageError, match="Plaintext"):
        kms.encrypt(KeyId=key["KeyId"])
    with pytest.raises(UsageError, match="PendingWindowInDays"):
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=0)


def test_throttling_is_retried(scripted):
    throttled = (400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
    scripted.script = [throttled, throttled, (200, {"Keys": [{"KeyId": "k1", "KeyArn": "arn:k1"}],
                                                    "Truncated": False})]
    backend = AwsBackend("scripted", region="us-east-1", endpoint_url=scripted.url)
    assert backend.list_keys()["Keys"] == [{"KeyId": "k1", "KeyArn": "arn:k1"}]
    assert len(scripted.requests) == 3


def test_listings_follow_every_page(scripted):
    page = lambda names, marker=None: (200, {  # noqa: E731
        "Aliases": [{"AliasName": n, "TargetKeyId": "k"} for n in names],
        "Truncated": marker is not None, **({"NextMarker": marker} if marker else {})})
    scripted.script = [page(["alias/a", "alias/b"], "m1"), page(["alias/c"], "m2"), page(["alias/d"])]
    backend = AwsBackend("scripted", region="us-east-1", endpoint_url=scripted.url)
    out = backend.list_aliases()
    assert [a["AliasName"] for a in out["Aliases"]] == ["alias/a", "alias/b", "alias/c", "alias/d"]
    assert out["Truncated"] is False and "NextMarker" not in out
    assert [body.get("Marker") for _target, body in scripted.requests] == [None, "m1", "m2"]
    # Asking for one page (a Marker or Limit) gets exactly that page.
    scripted.script = [page(["alias/c"], "m2")]
    assert backend.list_aliases(Marker="m1", Limit=1)["NextMarker"] == "m2"


def test_rejected_credentials_are_a_config_error(scripted):
    scripted.script = [(400, {"__type": "UnrecognizedClientException",
                              "message": "The security token included in the request is invalid."})]
    backend = AwsBackend("scripted", region="us-east-1", endpoint_url=scripted.url)
    with pytest.raises(ConfigError, match="security token included in the request is invalid") as info:
        backend.list_keys()
    assert info.value.exit_code == EXIT_CONFIG


def test_missing_credentials_and_profiles(moto_server, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match="no AWS credentials") as info:
        AwsBackend("kms", region="us-east-1").list_keys()
    assert info.value.exit_code == EXIT_CONFIG
    with pytest.raises(ConfigError, match="AWS profile 'nobody'"):
        AwsBackend("kms", aws_profile="nobody").list_keys()


def test_unreachable_endpoint(moto_server):
    backend = AwsBackend("kms", region="us-east-1", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(ConfigError, match="cannot reach AWS KMS"):
        backend.list_keys()


def test_opening_contacts_nothing_and_imports_no_botocore():
    code = ("import sys; from kmstui.backends.aws import AwsBackend; "
            "b = AwsBackend('p', region='eu-west-1', endpoint_url='http://127.0.0.1:9'); "
            "print(b.info().location); print('botocore' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["eu-west-1 http://127.0.0.1:9", "False"]


def test_put_key_policy_keeps_the_lockout_check(kms):
    key = kms.create_key()["KeyMetadata"]
    sent: list[dict] = []
    kms.client.meta.events.register("provide-client-params.kms.PutKeyPolicy",
                                    lambda params, **_kw: sent.append(dict(params)))
    policy = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy)
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy, BypassPolicyLockoutSafetyCheck=True)
    assert "BypassPolicyLockoutSafetyCheck" not in sent[0]
    assert sent[1]["BypassPolicyLockoutSafetyCheck"] is True


def test_as_is_refused(kms):
    with pytest.raises(UsageError, match="identity of your AWS credentials"):
        kms.set_caller("arn:aws:iam::111122223333:role/other")


def test_list_key_metadata_joins_aliases(kms, moto_server):
    moto_server.reset()
    keys = [kms.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"] for i in range(3)]
    kms.create_alias(AliasName="alias/meta-one", TargetKeyId=keys[0])
    kms.create_alias(AliasName="alias/meta-two", TargetKeyId=keys[0])
    listed = {md["KeyId"]: md for md in kms.list_key_metadata()}
    assert set(listed) == set(keys)
    assert sorted(listed[keys[0]]["Aliases"]) == ["alias/meta-one", "alias/meta-two"]
    assert listed[keys[1]]["Description"] == "k1" and listed[keys[2]]["Aliases"] == []


def test_grants_and_macs_are_forwarded(kms):
    key = kms.create_key()["KeyMetadata"]
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::123456789012:role/app",
                             RetiringPrincipal="arn:aws:iam::123456789012:role/admin", Operations=["Decrypt"])
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    assert kms.list_retirable_grants(RetiringPrincipal="arn:aws:iam::123456789012:role/admin")["Grants"]
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac = kms.generate_mac(KeyId=mac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert kms.verify_mac(KeyId=mac_key["KeyId"], Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
    with pytest.raises(KMSInvalidMacException):
        kms.verify_mac(KeyId=mac_key["KeyId"], Message=b"n", Mac=mac, MacAlgorithm="HMAC_SHA_256")


def test_cli_round_trip_with_backend_flag(moto_server, run_kmstui, tmp_path):
    """`--backend aws` needs no profile: the endpoint and credentials come from the AWS environment."""
    created = run_kmstui("--backend", "aws", "key", "create", "--alias", "alias/cli-aws", "--output", "json")
    assert created.code == 0, created.err
    blob = tmp_path / "secret.kms"
    enc = run_kmstui("--backend", "aws", "encrypt", "--key-id", "alias/cli-aws", "--plaintext", "hello",
                     "--context", "app=web", "--out", str(blob))
    assert enc.code == 0, enc.err
    dec = run_kmstui("--backend", "aws", "decrypt", "--in", str(blob), "--context", "app=web", "--out", "-")
    assert dec.code == 0 and dec.out == "hello", dec.err
    bad = run_kmstui("--backend", "aws", "decrypt", "--in", str(blob), "--context", "app=other", "--out", "-")
    assert bad.code == 254 and "InvalidCiphertextException" in bad.err


@pytest.mark.parametrize("code", ["AccessDeniedException", "DisabledException", "KMSInvalidStateException",
                                  "KeyUnavailableException", "IncorrectKeyException", "LimitExceededException"])
def test_kms_error_codes_map_to_the_same_named_errors(scripted, code):
    from kmstui import errors

    scripted.script = [(400, {"__type": code, "message": f"aws says {code}"})] * 3  # LimitExceeded is retried
    backend = AwsBackend("scripted", region="us-east-1", endpoint_url=scripted.url, max_attempts=1)
    with pytest.raises(getattr(errors, code), match=f"aws says {code}") as info:
        backend.describe_key(KeyId="k")
    assert info.value.exit_code == errors.EXIT_BACKEND


def test_unknown_aws_error_code_keeps_its_name(scripted):
    from kmstui.errors import KMSError

    scripted.script = [(400, {"__type": "CustomKeyStoreNotFoundException", "message": "no such store"})]
    backend = AwsBackend("scripted", region="us-east-1", endpoint_url=scripted.url, max_attempts=1)
    with pytest.raises(KMSError, match="CustomKeyStoreNotFoundException: no such store"):
        backend.describe_key(KeyId="k")


def test_kmstui_only_operations_are_unsupported_not_forwarded(scripted):
    """Stored identity policies are not AWS KMS API: a clear error, and nothing sent to the endpoint."""
    from kmstui.errors import UnsupportedOperationException

    backend = AwsBackend("scripted", region="us-east-1", endpoint_url=scripted.url)
    with pytest.raises(UnsupportedOperationException, match="stored IAM policies are not supported by aws"):
        backend.put_identity_policy(PrincipalArn="arn:aws:iam::111122223333:role/app", PolicyName="p",
                                    PolicyDocument="{}")
    with pytest.raises(UnsupportedOperationException):
        backend.list_identity_policies(PrincipalArn="arn:aws:iam::111122223333:role/app")
    assert scripted.requests == []


def test_http_error_without_a_kms_body_is_one_line(moto_server):
    """moto answers operations it lacks (here GetParametersForImport) with an HTML 500 page."""
    import http.server

    class Html500(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"<!doctype html>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n"
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Html500)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        backend = AwsBackend("html", region="us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
                             max_attempts=0)
        with pytest.raises(Exception) as info:
            backend.describe_key(KeyId="k")
    finally:
        server.shutdown()
        server.server_close()
    message = str(info.value)
    assert "\n" not in message and "HTTP 500" in message and "doctype" not in message
