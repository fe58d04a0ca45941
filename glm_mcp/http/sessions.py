"""Bounds on the MCP sessions of `/mcp`: per client and in all, the oldest idle session making room first.

Contract:
- a session is known from the `mcp-session-id` its opening response carries, and idle while none of its
  requests is in flight (an editor's standing GET stream keeps it busy);
- a session belongs to the client that opened it (the token it matched, or its address without authentication):
  another client naming it gets 404, as for a session that does not exist;
- before a request that may open a session is let through, room is made: at `max_per_client` sessions of that
  client (the token it matched, or its address without one) or at `max_sessions` in all, the oldest idle session is
  closed (a DELETE through the SDK's own handler); when none is idle the request is refused with 503;
- sessions the SDK let expire are forgotten after `idle_timeout_seconds`;
- a POST in a session carries `STREAM_CLOSED` in its scope, set when its client goes away;
- a session another replica opened and this one revived counts as its client's from its first answer here;
- a legacy `/sse` stream is a session too: it counts against both limits while it is open (never idle, so never
  closed to make room), and the `/messages/` posts of its `session_id` are taken only from the client that opened
  it (others get 404).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import anyio
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_mcp.faces.caller import STREAM_CLOSED, client_key
from glm_mcp.http.bodies import own_request

logger = logging.getLogger(__name__)

_SSE_SESSION = re.compile(rb"session_id=([0-9a-fA-F]+)")


@dataclass
class _Session:
    client: str
    last_used: float = field(default_factory=time.monotonic)  # not anyio's clock: cheaper, read on every request
    in_flight: int = 0


def closing_watched(scope: Scope, receive: Receive) -> Receive:
    """`receive` that marks `scope[STREAM_CLOSED]` when the client disconnects."""
    closed = anyio.Event()
    scope[STREAM_CLOSED] = closed

    async def watched() -> Message:
        message = await receive()
        if message["type"] == "http.disconnect":
            closed.set()
        return message

    return watched


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
    await JSONResponse(body, status_code=404)(scope, receive, send)


class SessionLimits:
    """ASGI middleware in front of the SDK's streamable HTTP app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_sessions: int,
        max_per_client: int,
        idle_timeout_seconds: float,
        path: str = "/mcp",
        sse_path: str = "/sse",
        sse_messages: str = "/messages/",
    ) -> None:
        self.app = app
        self.max_sessions = max_sessions
        self.max_per_client = max_per_client
        self.idle_timeout_seconds = idle_timeout_seconds
        self.path = path
        self.sse_path = sse_path
        self.sse_messages = sse_messages
        self._sse_owners: dict[str, str] = {}
        """A legacy `/sse` stream's `session_id` → the client that opened it."""
        self.sessions: dict[str, _Session] = {}
        self._standing: set[anyio.CancelScope] = set()
        self._closing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.sse_path and scope["method"] == "GET":
            await self._sse_stream(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == self.sse_messages:
            ids = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id", [""])
            owner = self._sse_owners.get(ids[0].replace("-", ""))
            if owner is not None and owner != client_key(scope):
                await _not_found(scope, receive, send)
                return
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        session_id = dict(scope["headers"]).get(b"mcp-session-id", b"").decode("latin-1")
        if session_id:
            await self._in_session(session_id, scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        client = client_key(scope)
        if not await self._make_room(client, scope):
            body = {"error": {"message": "too many open MCP sessions; close idle ones", "type": "server_error"}}
            await JSONResponse(body, status_code=503, headers={"Retry-After": "5"})(scope, receive, send)
            return

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                opened = dict(message.get("headers", [])).get(b"mcp-session-id")
                if opened:
                    self.sessions[opened.decode("latin-1")] = _Session(client)
            await send(message)

        await self.app(scope, receive, remember)

    async def _sse_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_key(scope)
        if not await self._make_room(client, scope):
            body = {"error": {"message": "too many open MCP sessions; close idle ones", "type": "server_error"}}
            await JSONResponse(body, status_code=503, headers={"Retry-After": "5"})(scope, receive, send)
            return
        key = f"sse:{uuid.uuid4().hex}"
        self.sessions[key] = _Session(client, in_flight=1)
        owned: list[str] = []

        async def noting(message: Message) -> None:
            if not owned and message["type"] == "http.response.body":
                found = _SSE_SESSION.search(message.get("body", b""))
                if found is not None:
                    owned.append(found.group(1).decode())
                    self._sse_owners[owned[0]] = client
            await send(message)

        try:
            # Not a standing stream that stopping may end at once: a legacy client's calls answer on it.
            await self.app(scope, receive, noting)
        finally:
            self.sessions.pop(key, None)
            for session_id in owned:
                self._sse_owners.pop(session_id, None)

    def close_streams(self) -> None:
        """End every standing GET stream now (shutdown: an idle editor must not hold the process)."""
        self._closing = True
        for stream in list(self._standing):
            stream.cancel()

    async def _standing_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        finished = False

        async def tracked(message: Message) -> None:
            nonlocal started, finished
            started = started or message["type"] == "http.response.start"
            finished = finished or (message["type"] == "http.response.body" and not message.get("more_body", False))
            await send(message)

        with anyio.CancelScope() as stream:
            self._standing.add(stream)
            try:
                if not self._closing:
                    await self.app(scope, receive, tracked)
            finally:
                self._standing.discard(stream)
        if started and not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _in_session(self, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        session = self.sessions.get(session_id)
        if session is not None and session.client != client_key(scope):
            # Another token's session: answered as the SDK answers one that does not exist, telling nothing.
            await _not_found(scope, receive, send)
            return
        if session is not None:
            session.in_flight += 1
        else:
            send = self._adopting(session_id, scope, send)
        try:
            if scope["method"] == "GET":
                await self._standing_stream(scope, receive, send)
            elif scope["method"] == "POST":
                await self.app(scope, closing_watched(scope, receive), send)
            else:
                await self.app(scope, receive, send)
        finally:
            if session is not None:
                session.in_flight -= 1
                session.last_used = time.monotonic()
                if scope["method"] == "DELETE":
                    self.sessions.pop(session_id, None)

    def _adopting(self, session_id: str, scope: Scope, send: Send) -> Send:
        """A `send` that counts a session this process did not open (another replica did, and this one revived it)
        as this client's from its first successful answer."""

        async def adopt(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400 and scope["method"] != "DELETE":
                self.sessions.setdefault(session_id, _Session(client_key(scope)))
            await send(message)

        return adopt

    async def _make_room(self, client: str, scope: Scope) -> bool:
        now = time.monotonic()
        for session_id, session in list(self.sessions.items()):
            if not session.in_flight and now - session.last_used > self.idle_timeout_seconds:
                del self.sessions[session_id]  # the SDK has let it expire
        mine = [sid for sid, session in self.sessions.items() if session.client == client]
        if len(mine) >= self.max_per_client and not await self._close_oldest_idle(mine, scope):
            return False
        if len(self.sessions) >= self.max_sessions and not await self._close_oldest_idle(list(self.sessions), scope):
            return False
        return True

    async def _close_oldest_idle(self, candidates: list[str], scope: Scope) -> bool:
        idle = [sid for sid in candidates if not self.sessions[sid].in_flight]
        if not idle:
            return False
        oldest = min(idle, key=lambda sid: self.sessions[sid].last_used)
        del self.sessions[oldest]
        logger.info("closing the idle MCP session %s… to make room for a new one", oldest[:8])
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in (b"content-type", b"content-length", b"mcp-session-id")
        ]
        delete: Scope = {**scope, "method": "DELETE", "headers": [*headers, (b"mcp-session-id", oldest.encode())]}
        await own_request(self.app, delete, b"", 5)
        return True
