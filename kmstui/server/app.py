"""The ASGI application: bytes in, bytes out. It reads the body (bounded), runs the request through the
Handler and writes the answer with `x-amzn-RequestId`, Content-Length and keep-alive as botocore's connection
pool expects.

The Handler runs on the event loop's own thread, one request at a time. The backend is single-threaded by
design (one process owns the store; `acting_as` holds its lock for the whole call), so requests were always
served one after another; handing each to a worker thread only added two thread switches and a wake-up of
the loop per request (about a tenth of the server's CPU per request). While a call runs, the loop reads
nothing new; the kernel holds the next requests until it returns, as the worker's queue did before.

No web framework is needed for one route; the HTTP server underneath is uvicorn (run.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from kmstui.server.auth import SignedRequest
from kmstui.server.handler import MAX_BODY, AccessRecord, Handler, Response, new_request_id
from kmstui.server.kms import error_body

DRAIN_LIMIT = 16 * 1024 * 1024
_DISCONNECTED = object()
log = logging.getLogger("kmstui.server")


class KmsApp:
    """ASGI callable. `on_record(AccessRecord)` receives one access-log record per request."""

    def __init__(self, handler: Handler, on_record: Callable[[AccessRecord], None], *, scheme: str = "http") -> None:
        self.handler = handler
        self.on_record = on_record
        self.scheme = scheme

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        record = AccessRecord(time=time.time(), request_id=new_request_id(),
                              source_ip=(scope.get("client") or ("unknown", 0))[0])
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        body = await self._body(headers, receive)
        if body is _DISCONNECTED:  # the client went away (or timed out) mid-body: nothing to answer or run
            return
        if body is None:
            response = Response(413, error_body("ValidationException", f"The request body is larger than the "
                                                f"{MAX_BODY // 1024} KiB this endpoint accepts"),
                                request_id=record.request_id, extra_headers=[("connection", "close")])
            record.decision, record.status, record.error = "error", 413, "RequestEntityTooLarge"
        else:
            raw_path = scope.get("raw_path") or scope["path"].encode()
            request = SignedRequest(scope["method"], self.scheme, raw_path.decode("latin-1").split("?")[0],
                                    scope.get("query_string", b"").decode("latin-1"), headers, body)
            try:
                response = self.handler.handle(request, record.source_ip, record)
            except Exception:  # noqa: BLE001 - a bug must still get KMS's answer, never a bare 500 or a traceback
                log.exception("request %s failed inside kmstui", record.request_id)
                response = Response(500, error_body("KMSInternalException", "The request failed inside kmstui; see "
                                                    "the server's log"), request_id=record.request_id)
                record.decision, record.error = "error", "KMSInternalException"
        record.status = response.status
        await send({"type": "http.response.start", "status": response.status, "headers": [
            (b"content-type", response.content_type.encode()), (b"content-length", str(len(response.body)).encode()),
            (b"x-amzn-requestid", response.request_id.encode()), *[(k.encode(), v.encode()) for k, v in
                                                                    response.extra_headers]]})
        await send({"type": "http.response.body", "body": response.body})
        record.latency_ms = (time.perf_counter() - started) * 1000
        self.on_record(record)

    @staticmethod
    async def _body(headers: list[tuple[str, str]], receive) -> Any:
        """The whole body, None when it exceeds MAX_BODY, or _DISCONNECTED when the client left before
        sending all of it (a partial body is never handled). An oversized body of up to DRAIN_LIMIT is read
        and dropped, so the client (still sending) gets the 413 instead of a broken pipe; a larger one is
        answered at once and the connection closed."""
        for name, value in headers:
            if name == "content-length" and value.isdigit() and int(value) > DRAIN_LIMIT:
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _DISCONNECTED
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_BODY:
                chunks.append(chunk)
            elif chunks:
                chunks = []
            if not message.get("more_body") or size > DRAIN_LIMIT:
                break
        return None if size > MAX_BODY else b"".join(chunks)

