"""The server's SigV4 canonical request (kmstui.server.auth.canonical_request) is botocore's: for any request
as received, it equals what botocore's own `SigV4Auth.canonical_request` builds from the same method, URL,
signed headers and body, which is how the server built it before (an AWSRequest with botocore's header map).
A signature from boto3 and the aws CLI therefore verifies exactly as it did, and a request whose signed parts
changed does not."""

from __future__ import annotations

import hashlib

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from hypothesis import given, settings, strategies as st

from kmstui.server.auth import SignedRequest, canonical_request

SEGMENT = st.text(alphabet="abcXYZ019-_.~%+ é/", max_size=12)
QUERY_WORD = st.text(alphabet="abcXYZ019-_.~%+=", max_size=8)
VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255).filter(lambda c: c != "\x7f") | st.just("\t"),
                max_size=24)
NAMES = ["content-type", "x-amz-target", "x-amz-date", "user-agent", "x-amz-security-token", "x-custom",
         "x-amzn-trace-id", "amz-sdk-request", "content-length"]


def botocore_canonical(req: SignedRequest, signed: list[str]) -> str:
    """The canonical request as botocore builds it for the same request (what auth.py did until it was
    replaced by the cheaper equivalent)."""
    url = f"{req.scheme}://{req.header('host')}{req.path}" + (f"?{req.query}" if req.query else "")
    request = AWSRequest(method=req.method, url=url, data=req.body)
    headers = HTTPHeaders()
    for name, value in req.headers:
        if name in signed:
            headers[name] = value  # HTTPHeaders appends: repeated headers are joined with ','
    request.headers = headers
    request.context["timestamp"] = "20261206T101500Z"
    return SigV4Auth(Credentials("AKIAEXAMPLE", "secret"), "kms", "us-east-1").canonical_request(request)


@st.composite
def requests(draw):
    path = "/" + "/".join(draw(st.lists(SEGMENT, max_size=4)))
    pairs = draw(st.lists(st.tuples(QUERY_WORD, QUERY_WORD), max_size=3))
    query = "&".join(f"{k}={v}" if draw(st.booleans()) else k for k, v in pairs)
    headers = [("host", draw(st.sampled_from(["127.0.0.1:4599", "localhost", "[::1]:80"])))]
    headers += draw(st.lists(st.tuples(st.sampled_from(NAMES), VALUE), max_size=8))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        headers.append(("x-amz-content-sha256", hashlib.sha256(body).hexdigest()))
    headers = draw(st.permutations(headers))
    present = sorted({name for name, _ in headers} - {"host"})
    signed = ["host", *draw(st.lists(st.sampled_from(present), unique=True) if present else st.just([]))]
    method = draw(st.sampled_from(["POST", "GET", "post"]))
    return SignedRequest(method, "http", path, query, headers, body), signed


@settings(max_examples=300, deadline=None)
@given(requests())
def test_canonical_request_is_botocores(case):
    req, signed = case
    assert canonical_request(req, signed, hashlib.sha256(req.body).hexdigest()) == botocore_canonical(req, signed)


def test_a_boto3_style_request_and_its_tampered_copies():
    """A request signed by botocore verifies against the canonical request the server builds; changing a
    signed header, the body, the path or the query changes it, while an unsigned header does not."""
    body = b'{"KeyId":"alias/x","Plaintext":"eHh4"}'
    request = AWSRequest(method="POST", url="http://127.0.0.1:4599/", data=body, headers={
        "X-Amz-Target": "TrentService.Encrypt", "Content-Type": "application/x-amz-json-1.1",
        "User-Agent": "Boto3/1.0", "Amz-Sdk-Request": "attempt=1"})
    SigV4Auth(Credentials("AKIAEXAMPLE", "secret"), "kms", "us-east-1").add_auth(request)
    sent = [("host", "127.0.0.1:4599")] + [(k.lower(), v if isinstance(v, str) else v.decode())
                                           for k, v in request.headers.items()]
    signed = request.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "user-agent" not in signed and "x-amz-target" in signed

    def canonical(req: SignedRequest) -> str:
        return canonical_request(req, signed, hashlib.sha256(req.body).hexdigest())

    original = SignedRequest("POST", "http", "/", "", sent, body)
    assert canonical(original) == botocore_canonical(original, signed)
    changed = [
        SignedRequest("POST", "http", "/", "", [(k, "TrentService.Decrypt" if k == "x-amz-target" else v)
                                                for k, v in sent], body),
        SignedRequest("POST", "http", "/", "", sent, body.replace(b"x", b"y")),
        SignedRequest("POST", "http", "/other", "", sent, body),
        SignedRequest("POST", "http", "/", "a=b", sent, body),
        SignedRequest("POST", "http", "/", "", sent + [("x-amz-target", "TrentService.Decrypt")], body),
    ]
    assert all(canonical(req) != canonical(original) for req in changed)
    unsigned = SignedRequest("POST", "http", "/", "", [(k, "other/2.0" if k == "user-agent" else v)
                                                       for k, v in sent], body)
    assert canonical(unsigned) == canonical(original)
