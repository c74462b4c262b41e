"""Who sent a request: AWS Signature Version 4, verified against the access keys the HSM issued.

The canonical request is botocore's (the code boto3 and the aws CLI sign with), built from the request exactly
as received: the method, the Host header, the path and query, only the headers the client listed in
SignedHeaders (repeated ones joined as botocore joins them) and the raw body's SHA-256. `canonical_request`
follows botocore's `SigV4Auth.canonical_request` step for step with botocore's own path normalisation and
header exclusions, without its AWSRequest and email-based header map (tests/server/test_serve_sigv4.py
checks that the two agree on any request). The final HMAC uses a signing key kept per (secret, date, region,
service), which is the derivation botocore's `signature()` performs on every call. Signatures are compared
in constant time.

Failures carry AWS's codes and messages, one set for KMS (JSON) and one for STS (Query); see
docs/serve.md. Secrets never appear in an error, a log line or an audit record.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from botocore.auth import SIGNED_HEADERS_BLACKLIST
from botocore.utils import normalize_url_path

SKEW = 300  # AWS accepts a request timestamp within 5 minutes of its clock, either way
_AUTH_PART = re.compile(r"\s*([A-Za-z]+)=([^,]*)\s*")
_DATE = re.compile(r"^\d{8}T\d{6}Z\Z", re.ASCII)

# condition -> (KMS __type, KMS status, STS Code, STS status), from AWS's answers (docs/serve.md)
_CODES = {
    "missing": ("MissingAuthenticationTokenException", 400, "MissingAuthenticationToken", 403),
    "incomplete": ("IncompleteSignatureException", 400, "IncompleteSignature", 400),
    "unrecognized": ("UnrecognizedClientException", 400, "InvalidClientTokenId", 403),
    "signature": ("InvalidSignatureException", 400, "SignatureDoesNotMatch", 403),
    "expired_token": ("ExpiredTokenException", 400, "ExpiredToken", 403),
}
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")
BAD_TOKEN = "The security token included in the request is invalid."


class AuthError(Exception):
    """Authentication failed; `kind` picks the KMS or STS code (see _CODES)."""

    def __init__(self, kind: str, message: str, access_key_id: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.access_key_id = kind, message, access_key_id

    def for_service(self, service: str) -> tuple[str, int]:
        kms_code, kms_status, sts_code, sts_status = _CODES[self.kind]
        return (sts_code, sts_status) if service == "sts" else (kms_code, kms_status)


@dataclass
class Principal:
    """The authenticated caller of one request."""

    arn: str
    identity: dict[str, Any]  # CloudTrail userIdentity
    access_key_id: str | None
    condition_context: dict[str, Any] = field(default_factory=dict)  # keys the request sets (kms:ViaService)
    session: dict[str, Any] | None = None  # an STS session: role, session name, policy, expiry
    via_service: str | None = None

    @property
    def user_id(self) -> str:
        return str(self.identity.get("principalId", ""))


@dataclass
class SignedRequest:
    """What verification needs from an HTTP request, as received."""

    method: str
    scheme: str
    path: str
    query: str
    headers: list[tuple[str, str]]  # (lower-case name, value), in arrival order, repeats kept
    body: bytes

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n == name:
                return v
        return None


def parse_authorization(value: str) -> dict[str, str]:
    """The parts of an `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise AuthError("incomplete", f"Unsupported AWS 'algorithm': '{algorithm}'. Only AWS4-HMAC-SHA256 is "
                                      "supported (Signature Version 4).")
    parts: dict[str, str] = {}
    for piece in rest.split(","):
        if not piece.strip():
            continue
        m = _AUTH_PART.fullmatch(piece)
        if m is None:
            shown = piece.strip()[:64]
            raise AuthError("incomplete", f"'{shown}' not a valid key=value pair (missing equal-sign) in "
                                          "Authorization header")
        parts[m.group(1)] = m.group(2).strip()
    missing = [p for p in ("Credential", "SignedHeaders", "Signature") if not parts.get(p)]
    if missing:
        raise AuthError("incomplete", " ".join(f"Authorization header requires '{p}' parameter." for p in missing))
    return parts


@functools.lru_cache(maxsize=64)
def _amz_epoch(amz_date: str) -> float | None:
    """Seconds since the epoch of an X-Amz-Date, None when it is no date; cached, as concurrent clients send
    the same second many times and strptime costs more than the HMAC."""
    try:
        return datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def canonical_request(req: SignedRequest, signed: list[str], payload_hash: str) -> str:
    """SigV4's canonical request for `req` as received, built exactly as botocore's
    `SigV4Auth.canonical_request` builds it (tests/server/test_sigv4.py checks the two agree): the method, the
    path normalised and quoted, the query pairs sorted, the headers named in `signed` (less those botocore
    never signs) lower-cased, sorted, each value's runs of white space made one space and repeated headers
    joined with ',', the signed-header list, and the payload's SHA-256. Building botocore's AWSRequest and
    email-based header map for this cost more than the rest of a request's verification together."""
    wanted = set(signed).difference(SIGNED_HEADERS_BLACKLIST)
    values: dict[str, list[str]] = {}
    for name, value in req.headers:
        if name in wanted:
            values.setdefault(name, []).append(" ".join(value.split()))
    names = sorted(values)
    path = req.path
    if path != "/":
        path = quote(normalize_url_path(path), safe="/~")
    query = ""
    if req.query:
        query = "&".join(f"{k}={v}" for k, v in sorted(pair.partition("=")[::2] for pair in req.query.split("&")))
    headers = "".join(f"{name}:{','.join(values[name])}\n" for name in names)
    return "\n".join((req.method.upper(), path, query, headers, ";".join(names), payload_hash))


class Verifier:
    """Authenticates requests for one backend (the local HSM: `access_key`, `open_session`)."""

    def __init__(self, backend: Any, *, region: str, clock=time.time) -> None:
        self.backend = backend
        self.region = region
        self.clock = clock
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    def _signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        cache_key = (secret, date, region, service)
        key = self._keys.get(cache_key)
        if key is None:
            k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
            for part in (region, service, "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            if len(self._keys) > 1024:
                self._keys.clear()
            key = self._keys[cache_key] = k
        return key

    def authenticate(self, req: SignedRequest, service: str) -> Principal:
        header = req.header("authorization")
        if header is None:
            raise AuthError("missing", "Missing Authentication Token")
        parts = parse_authorization(header)
        credential = parts["Credential"].split("/")
        if len(credential) != 5 or credential[4] != "aws4_request":
            raise AuthError("incomplete", "Credential should be scoped to a valid region. The Credential value "
                                          "must be ACCESS-KEY/DATE/REGION/SERVICE/aws4_request.")
        access_key_id, scope_date, region, scope_service, _ = credential
        amz_date = req.header("x-amz-date")
        if amz_date is None or not _DATE.match(amz_date):
            raise AuthError("incomplete", "Authorization header requires existence of either a 'X-Amz-Date' or a "
                                          "'Date' header (in the form YYYYMMDDTHHMMSSZ).")
        if scope_service != service:
            raise AuthError("signature", f"Credential should be scoped to correct service: '{service}'. ",
                            access_key_id)
        if region not in self._regions(service):
            raise AuthError("signature", f"Credential should be scoped to a valid region, not '{region}'. This "
                                         f"endpoint serves region '{self.region}'.", access_key_id)
        if scope_date != amz_date[:8]:
            raise AuthError("signature", f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                                         f"date from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.",
                            access_key_id)
        self._check_skew(amz_date, access_key_id)
        principal, secret = self._credentials(access_key_id, req.header("x-amz-security-token"))
        signed = parts["SignedHeaders"].lower().split(";")
        if "host" not in signed:
            raise AuthError("signature", "'Host' must be a signed header.", access_key_id)
        if req.header("host") is None:
            raise AuthError("incomplete", "The request has no Host header.", access_key_id)
        if not set(signed) <= {name for name, _ in req.headers}:  # a signed header the request does not carry
            raise AuthError("signature", BAD_SIGNATURE, access_key_id)
        payload_hash = hashlib.sha256(req.body).hexdigest()
        content_sha = req.header("x-amz-content-sha256")
        if content_sha is not None and content_sha != payload_hash:
            raise AuthError("signature", "The provided 'x-amz-content-sha256' header does not match what was computed.",
                            access_key_id)
        expected = self._signature(req, signed, amz_date, payload_hash, region, service, secret)
        if not hmac.compare_digest(expected, parts["Signature"]):
            raise AuthError("signature", BAD_SIGNATURE, access_key_id)
        return principal

    def _regions(self, service: str) -> set[str]:
        # STS clients sign for us-east-1 when they use the global endpoint.
        return {self.region, "us-east-1"} if service == "sts" else {self.region}

    def _check_skew(self, amz_date: str, access_key_id: str) -> None:
        when = _amz_epoch(amz_date)
        if when is None:
            raise AuthError("incomplete", f"Invalid X-Amz-Date '{amz_date}'", access_key_id)
        now = self.clock()

        def fmt(t: float) -> str:
            return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))

        if when < now - SKEW:
            raise AuthError("signature", f"Signature expired: {amz_date} is now earlier than {fmt(now - SKEW)} "
                                         f"({fmt(now)} - 5 min.)", access_key_id)
        if when > now + SKEW:
            raise AuthError("signature", f"Signature not yet current: {amz_date} is still later than "
                                         f"{fmt(now + SKEW)} ({fmt(now)} + 5 min.)", access_key_id)

    def _signature(self, req: SignedRequest, signed: list[str], amz_date: str, payload_hash: str, region: str,
                   service: str, secret: str) -> str:
        string_to_sign = "\n".join(("AWS4-HMAC-SHA256", amz_date, f"{amz_date[:8]}/{region}/{service}/aws4_request",
                                    hashlib.sha256(canonical_request(req, signed, payload_hash).encode()).hexdigest()))
        key = self._signing_key(secret, amz_date[:8], region, service)
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()

    def _credentials(self, access_key_id: str, token: str | None) -> tuple[Principal, str]:
        """(principal, secret) for an access key id; AuthError when unknown or expired."""
        backend = self.backend
        if access_key_id.startswith("ASIA"):
            session = backend.open_session(token) if token else None
            if session is None or session.get("AccessKeyId") != access_key_id:
                raise AuthError("unrecognized", BAD_TOKEN, access_key_id)
            if session["Expiration"] <= self.clock():
                raise AuthError("expired_token", "The security token included in the request is expired",
                                access_key_id)
            role = backend.role(session["RoleName"]) if "RoleId" in session else None
            if "RoleId" in session and (role is None or role["RoleId"] != session["RoleId"]):
                # The role was deleted (and perhaps made again under the same name: a new role, with a new
                # RoleId, that this session never assumed). Its sessions must not outlive it or become the new one.
                raise AuthError("unrecognized", BAD_TOKEN, access_key_id)
            return session_principal(backend, session), session["SecretAccessKey"]
        found = backend.access_key(access_key_id) if access_key_id.startswith("AKIA") else None
        if found is None or token is not None:
            raise AuthError("unrecognized", BAD_TOKEN, access_key_id)
        doc, secret = found
        if doc.get("Status") != "Active":
            raise AuthError("unrecognized", BAD_TOKEN, access_key_id)
        return key_principal(backend, doc), secret


def key_principal(backend: Any, doc: dict[str, Any]) -> Principal:
    """The caller behind a long-term access key (an IAM user or the account root)."""
    account = backend.account_id
    arn = doc["PrincipalArn"]
    if doc.get("UserName"):
        identity = {"type": "IAMUser", "principalId": doc["UserId"], "arn": arn, "accountId": account,
                    "accessKeyId": doc["AccessKeyId"], "userName": doc["UserName"]}
    else:
        identity = {"type": "Root", "principalId": account, "arn": arn, "accountId": account,
                    "accessKeyId": doc["AccessKeyId"]}
    via = doc.get("ViaService")
    context: dict[str, Any] = {"aws:userid": identity["principalId"]}
    if via:
        identity["invokedBy"] = via.split(".", 1)[0] + ".amazonaws.com"
        context["kms:ViaService"] = via
    return Principal(arn, identity, doc["AccessKeyId"], context, via_service=via)


def session_principal(backend: Any, session: dict[str, Any]) -> Principal:
    """The caller behind STS session credentials: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, or for
    GetSessionToken's credentials the IAM user (or root) itself."""
    if session.get("Kind") == "user":
        return user_session_principal(backend, session)
    account = backend.account_id
    role_name, session_name = session["RoleName"], session["RoleSessionName"]
    arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
    identity = {
        "type": "AssumedRole", "principalId": f"{session['RoleId']}:{session_name}", "arn": arn,
        "accountId": account, "accessKeyId": session["AccessKeyId"],
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": session["RoleId"], "arn": session["RoleArn"],
                              "accountId": account, "userName": role_name},
            "attributes": {"creationDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(session["Issued"])),
                           "mfaAuthenticated": "false"},
        },
    }
    # aws:TokenIssueTime is what AWS's "revoke active sessions" policy tests (a Deny with DateLessThan on it):
    # without it that Deny would never match and revoked sessions would keep working.
    context: dict[str, Any] = {"aws:userid": identity["principalId"],
                               "aws:TokenIssueTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(session["Issued"]))}
    if session.get("SourceIdentity"):
        context["aws:SourceIdentity"] = session["SourceIdentity"]
    for tag in session.get("Tags") or []:
        context[f"aws:PrincipalTag/{tag['Key']}"] = tag["Value"]
    if session.get("SourceIdentity"):  # CloudTrail shows the source identity in sessionContext.sourceIdentity
        identity["sessionContext"]["sourceIdentity"] = session["SourceIdentity"]
    return Principal(arn, identity, session["AccessKeyId"], context, session=session)


def user_session_principal(backend: Any, session: dict[str, Any]) -> Principal:
    """The caller behind GetSessionToken's credentials: "The temporary credentials have the same permissions
    as the IAM user" (STS API reference), so the principal is the user's (or the root's) own ARN; CloudTrail
    shows the session's ASIA key id and its creation time."""
    account = backend.account_id
    identity: dict[str, Any] = {"type": "IAMUser" if session.get("UserName") else "Root",
                                "principalId": session["UserId"], "arn": session["PrincipalArn"],
                                "accountId": account, "accessKeyId": session["AccessKeyId"]}
    if session.get("UserName"):
        identity["userName"] = session["UserName"]
    identity["sessionContext"] = {"attributes": {
        "creationDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(session["Issued"])),
        "mfaAuthenticated": "false"}}
    # aws:TokenIssueTime lets a Deny with DateLessThan on it revoke the user's session credentials, as in AWS.
    context = {"aws:userid": identity["principalId"],
               "aws:TokenIssueTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(session["Issued"]))}
    return Principal(session["PrincipalArn"], identity, session["AccessKeyId"], context, session=session)
