"""kmstui.server.limits and the app's last line of defence: what one connection may cost before a request
reaches the handler (head size, time to arrive), and what a client gets when the handler itself fails.

Before the fix a 64 MiB header was held in memory (the server's RSS grew by about 130 MiB per such
connection) and a connection that never completed a request stayed open for ever."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest

pytestmark = pytest.mark.timeout(300)


def _recv_all(sock: socket.socket, limit: float = 20.0) -> bytes:
    sock.settimeout(limit)
    out = b""
    with contextlib.suppress(OSError):
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    return out


@contextlib.contextmanager
def in_process_server(backend, *, request_timeout: float | None = None, handler=None):
    """The app of `kmstui serve` on `backend` under uvicorn in a thread, with the bounded protocol (its timeout
    shortened when asked); yields (host, port)."""
    import uvicorn

    from kmstui.server.app import KmsApp
    from kmstui.server.handler import Handler
    from kmstui.server.limits import bounded_httptools_protocol

    protocol = bounded_httptools_protocol()
    if request_timeout is not None:
        protocol = type("ShortTimeout", (protocol,), {"request_timeout": request_timeout})
    app = KmsApp(handler or Handler(backend), lambda record: None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="critical", access_log=False,
                                           http=protocol, proxy_headers=False))
    server.capture_signals = contextlib.nullcontext  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_huge_request_head_is_refused_with_431_and_the_server_keeps_serving(kmstui_server):
    from kmstui.server.limits import MAX_HEAD

    host, port = kmstui_server.url.split("//")[1].split(":")
    rss_before = _rss_kib(kmstui_server.proc.pid)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    with contextlib.suppress(OSError):  # the server closes the connection while we are still sending
        while sent < 16 * 1024 * 1024:
            sock.sendall(b"a" * 65536)
            sent += 65536
    answer = _recv_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert _rss_kib(kmstui_server.proc.pid) - rss_before < 16 * 1024  # far below the 16 MiB the client offered
    # A request with many ordinary headers, well under the bound, is served.
    extra = {f"X-Note-{i}": "v" * 40 for i in range(MAX_HEAD // 200)}
    client = kmstui_server.client()

    def add_headers(request, **kw):
        for name, value in extra.items():
            request.headers[name] = value

    client.meta.events.register("before-sign.kms.*", add_headers)
    assert client.list_keys()["ResponseMetadata"]["HTTPStatusCode"] == 200


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_an_incomplete_request_is_dropped_after_the_timeout(unsealed_hsm):
    """A connection that sends nothing, only part of its headers, or only part of its body is closed after the
    request timeout (408 while the head is incomplete); a complete request on another connection is served
    meanwhile, and the half-sent body never reaches the handler."""
    calls = []
    from kmstui.server.handler import Handler

    handler = Handler(unsealed_hsm)
    real = handler.handle
    handler.handle = lambda *a: (calls.append(a[0].body), real(*a))[1]
    with in_process_server(unsealed_hsm, request_timeout=0.5, handler=handler) as (host, port):
        idle = socket.create_connection((host, port))
        partial_head = socket.create_connection((host, port))
        partial_head.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        partial_body = socket.create_connection((host, port))
        partial_body.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                             b"X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 100\r\n\r\n{")
        start = time.monotonic()
        assert _recv_all(idle).startswith(b"HTTP/1.1 408 ")
        assert _recv_all(partial_head).startswith(b"HTTP/1.1 408 ")
        assert _recv_all(partial_body) == b""  # closed: the application answers nothing to half a request
        assert time.monotonic() - start < 15
        ok = socket.create_connection((host, port))
        ok.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                   b"X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        answer = _recv_all(ok)
        assert answer.startswith(b"HTTP/1.1 400 ") and b"MissingAuthenticationTokenException" in answer
        for s in (idle, partial_head, partial_body, ok):
            s.close()
    assert calls == [b"{}"]


def test_a_failure_inside_the_handler_gets_kmss_answer_not_a_bare_500(unsealed_hsm):
    """Whatever goes wrong inside, the client gets AWS's error shape (KMSInternalException, 500, which SDKs
    retry) with a request id, never uvicorn's text/plain 'Internal Server Error' or a traceback."""
    from kmstui.server.handler import Handler

    handler = Handler(unsealed_hsm)

    def broken(*args):
        raise RuntimeError("secret detail that must not reach the client")

    handler.handle = broken
    with in_process_server(unsealed_hsm, handler=handler) as (host, port):
        sock = socket.create_connection((host, port))
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     b"X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        answer = _recv_all(sock)
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ") and b"x-amzn-requestid: " in head.lower()
    assert json.loads(body)["__type"] == "KMSInternalException"
    assert b"secret detail" not in answer
