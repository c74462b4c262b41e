"""Minimal STS on the same port (AWS's Query protocol: form-encoded POST, XML answers): GetCallerIdentity,
AssumeRole returning temporary credentials that act as arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, and
GetSessionToken returning temporary credentials that act as the IAM user (or root) who asked.

AssumeRole is decided by the role's trust policy (and the caller's identity policies where the trust policy
delegates to the account) in the one authorization engine, through the backend's `assume_role`, which
audits it like any other call. Checks and messages follow the STS API reference and its service model
(AssumeRole: session name pattern, DurationSeconds 900..MaxSessionDuration and 1 hour when chaining roles,
session policy at most 2,048 characters, at most 50 session tags, keys unique ignoring case, ExternalId and
SourceIdentity patterns; GetSessionToken: 900..129,600 s, long-term credentials only). kmstui has no managed
policies and no MFA devices: PolicyArns, SerialNumber and TokenCode are refused, never ignored.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from kmstui.errors import AccessDeniedException, KmstuiError, MalformedPolicyDocumentException
from kmstui.server.auth import AuthError, Principal, SignedRequest

if TYPE_CHECKING:
    from kmstui.server.handler import AccessRecord, Handler, Response

NS = "https://sts.amazonaws.com/doc/2011-06-15/"
XML_TYPE = "text/xml"
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})\Z", re.ASCII)
_SESSION_NAME = re.compile(r"^[\w+=,.@-]*\Z", re.ASCII)
_DIGITS = re.compile(r"^[0-9]{1,9}\Z")
_TAG_TEXT = re.compile(r"^[\w \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.:/=+@-]*\Z")  # STS: [\p{L}\p{Z}\p{N}_.:/=+\-@]* (Unicode letters, separators, digits)
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]*\Z", re.ASCII)
_SERIAL_NUMBER = re.compile(r"^[\w+=/:,.@-]*\Z", re.ASCII)
_ERROR_STATUS = {"AccessDenied": 403, "ExpiredToken": 403, "RegionDisabledException": 403}
_ACTIONS = ("GetCallerIdentity", "AssumeRole", "GetSessionToken")
# "If you do not supply a correct MFA code, then the API returns an access denied error" (GetSessionToken); the
# words are those STS answers for a device that is not the caller's.
MFA_FAILED = ("MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number "
              "is valid and associated with this user.")


class StsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def sts_error(code: str, message: str, status: int, request_id: str) -> "Response":
    from kmstui.server.handler import Response

    body = (f'<ErrorResponse xmlns="{NS}"><Error><Type>{"Receiver" if status >= 500 else "Sender"}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>")
    return Response(status, body.encode(), content_type=XML_TYPE, request_id=request_id)


def _ok(action: str, result: str, request_id: str) -> "Response":
    from kmstui.server.handler import Response

    body = (f'<{action}Response xmlns="{NS}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>")
    return Response(200, body.encode(), content_type=XML_TYPE, request_id=request_id)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class StsProtocol:
    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def handle(self, handler: "Handler", req: SignedRequest, source_ip: str, record: "AccessRecord") -> "Response":
        rid = record.request_id
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return sts_error("MalformedQueryString", "The request body is not UTF-8", 400, rid)
        params = dict(parse_qsl(text, keep_blank_values=True))
        action = params.get("Action", "")
        record.operation = (action or None) if len(action) <= 64 else action[:64] + "..."  # client text: bounded
        if action not in _ACTIONS:
            record.decision, record.status, record.error = "error", 400, "InvalidAction"
            return sts_error("InvalidAction", f"Could not find operation {action[:64]} for version "
                                              f"{params.get('Version', '')[:32]}", 400, rid)
        try:
            principal = handler.authenticate(req, "sts", source_ip)
        except AuthError as exc:
            return handler._auth_failure(exc, "sts", action, req, source_ip, record)
        record.principal, record.access_key_id = principal.arn, principal.access_key_id
        try:
            if action == "GetCallerIdentity":
                return self._get_caller_identity(handler, principal, req, source_ip, rid)
            if action == "GetSessionToken":
                return self._get_session_token(handler, principal, params, req, source_ip, record)
            return self._assume_role(handler, principal, params, req, source_ip, record)
        except StsError as exc:
            record.decision = "deny" if exc.code == "AccessDenied" else "error"
            record.status, record.error = exc.status, exc.code
            return sts_error(exc.code, exc.message, exc.status, rid)

    # -- GetCallerIdentity ------------------------------------------------------------------------------
    def _get_caller_identity(self, handler: "Handler", principal: Principal, req: SignedRequest, source_ip: str,
                             rid: str) -> "Response":
        """Needs no permission and works even under an explicit deny (STS API reference)."""
        from kmstui.backends.local import auditing

        backend = self.backend
        event = {"eventVersion": "1.08", "userIdentity": principal.identity, "eventSource": "sts.amazonaws.com",
                 "eventName": "GetCallerIdentity", "awsRegion": backend.region, "sourceIPAddress": source_ip,
                 "userAgent": (req.header("user-agent") or "")[:1024], "requestParameters": None,
                 "requestID": rid, "readOnly": True, "eventType": "AwsApiCall",
                 "recipientAccountId": backend.account_id}
        with backend._lock:
            auditing.append(backend.store, backend.audit, event)
        result = (f"<UserId>{escape(principal.user_id)}</UserId><Account>{backend.account_id}</Account>"
                  f"<Arn>{escape(principal.arn)}</Arn>")
        return _ok("GetCallerIdentity", result, rid)

    # -- AssumeRole -------------------------------------------------------------------------------------
    def _assume_role(self, handler: "Handler", principal: Principal, params: dict[str, str], req: SignedRequest,
                     source_ip: str, record: "AccessRecord") -> "Response":
        args = parse_assume_role(params)
        record.key = args["RoleArn"]
        backend = self.backend
        role_session = principal.session if principal.session and principal.session.get("Kind") != "user" else None
        try:
            with backend.acting_as(principal.arn, handler.call_facts(principal, req, source_ip, record.request_id)):
                out = backend.assume_role(**args, CallerIsSession=role_session is not None,
                                          CallerSourceIdentity=(role_session or {}).get("SourceIdentity"))
        except AccessDeniedException as exc:
            raise StsError("AccessDenied", getattr(exc, "aws_message", None) or str(exc), 403) from None
        except MalformedPolicyDocumentException as exc:
            raise StsError("MalformedPolicyDocument", str(exc)) from None
        except KmstuiError as exc:
            code = {"ValidationException": "ValidationError", "NotFoundException": "NoSuchEntity"}.get(exc.code, exc.code)
            raise StsError(code, str(exc), 400) from None
        user = out["AssumedRoleUser"]
        result = (_credentials_xml(out["Credentials"])
                  + f"<AssumedRoleUser><AssumedRoleId>{escape(user['AssumedRoleId'])}</AssumedRoleId>"
                  f"<Arn>{escape(user['Arn'])}</Arn></AssumedRoleUser>")
        if out.get("PackedPolicySize") is not None:
            result += f"<PackedPolicySize>{out['PackedPolicySize']}</PackedPolicySize>"
        if out.get("SourceIdentity") is not None:
            result += f"<SourceIdentity>{escape(out['SourceIdentity'])}</SourceIdentity>"
        return _ok("AssumeRole", result, record.request_id)

    # -- GetSessionToken --------------------------------------------------------------------------------
    def _get_session_token(self, handler: "Handler", principal: Principal, params: dict[str, str],
                           req: SignedRequest, source_ip: str, record: "AccessRecord") -> "Response":
        """"The GetSessionToken operation must be called by using the long-term AWS security credentials";
        session credentials get STS's AccessDenied "Cannot call GetSessionToken with session credentials"."""
        args = parse_get_session_token(params)
        if principal.session is not None:
            raise StsError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        if principal.via_service is not None:
            raise StsError("AccessDenied", f"Access key {principal.access_key_id} acts as "
                                           f"{principal.via_service} on behalf of {principal.arn} (issued "
                                           "--via-service) and cannot call GetSessionToken", 403)
        backend = self.backend
        try:
            with backend.acting_as(principal.arn, handler.call_facts(principal, req, source_ip, record.request_id)):
                out = backend.get_session_token(**args)
        except KmstuiError as exc:
            code = {"ValidationException": "ValidationError"}.get(exc.code, exc.code)
            raise StsError(code, str(exc), 400) from None
        return _ok("GetSessionToken", _credentials_xml(out["Credentials"]), record.request_id)


