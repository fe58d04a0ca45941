"""Bounds on the connections `glm-mcp serve` accepts, below the ASGI app: how many, how long headers and bodies may
take.

Contract:
- past `max_connections` open connections, the oldest connection still waiting for a complete request head is
  answered 503 and closed to make room for the new one, so connections that never finish their headers (which
  need no token) cannot starve the ones that have; only when every open connection has sent its headers is the
  new one answered 503 and closed. Either way a flood cannot use up the process's file descriptors;
- a request whose headers have not all arrived `header_timeout_seconds` after the connection opened (or after
  the previous response, on a kept-alive connection) is answered 408 and closed: half-sent requests cannot
  hold the server, and `/healthz` keeps answering. Past half the cap the deadline shortens in proportion to the
  room left (down to `MIN_HEADER_SECONDS`), so a flood is shed faster the closer it gets to the cap;
- a request body that has not all arrived `body_timeout_seconds` after its headers is answered 408 (unless an
  answer has begun) and its connection closed; the app reading it sees the client go away. Bounded here, one
  timer per request, the body deadline costs the app's requests no layer around each receive and send;
- a client that goes away before its answer is complete is told to the app through `ON_DISCONNECT` in the scope,
  so an app need not keep a task waiting on `receive` to learn of it.
"""

from __future__ import annotations

import asyncio  # noqa: TID251  # uvicorn's protocol layer is asyncio's own
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from glm_mcp.config import ServeConfig
from glm_mcp.faces.caller import ON_DISCONNECT
from glm_mcp.http.coalescing import CoalescingTransport

_REFUSED = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = b'{"error":{"message":"%s","type":"invalid_request_error","code":null,"param":null}}' % message.encode()
    return _REFUSED % (status, reason.encode(), len(body), body)


MIN_HEADER_SECONDS = 0.5
"""The shortest header deadline, near the connection cap."""


def header_deadline(open_connections: int, max_connections: int, header_timeout_seconds: float) -> float:
    """Seconds a new request head may take with `open_connections` open: the configured time up to half the cap,
    then less in proportion to the room left."""
    fill = open_connections / max_connections
    if fill <= 0.5:
        return header_timeout_seconds
    return max(MIN_HEADER_SECONDS, min(header_timeout_seconds, header_timeout_seconds * (1 - fill) * 2))


def bounded_protocol(
    *, max_connections: int, header_timeout_seconds: float, body_timeout_seconds: float
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the bounds above."""
    waiting: dict[BoundedProtocol, None] = {}
    """Connections whose request head has not fully arrived, oldest first (an ordered set)."""

    class BoundedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None
        _deadline: float = header_timeout_seconds
        _writes: CoalescingTransport

        def connection_made(self, transport: asyncio.Transport) -> None:
            self._writes = CoalescingTransport(transport, self.loop)
            transport = cast(asyncio.Transport, self._writes)
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                oldest = next(iter(waiting), None)
                if oldest is None:
                    transport.write(_raw_response(503, "Service Unavailable", "too many open connections"))
                    transport.close()
                    return
                oldest._drop()
            self._arm()

        def _drop(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                message = "too many open connections; this one had not sent a complete request"
                self.transport.write(_raw_response(503, "Service Unavailable", message))
                self.transport.close()

        def _arm(self) -> None:
            if self._header_timer is None:
                self._deadline = header_deadline(len(self.connections), max_connections, header_timeout_seconds)
                self._header_timer = self.loop.call_later(self._deadline, self._headers_too_slow)
                waiting[self] = None

        def _disarm(self) -> None:
            waiting.pop(self, None)
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            waiting.pop(self, None)
            if not self.transport.is_closing():
                message = f"the request headers took longer than {self._deadline:g} s"
                self.transport.write(_raw_response(408, "Request Timeout", message))
                self.transport.close()

        def on_response_complete(self) -> None:
            # A whole answer leaves now, not when its task next gives the loop back: after its last bytes come the
            # request's bookkeeping and the unwinding of its layers.
            self._writes.flush()
            super().on_response_complete()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            cast(dict[str, Any], self.scope)[ON_DISCONNECT] = []  # an extension of the gateway's own
            self._body_timer = self.loop.call_later(body_timeout_seconds, self._body_too_slow)

        def on_message_complete(self) -> None:
            self._body_arrived()
            super().on_message_complete()

        def _body_arrived(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _body_too_slow(self) -> None:
            self._body_timer = None
            if self.transport.is_closing():
                return
            if not self.cycle.response_started:  # else its answer has begun: it is only closed
                message = f"the request body took longer than {body_timeout_seconds:g} s"
                self.transport.write(_raw_response(408, "Request Timeout", message))
            self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._body_arrived()
            cycle: RequestResponseCycle | None = getattr(self, "cycle", None)  # None before a first request
            super().connection_lost(exc)
            if cycle is not None and not cycle.response_complete:
                for hook in list(cycle.scope.get(ON_DISCONNECT, ())):
                    hook()

    return BoundedProtocol


def serve_protocol(limits: ServeConfig) -> type[HttpToolsProtocol]:
    """The protocol `serve` hosts the gateway with: the bounds its config's `gateway` section sets."""
    return bounded_protocol(
        max_connections=limits.max_connections,
        header_timeout_seconds=limits.header_timeout,
        body_timeout_seconds=limits.body_timeout,
    )
