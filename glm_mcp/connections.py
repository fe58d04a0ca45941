"""Bounds on the connections `glm-mcp serve` accepts, below the ASGI app: how many, and how long headers may take.

Contract:
- past `max_connections` open connections, a new one is answered 503 and closed at once, so a flood of idle or
  half-open connections cannot use up the process's file descriptors;
- a request whose headers have not all arrived `header_timeout_seconds` after the connection opened (or after
  the previous response, on a kept-alive connection) is answered 408 and closed: half-sent requests cannot
  hold the server, and `/healthz` keeps answering.
Body read times are bounded in the ASGI app (`app.BodyDeadline`), where the request is known.
"""

from __future__ import annotations

import asyncio  # noqa: TID251  # uvicorn's protocol layer is asyncio's own

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REFUSED = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = b'{"error":{"message":"%s","type":"invalid_request_error","code":null,"param":null}}' % message.encode()
    return _REFUSED % (status, reason.encode(), len(body), body)


def bounded_protocol(*, max_connections: int, header_timeout_seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the two bounds above."""

    class BoundedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_raw_response(503, "Service Unavailable", "too many open connections"))
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                message = f"the request headers took longer than {header_timeout_seconds:g} s"
                self.transport.write(_raw_response(408, "Request Timeout", message))
                self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return BoundedProtocol