def _credentials_xml(c: dict[str, Any]) -> str:
    return (f"<Credentials><AccessKeyId>{c['AccessKeyId']}</AccessKeyId>"
            f"<SecretAccessKey>{escape(c['SecretAccessKey'])}</SecretAccessKey>"
            f"<SessionToken>{escape(c['SessionToken'])}</SessionToken>"
            f"<Expiration>{_iso(c['Expiration'])}</Expiration></Credentials>")


def _validation(value: str, member: str, constraint: str) -> StsError:
    return StsError("ValidationError", f"1 validation error detected: Value '{value}' at '{member}' failed to "
                                       f"satisfy constraint: {constraint}")


def parse_assume_role(params: dict[str, str]) -> dict[str, Any]:
    """AssumeRole's members from the form, checked as STS checks them (ValidationError and friends)."""
    role_arn = params.get("RoleArn")
    session_name = params.get("RoleSessionName")
    if role_arn is None:
        raise StsError("ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy "
                                          "constraint: Member must not be null")
    if session_name is None:
        raise StsError("ValidationError", "1 validation error detected: Value null at 'roleSessionName' failed to "
                                          "satisfy constraint: Member must not be null")
    if not 20 <= len(role_arn) <= 2048 or not _ROLE_ARN.match(role_arn):
        raise StsError("ValidationError", f"{role_arn[:2048]} is invalid")
    if not 2 <= len(session_name) <= 64:
        raise _validation(session_name, "roleSessionName", "Member must have length between 2 and 64")
    if not _SESSION_NAME.match(session_name):
        raise _validation(session_name, "roleSessionName",
                          r"Member must satisfy regular expression pattern: [\w+=,.@-]*")
    seconds = _duration(params, 43200)
    seconds = 3600 if seconds is None else seconds
    policy = params.get("Policy")
    if policy is not None:
        if len(policy) > 2048 or any(not ("\u0020" <= ch <= "\u00ff" or ch in "\t\n\r") for ch in policy):
            raise StsError("ValidationError", "The session policy must be at most 2048 characters from \\u0009, "
                                              "\\u000A, \\u000D and \\u0020 to \\u00FF")
        try:
            doc = json.loads(policy)
        except ValueError:
            raise StsError("MalformedPolicyDocument", "The policy is not in the valid JSON format.") from None
        from kmstui.authz import PolicyError, compile_policy

        try:
            compile_policy(doc, "iam", "session-policy")
        except PolicyError as exc:
            raise StsError("MalformedPolicyDocument", f"The session policy is malformed: {exc}") from None
    tags = _members(params, "Tags", ("Key", "Value"))
    if len(tags) > 50:
        raise _validation(f"{len(tags)} tags", "tags", "Member must have length less than or equal to 50")
    seen: set[str] = set()
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value")
        if not key or len(key) > 128 or value is None or len(value) > 256:
            raise StsError("ValidationError", "Each session tag needs a Key of 1-128 characters and a Value of at "
                                              "most 256 characters")
        if not _TAG_TEXT.match(key) or not _TAG_TEXT.match(value):
            raise StsError("ValidationError", "Session tag keys and values may hold only letters, digits, spaces "
                                              "and _.:/=+-@ (STS's pattern [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)")
        if key.lower() in seen:
            raise StsError("InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case "
                                                    "insensitive.")
        seen.add(key.lower())
    transitive = _members(params, "TransitiveTagKeys", None)
    for key in transitive:
        if str(key).lower() not in seen:
            raise StsError("InvalidParameterValue", f"The transitive tag key '{key}' is not one of the session tags")
    external_id = _string(params, "ExternalId", 2, 1224, _EXTERNAL_ID, r"[\w+=,.@:\/-]*")
    # SourceIdentity: "You cannot use a value that begins with the text aws:. This prefix is reserved for Amazon
    # Web Services internal use." (length and pattern from the service model)
    source_identity = _string(params, "SourceIdentity", 2, 256, _SESSION_NAME, r"[\w+=,.@-]*")
    if source_identity is not None and source_identity.lower().startswith("aws:"):
        raise StsError("ValidationError", f"SourceIdentity '{source_identity}' begins with 'aws:', a prefix reserved "
                                          "for AWS internal use")
    policy_arns = _members(params, "PolicyArns", ("arn",))
    if policy_arns:
        # "You can provide up to 10 managed policy ARNs." kmstui keeps identity policies inline (iam put-policy)
        # and has no managed policies to resolve, so it refuses rather than grant a session it cannot scope.
        if len(policy_arns) > 10:
            raise _validation(f"{len(policy_arns)} policy ARNs", "policyArns",
                              "Member must have length less than or equal to 10")
        arns = [str(item.get("arn", "")) for item in policy_arns]
        for arn in arns:
            if not 20 <= len(arn) <= 2048:
                raise _validation(arn[:2048], "policyArns.member.arn", "Member must have length between 20 and 2048")
        raise StsError("InvalidParameterValue", f"PolicyArns cannot be resolved: kmstui has no managed policies "
                                                f"({', '.join(arns)}); pass the session policy document inline as "
                                                "Policy instead")
    _no_mfa(params)
    if any(name.startswith("ProvidedContexts.") for name in params):
        raise StsError("InvalidParameterValue", "ProvidedContexts cannot be checked: kmstui trusts no context "
                                                "providers (IAM Identity Center trusted identity propagation)")
    return {"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": seconds, "Policy": policy,
            "Tags": tags or None, "SourceIdentity": source_identity, "ExternalId": external_id}


