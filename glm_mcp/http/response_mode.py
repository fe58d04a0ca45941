"""Per-request response mode on `/mcp`: a plain JSON body when nothing can stream, SSE when something can.

Streamable HTTP lets the server answer each POST either way. An SSE response costs the SDK a task group
of four or five tasks per request; a JSON one does not (measured with `bench/`: about 760 against 1,550
tool calls/s at 16 connections). Our server uses a request's own stream for progress notifications and for
the questions an upstream server asks while serving it (sampling, elicitation, roots: they travel to the
editor as requests on that stream); upstream log messages and `list_changed` go on the session's GET stream.
So a request is answered with JSON when it carries no progress token and its session's editor declared none
of sampling, elicitation and roots at `initialize` (it could not be asked anyway).

The SDK's transport reads its `is_json_response_enabled` flag only inside the request's own task; the
flag here reads a context variable that the middleware sets for that task, and keeps the configured
value wherever the middleware did not run (other servers in the same process are unaffected) and for the
request that opens a session (whose context the session's own long-lived tasks inherit).
"""

from __future__ import annotations

import json
import logging
import math
import weakref
from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Protocol

import anyio
from mcp.server import streamable_http_manager
from mcp.server.streamable_http import StreamableHTTPServerTransport
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_mcp._json import as_object
from glm_mcp.faces.caller import client_key
from glm_mcp.http.bodies import TOO_DEEP, TOO_LARGE, nests_too_deep, own_request, read_body, replaying
from glm_mcp.http.events import SessionEvents, StoredEvents
from glm_mcp.http.shared_sessions import SharedSessions
from glm_mcp.replicas.events import RedisEvents, RedisSessionEvents

logger = logging.getLogger(__name__)

_JSON_RESPONSE: ContextVar[bool | None] = ContextVar("glm_mcp_json_response", default=None)
_REVIVING: ContextVar[str | None] = ContextVar("glm_mcp_reviving", default=None)
"""Set while a session recorded by another replica is opened here: the id its transport takes."""


class _PerRequestTransport(StreamableHTTPServerTransport):
    _json_default: bool = False
    live: ClassVar[weakref.WeakValueDictionary[str, _PerRequestTransport]] = weakref.WeakValueDictionary()
    """Each open session's transport by its id, for requests served beside it (`held`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if (reviving := _REVIVING.get()) is not None and kwargs.get("mcp_session_id") is not None:
            kwargs["mcp_session_id"] = reviving
        super().__init__(*args, **kwargs)
        self._own_events: SessionEvents | RedisSessionEvents | None = None
        if self.mcp_session_id is not None:
            _PerRequestTransport.live[self.mcp_session_id] = self
            shared = self._event_store
            if isinstance(shared, StoredEvents | RedisEvents):
                # The manager gives every session the same store; each keeps and replays only its own events.
                self._own_events = shared.for_session(self.mcp_session_id)
                self._event_store = self._own_events

    async def terminate(self) -> None:
        await super().terminate()
        if isinstance(self._own_events, SessionEvents):  # kept in Redis, they may serve the session elsewhere
            self._own_events.events.forget(self._own_events.session)

    @asynccontextmanager
    async def held(self) -> AsyncGenerator[bool, None]:
        """For a request the fast lane serves beside the transport: yields whether the session is still open, and
        keeps its idle countdown suspended meanwhile, exactly as the transport's own `handle_request` does."""
        scope = self.idle_scope
        if self.is_terminated or (scope is not None and scope.cancel_called):
            yield False
            return
        if scope is None or self._idle_timeout is None:
            yield True
            return
        self._requests_in_flight += 1  # the base's own count, kept as it keeps it
        scope.deadline = math.inf
        try:
            yield True
        finally:
            self._requests_in_flight -= 1
            if not self._requests_in_flight:
                scope.deadline = anyio.current_time() + self._idle_timeout

    @property
    def is_json_response_enabled(self) -> bool:
        choice = _JSON_RESPONSE.get()
        return self._json_default if choice is None else choice

    @is_json_response_enabled.setter
    def is_json_response_enabled(self, value: bool) -> None:
        self._json_default = value


