"""Bounds on what one connection may cost the server before a request reaches the application.

uvicorn's httptools protocol keeps a request's URL and headers in memory with no limit (a client sending a
64 MiB header made the server hold about 190 MiB) and waits forever for a request that never completes
(a connection that sends nothing, or trickles its headers or body, is kept open indefinitely). Every
input has a bound, so the protocol class here adds two, the usual front-end ones:

- the request head (request line and headers) is at most MAX_HEAD bytes: a larger one is answered
  `431 Request Header Fields Too Large` and the connection closed;
- a request must arrive complete within REQUEST_TIMEOUT seconds of its first byte (or of the connection
  being opened): otherwise `408 Request Timeout` (while its head is still arriving) and the connection is
  closed. Idle keep-alive connections are still closed by uvicorn's own keep-alive timeout.

No request reaches the application before it is complete: a slow client only ever holds its own connection.
"""

from __future__ import annotations

MAX_HEAD = 64 * 1024  # request line + headers; SDK requests use about 1 KiB
REQUEST_TIMEOUT = 60.0  # seconds for a whole request (head and body) to arrive


def _refusal(status: int, reason: str) -> bytes:
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
            f"{len(reason)}\r\nconnection: close\r\n\r\n{reason}").encode("ascii")


def bounded_httptools_protocol():
    """uvicorn's httptools protocol class with the bounds above (imported lazily: uvicorn is optional)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        max_head = MAX_HEAD
        request_timeout = REQUEST_TIMEOUT

        def connection_made(self, transport) -> None:  # type: ignore[override]
            self._in_head, self._head_bytes, self._deadline = True, 0, None
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            counting = self._in_head
            if counting:
                self._head_bytes += len(data)
            super().data_received(data)
            if counting and self._in_head and self._head_bytes > self.max_head:
                self._refuse(431, "Request Header Fields Too Large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_bytes = True, 0
            self._arm()

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _timed_out(self) -> None:
            self._deadline = None
            if self._in_head:
                self._refuse(408, "Request Timeout")
            elif not self.transport.is_closing():
                self.transport.close()  # the application sees a disconnect and answers nothing

        def _refuse(self, status: int, reason: str) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(_refusal(status, reason))
                self.transport.close()

    return BoundedHttpToolsProtocol