def parse_get_session_token(params: dict[str, str]) -> dict[str, Any]:
    """GetSessionToken's members: DurationSeconds "can range from 900 seconds (15 minutes) up to a maximum of
    129,600 seconds (36 hours)" (the root's cap of one hour is applied by the backend, as STS does, silently)."""
    seconds = _duration(params, 129600)
    _no_mfa(params)
    return {"DurationSeconds": seconds}


def _duration(params: dict[str, str], most: int) -> int | None:
    duration = params.get("DurationSeconds")
    if duration is None:
        return None
    if not _DIGITS.match(duration):
        raise StsError("ValidationError", f"DurationSeconds must be a number of seconds, not '{duration[:32]}'")
    seconds = int(duration)
    if not 900 <= seconds <= most:
        raise _validation(duration, "durationSeconds", "Member must have value "
                          + ("greater than or equal to 900" if seconds < 900 else f"less than or equal to {most}"))
    return seconds


def _string(params: dict[str, str], name: str, least: int, most: int, pattern: re.Pattern, shown: str) -> str | None:
    """An optional string member checked against its model constraints, with STS's validation message."""
    value = params.get(name)
    if value is None:
        return None
    member = name[0].lower() + name[1:]
    if not least <= len(value) <= most:
        raise _validation(value[:most], member, "Member must have length "
                          + (f"greater than or equal to {least}" if len(value) < least else f"less than or equal to {most}"))
    if not pattern.match(value):
        raise _validation(value, member, f"Member must satisfy regular expression pattern: {shown}")
    return value


