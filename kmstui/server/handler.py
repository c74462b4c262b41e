"""One request, start to finish, without any web framework: route (KMS JSON 1.1 or STS Query), authenticate,
authorize and run the call as the caller, answer in AWS's shapes, write the audit line and the access-log
record. The ASGI app (app.py) only moves bytes between the socket and `Handler.handle`.

The backend is used from one thread at a time (the app runs handlers one at a time on the event loop's
thread, and `acting_as` holds the backend lock as well), so one process owns the store and concurrent
clients need no file locking.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kmstui.errors import AccessDeniedException, KmstuiError
from kmstui.server.auth import AuthError, Principal, SignedRequest, Verifier
from kmstui.server.kms import CONTENT_TYPE, KmsProtocol, ProtocolError, error_body, error_of

log = logging.getLogger("kmstui.server")

MAX_BODY = 1024 * 1024  # no published KMS limit; the largest legal body (a 128 KiB key policy, base64 blobs) fits
STS_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = CONTENT_TYPE
    request_id: str = ""
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class AccessRecord:
    """One access-log line: never a secret, a plaintext or a signature."""

    time: float
    request_id: str
    source_ip: str
    principal: str | None = None
    access_key_id: str | None = None
    service: str = "kms"
    operation: str | None = None
    key: str | None = None
    decision: str = "allow"  # allow | deny | unauthenticated | error
    status: int = 200
    error: str | None = None
    latency_ms: float = 0.0

    def to_json(self) -> str:
        return json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)), "requestId": self.request_id,
            "sourceIp": self.source_ip, "principal": self.principal, "accessKeyId": self.access_key_id,
            "service": self.service, "operation": self.operation, "key": self.key, "decision": self.decision,
            "status": self.status, "error": self.error, "latencyMs": round(self.latency_ms, 2)},
            separators=(",", ":"))


def new_request_id() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


class Handler:
    """Serves one backend (the local HSM). `anonymous_as`: act as this ARN for unsigned requests."""

    def __init__(self, backend: Any, *, anonymous_as: str | None = None, secure: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        from kmstui.server.sts import StsProtocol

        self.backend = backend
        self.kms = KmsProtocol()
        self.sts = StsProtocol(backend)
        self.verifier = Verifier(backend, region=backend.region, clock=clock)
        self.anonymous_as = anonymous_as
        self.secure = secure
        self.clock = clock

    # -- entry point -----------------------------------------------------------------------------------
    def handle(self, req: SignedRequest, source_ip: str, record: AccessRecord) -> Response:
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        target = req.header("x-amz-target")
        if req.method == "POST" and target is None and ctype == STS_CONTENT_TYPE:
            record.service = "sts"
            return self.sts.handle(self, req, source_ip, record)
        return self._kms(req, target, ctype, source_ip, record)

    # -- KMS ---------------------------------------------------------------------------------------------
    def _kms(self, req: SignedRequest, target: str | None, ctype: str, source_ip: str,
             record: AccessRecord) -> Response:
        rid = record.request_id
        try:
            if req.method != "POST" or req.path != "/":
                raise ProtocolError("UnknownOperationException", None)
            name, method, op_model = self.kms.operation(target)
            record.operation = name
        except ProtocolError as exc:
            record.decision, record.status, record.error = "error", exc.status, exc.code
            return Response(exc.status, error_body(exc.code, exc.message), request_id=rid)
        try:
            principal = self.authenticate(req, "kms", source_ip)
        except AuthError as exc:
            return self._auth_failure(exc, "kms", name, req, source_ip, record)
        record.principal, record.access_key_id = principal.arn, principal.access_key_id
        try:
            if ctype != CONTENT_TYPE:
                raise ProtocolError("SerializationException",
                                    f"Content-Type must be {CONTENT_TYPE} for KMS requests, not '{ctype or 'none'}'")
            params = self.kms.request_params(op_model, self.kms.parse_body(req.body))
        except ProtocolError as exc:
            self._audit_refused(principal, name, req, source_ip, rid, exc.code, exc.message or exc.code)
            record.decision, record.status, record.error = "error", exc.status, exc.code
            return Response(exc.status, error_body(exc.code, exc.message), request_id=rid)
        key = params.get("KeyId") or params.get("TargetKeyId") or params.get("DestinationKeyId")
        # the client's text until the backend resolves it: at most KMS's 2048 characters in the access log
        record.key = key[:2048] if isinstance(key, str) else None
        backend = self.backend
        try:
            with backend.acting_as(principal.arn, self.call_facts(principal, req, source_ip, rid)):
                try:
                    result = getattr(backend, method)(**params)
                finally:
                    if backend._resources:  # the key ARN the call resolved (Decrypt names none)
                        record.key = backend._resources[0]
        except Exception as exc:  # noqa: BLE001 - every failure becomes an AWS-shaped answer
            code, message, status = error_of(exc)
            if not isinstance(exc, KmstuiError):
                log.exception("request %s (%s) failed inside kmstui", rid, name)
            record.decision = "deny" if isinstance(exc, AccessDeniedException) else "error"
            record.status, record.error = status, code
            return Response(status, error_body(code, message), request_id=rid)
        return Response(200, self.kms.response_body(op_model, result), request_id=rid)

    # -- shared with STS --------------------------------------------------------------------------------
    def authenticate(self, req: SignedRequest, service: str, source_ip: str) -> Principal:
        if self.anonymous_as is not None and req.header("authorization") is None:
            if req.header("origin") is not None or req.header("sec-fetch-site") is not None:
                # A web page (a form posted to 127.0.0.1, or DNS rebinding) must not borrow the anonymous
                # principal: SDKs and the CLI never send these headers, browsers always do.
                raise AuthError("missing", "Missing Authentication Token (unsigned requests from a web browser "
                                           "are never accepted, not even with --insecure-anonymous-as)")
            return anonymous_principal(self.backend, self.anonymous_as)
        return self.verifier.authenticate(req, service)

    def call_facts(self, principal: Principal, req: SignedRequest, source_ip: str, request_id: str):
        from kmstui.backends.local.core import CallFacts

        context = dict(principal.condition_context)
        context["aws:SecureTransport"] = "true" if self.secure else "false"
        if principal.via_service is None:  # a service calling on the caller's behalf has no aws:SourceIp
            context["aws:SourceIp"] = source_ip
        session = principal.session
        return CallFacts(identity=principal.identity, source_ip=principal.identity.get("invokedBy") or source_ip,
                         user_agent=(req.header("user-agent") or "")[:1024], request_id=request_id,
                         condition_context=context,
                         session_policies=[session["Policy"]] if session and session.get("Policy") else None,
                         session_key=session["AccessKeyId"] if session else None)

    def _auth_failure(self, exc: AuthError, service: str, operation: str | None, req: SignedRequest,
                      source_ip: str, record: AccessRecord) -> Response:
        code, status = exc.for_service(service)
        record.decision, record.status, record.error = "unauthenticated", status, code
        record.access_key_id = exc.access_key_id
        self._audit_refused(None, operation, req, source_ip, record.request_id, code, exc.message,
                            access_key_id=exc.access_key_id, service=service)
        if service == "sts":
            from kmstui.server.sts import sts_error

            return sts_error(code, exc.message, status, record.request_id)
        return Response(status, error_body(code, exc.message), request_id=record.request_id)

    def _audit_refused(self, principal: Principal | None, operation: str | None, req: SignedRequest, source_ip: str,
                       request_id: str, code: str, message: str, *, access_key_id: str | None = None,
                       service: str = "kms") -> None:
        """The audit line for a request refused before the backend ran it (authentication, bad input)."""
        from kmstui.backends.local import auditing

        backend = self.backend
        identity = principal.identity if principal is not None else (
            {"type": "Unknown", "accessKeyId": access_key_id} if access_key_id else {"type": "Unknown"})
        event = {
            "eventVersion": "1.08", "userIdentity": identity, "eventSource": f"{service}.amazonaws.com",
            "eventName": operation or "Unknown", "awsRegion": backend.region, "sourceIPAddress": source_ip,
            "userAgent": (req.header("user-agent") or "")[:1024], "requestParameters": None,
            "requestID": request_id, "readOnly": True, "eventType": "AwsApiCall",
            "recipientAccountId": backend.account_id, "errorCode": code, "errorMessage": message,
        }
        with backend._lock:
            auditing.append(backend.store, backend.audit, event)


def anonymous_principal(backend: Any, arn: str) -> Principal:
    """The principal unsigned requests act as under --insecure-anonymous-as."""
    from kmstui.authz.principals import parse_caller

    caller = parse_caller(arn)
    kind = {"root": "Root", "user": "IAMUser", "session": "AssumedRole", "role": "AssumedRole"}.get(caller.kind, "Unknown")
    identity = {"type": kind, "principalId": "anonymous", "arn": arn, "accountId": caller.account or backend.account_id}
    return Principal(arn, identity, None)