def session_transport(session_id: str) -> _PerRequestTransport | None:
    """The transport of the open `/mcp` session `session_id`, if there is one."""
    return _PerRequestTransport.live.get(session_id)


def install() -> None:
    """Make the SDK's session manager build transports that honour the per-request choice (process-wide;
    idempotent; done when the HTTP app is built)."""
    # The manager looks the class up in its module at each new session.
    if getattr(streamable_http_manager, "StreamableHTTPServerTransport", None) is not _PerRequestTransport:
        setattr(streamable_http_manager, "StreamableHTTPServerTransport", _PerRequestTransport)  # noqa: B010


MAX_ASKABLE_SESSIONS = 10_000
"""Sessions remembered as able to answer questions (oldest forgotten first; the SDK caps sessions too)."""

_ASKABLE = ("sampling", "elicitation", "roots")


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    refusal = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "the body is too large"}}
    await JSONResponse(refusal, status_code=413)(scope, receive, send)


def _initialize(body: bytes) -> bool:
    """Whether a body is an `initialize` request."""
    return b'"initialize"' in body and (as_object(_loads(body)) or {}).get("method") == "initialize"


def _loads(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _askable(body: bytes) -> bool:
    """Whether an `initialize` body declares a capability the gateway may need to ask through."""
    try:
        message = as_object(json.loads(body))
    except ValueError:
        return False
    if message is None or message.get("method") != "initialize":
        return False
    capabilities = as_object((as_object(message.get("params")) or {}).get("capabilities"))
    return capabilities is not None and any(key in capabilities for key in _ASKABLE)


class Lane(Protocol):
    """What serves some JSON-answered requests of known sessions beside the SDK (the MCP face's fast lane)."""

    async def answer(self, session_id: str, scope: Scope, headers: dict[bytes, bytes], body: bytes, send: Send) -> bool:
        """Answer the request in `body` (`headers`: the request's, by lower-case name) and return True, or return
        False and leave it to the SDK."""
        ...

    def cancelled(self, session_id: str, body: bytes) -> None:
        """The client cancelled a request (`body` is its notification): stop it if this lane is serving it."""
        ...


class ResponseMode:
    """Chooses JSON or SSE for each POST to `path`, from its body, its session and its `Accept` header; a request
    to be answered in JSON in a known session is offered to `lane` first."""

    def __init__(self, app: ASGIApp, path: str = "/mcp", lane: Lane | None = None) -> None:
        self.app = app
        self.path = path
        self.lane = lane
        self._askable: OrderedDict[bytes, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client went away before its body arrived
        if body is TOO_LARGE:
            await _too_large(scope, receive, send)
            return
        if nests_too_deep(body):
            refusal = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": TOO_DEEP}}
            await JSONResponse(refusal, status_code=400)(scope, receive, send)
            return
        headers = dict(scope["headers"])
        accept = headers.get(b"accept", b"")
        session = headers.get(b"mcp-session-id")
        json_ok = b"application/json" in accept and b"progressToken" not in body and session not in self._askable
        outgoing = send
        if session is None:
            # A request that opens a session starts the session's long-lived tasks, which would inherit
            # the choice; they must keep the configured mode.
            json_ok = None
            if _askable(body):
                outgoing = self._remember_session(send)
        elif self.lane is not None:
            sid = session.decode("latin-1")
            transport = session_transport(sid) if json_ok else None
            if transport is not None:
                async with transport.held() as still_open:
                    if still_open and await self.lane.answer(sid, scope, headers, body, send):
                        return
            if b"notifications/cancelled" in body:
                self.lane.cancelled(sid, body)
        replay = replaying(body, receive)
        token = _JSON_RESPONSE.set(json_ok)
        try:
            await self.app(scope, replay, outgoing)
        finally:
            _JSON_RESPONSE.reset(token)

    def _remember_session(self, send: Send) -> Send:
        """A `send` that notes the session id the `initialize` answer assigns."""

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"mcp-session-id":
                        self._askable[bytes(value)] = None
                        while len(self._askable) > MAX_ASKABLE_SESSIONS:
                            self._askable.popitem(last=False)
            await send(message)

        return noting


class SharedResponseMode(ResponseMode):
    """`ResponseMode` for a replica among others (`gateway.redis_url`): sessions recorded in Redis when they open,
    revived here when another replica opened them, ended everywhere when their client ends them."""

    def __init__(self, app: ASGIApp, shared: SharedSessions, path: str = "/mcp", lane: Lane | None = None) -> None:
        super().__init__(app, path, lane)
        self.shared = shared

    async def _answer(self, scope: Scope, receive: Receive, send: Send, body: bytes | None) -> None:
        """What `ResponseMode` answers, the body (if any) already read."""
        if body is TOO_LARGE:
            await _too_large(scope, receive, send)
            return
        await super().__call__(scope, receive if body is None else replaying(body, receive), send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request with its session shared with other replicas: revived here if another opened it,
        recorded when it opens, its choices and its end noted."""
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        shared = self.shared
        session = dict(scope["headers"]).get(b"mcp-session-id")
        if session is None:
            body = await read_body(receive) if scope["method"] == "POST" else None
            if body is None or body is TOO_LARGE or not _initialize(body):
                await self._answer(scope, receive, send, body)
                return

            async def noting(message: Message) -> None:
                # Recorded before the client has the id: its next request may land on another replica at once.
                if message["type"] == "http.response.start" and message["status"] == 200:
                    for key, value in message.get("headers", []):
                        if key == b"mcp-session-id":
                            await shared.opened(value.decode("latin-1"), client_key(scope), body)
                await send(message)

            await self._answer(scope, receive, noting, body)
            return
        sid = session.decode("latin-1")
        if session_transport(sid) is None:
            await self._revive(shared, sid, scope)
        await shared.touched(sid)
        body = await read_body(receive) if scope["method"] == "POST" else None
        status: list[int] = []

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self._answer(scope, receive, watched, body)
        if status and status[0] < 400:
            if scope["method"] == "DELETE":
                await shared.closed(sid)
            elif body is not None and body is not TOO_LARGE and shared.notes(body):
                await shared.noted(sid, body)

    async def end_here(self, sid: str) -> None:
        """End this process's side of a session another replica's client ended (the SDK's own DELETE)."""
        if session_transport(sid) is None:
            return
        headers = [(b"host", b"127.0.0.1"), (b"mcp-session-id", sid.encode("latin-1"))]
        scope: Scope = {"type": "http", "method": "DELETE", "path": self.path, "headers": headers, "query_string": b""}
        local = {**scope, "scheme": "http", "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}
        await own_request(self.app, local, b"", 10)
        logger.info("session %s… ended by its client on another replica; ended here too", sid[:8])

    async def _revive(self, shared: SharedSessions, sid: str, scope: Scope) -> None:
        """Open here the session another replica opened, replaying what it recorded (no-op if it has none)."""
        bodies = await shared.replay(sid, client_key(scope))
        if not bodies:
            return
        dropped = (b"mcp-session-id", b"content-length", b"content-type", b"accept", b"last-event-id")
        headers = [(name, value) for name, value in scope["headers"] if name not in dropped]
        headers += [(b"content-type", b"application/json"), (b"accept", b"application/json, text/event-stream")]
        token = _REVIVING.set(sid)
        try:
            opened = await own_request(self.app, {**scope, "method": "POST", "headers": headers}, bodies[0], 10)
        finally:
            _REVIVING.reset(token)
        if opened != 200:
            logger.warning("session %s… recorded by another replica could not be opened here (%s)", sid[:8], opened)
            return
        if _askable(bodies[0]):
            self._askable[sid.encode("latin-1")] = None
        in_session = {**scope, "method": "POST", "headers": [*headers, (b"mcp-session-id", sid.encode("latin-1"))]}
        for body in bodies[1:]:
            await own_request(self.app, in_session, body, 10)
        logger.info("session %s… opened by another replica is served here too", sid[:8])