def _no_mfa(params: dict[str, str]) -> None:
    """SerialNumber/TokenCode: checked as the model says, then refused as STS refuses a device that is not the
    caller's (kmstui registers no MFA devices, so no code can be valid)."""
    serial = _string(params, "SerialNumber", 9, 256, _SERIAL_NUMBER, r"[\w+=/:,.@-]*")
    code = params.get("TokenCode")
    if code is not None and not re.fullmatch(r"[0-9]{6}", code):
        raise _validation(code, "tokenCode", "Member must have length 6 and satisfy regular expression pattern: "
                                             "[\\d]*")
    if serial is not None or code is not None:
        raise StsError("AccessDenied", MFA_FAILED, 403)


def _members(params: dict[str, str], name: str, fields: tuple[str, ...] | None) -> list:
    """Query-protocol lists: Tags.member.1.Key=..., TransitiveTagKeys.member.1=..."""
    items: dict[int, Any] = {}
    prefix = f"{name}.member."
    for key, value in params.items():
        if not key.startswith(prefix):
            continue
        index, _, sub = key[len(prefix):].partition(".")
        if not index.isdigit():
            continue
        if fields is None:
            items[int(index)] = value
        elif sub in fields:
            items.setdefault(int(index), {})[sub] = value
    return [items[i] for i in sorted(items)]
