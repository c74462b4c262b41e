"""The AWS KMS JSON 1.1 protocol over a kmstui backend: request JSON -> backend call -> response JSON.

The shapes come from botocore's own KMS service model (the file boto3 and the aws CLI serialise with), so
blobs are base64 exactly where KMS has blobs, timestamps are epoch seconds, members the model does not
know are dropped from requests and responses, and required members are checked with KMS's
"1 validation error detected" wording. Operations are the ones the backend interface has
(kmstui.backends.base.OPERATIONS); any other target is answered as AWS answers an unknown operation.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from kmstui.backends.base import OPERATIONS
from kmstui.errors import KmstuiError

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "TrentService."
# HTTP status per error code: client errors are 400 on real KMS (responses recorded against AWS); the
# model's server faults are 5xx so clients retry them (and only them).
_STATUS = {"KMSInternalException": 500, "KeyUnavailableException": 500, "DependencyTimeoutException": 503,
           "ThrottlingException": 400}


class ProtocolError(Exception):
    """A request the protocol layer refuses before any backend call: (code, message, HTTP status)."""

    def __init__(self, code: str, message: str | None, status: int = 400) -> None:
        super().__init__(message or code)
        self.code, self.message, self.status = code, message, status


class KmsProtocol:
    """Operation lookup and (de)serialisation, built once per server from botocore's KMS model."""

    def __init__(self) -> None:
        import botocore.session
        from botocore import xform_name

        self.model = botocore.session.get_session().get_service_model("kms")
        self.operations: dict[str, tuple[str, Any]] = {}
        for op_name in self.model.operation_names:
            method = xform_name(op_name)
            if method in OPERATIONS:
                self.operations[op_name] = (method, self.model.operation_model(op_name))

    def operation(self, target: str | None) -> tuple[str, str, Any]:
        """(operation name, backend method, botocore operation model) for an X-Amz-Target value."""
        if not target or not target.startswith(TARGET_PREFIX) or target[len(TARGET_PREFIX):] not in self.operations:
            # AWS answers an unknown target of a JSON 1.1 service with 400 and this code, no message
            # (aws/aws-sdk-net#1536: `{"__type":"UnknownOperationException"}` with StatusCode BadRequest).
            raise ProtocolError("UnknownOperationException", None)
        name = target[len(TARGET_PREFIX):]
        method, model = self.operations[name]
        return name, method, model

    @staticmethod
    def parse_body(body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("SerializationException", "The request body is not valid JSON") from None
        except RecursionError:  # nesting deeper than the interpreter's stack: no KMS request is like that
            raise ProtocolError("SerializationException", "The request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise ProtocolError("SerializationException", "The request body must be a JSON object") from None
        return data

    def request_params(self, op_model: Any, data: dict[str, Any]) -> dict[str, Any]:
        """Backend keyword arguments from the request JSON: blobs decoded, unknown members dropped, types and
        required members checked as KMS checks them."""
        shape = op_model.input_shape
        if shape is None:
            return {}
        params = _decode_structure(shape, data, "")
        missing = [m for m in shape.required_members if params.get(m) is None]
        if missing:
            n = len(missing)
            parts = "; ".join(f"Value null at '{_camel(m)}' failed to satisfy constraint: Member must not be null"
                              for m in missing)
            raise ProtocolError("ValidationException", f"{n} validation error{'s' if n > 1 else ''} detected: {parts}")
        return params

    @staticmethod
    def response_body(op_model: Any, result: dict[str, Any]) -> bytes:
        shape = op_model.output_shape
        out = _encode(shape, result) if shape is not None else {}
        return json.dumps(out, separators=(",", ":")).encode()


def error_body(code: str, message: str | None) -> bytes:
    body: dict[str, Any] = {"__type": code}
    if message is not None:
        body["message"] = message
    return json.dumps(body, separators=(",", ":")).encode()


def error_of(exc: BaseException) -> tuple[str, str, int]:
    """(code, message, HTTP status) for an exception a backend call raised."""
    if isinstance(exc, ProtocolError):
        return exc.code, exc.message or "", exc.status
    if isinstance(exc, KmstuiError):
        code = exc.code
        if code in ("UsageError", "ConfigError", "CheckFailed", "KmstuiError"):
            code = "ValidationException"
        message = getattr(exc, "aws_message", None) or " ".join(str(exc).split())
        return code, message, _STATUS.get(code, 400)
    return "KMSInternalException", "The request failed inside kmstui; see the server's log", 500


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _decode(shape: Any, value: Any, path: str) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            raise ProtocolError("SerializationException", f"Expected an object at '{path or 'body'}'")
        return _decode_structure(shape, value, path)
    if kind == "list":
        if not isinstance(value, list):
            raise ProtocolError("SerializationException", f"Expected a list at '{path}'")
        return [_decode(shape.member, v, path) for v in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise ProtocolError("SerializationException", f"Expected an object at '{path}'")
        return {k: _decode(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if kind == "blob":
        if not isinstance(value, str):
            raise ProtocolError("SerializationException", f"Expected base64 text at '{path}'")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("SerializationException", f"'{path}' is not valid base64") from None
    if kind == "string":
        if not isinstance(value, str):
            raise ProtocolError("SerializationException", f"Expected a string at '{path}'")
        return value
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError("SerializationException", f"Expected an integer at '{path}'")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ProtocolError("SerializationException", f"Expected true or false at '{path}'")
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ProtocolError("SerializationException", f"Expected a timestamp at '{path}'")
        return value
    return value


def _decode_structure(shape: Any, value: dict[str, Any], path: str) -> dict[str, Any]:
    members = shape.members
    out = {}
    for name, v in value.items():
        member = members.get(name)
        if member is not None and v is not None:
            out[name] = _decode(member, v, f"{path}.{name}" if path else name)
    return out


def _encode(shape: Any, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return None
        members = shape.members
        return {k: _encode(members[k], v) for k, v in value.items() if k in members and v is not None}
    if kind == "list":
        return [_encode(shape.member, v) for v in value]
    if kind == "map":
        return {k: _encode(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        return base64.b64encode(value if isinstance(value, bytes) else bytes(value)).decode()
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value.timestamp()
        return value
    return value
