"""The fast lane of `/mcp`: the common requests of a known 2025-era session answered beside the SDK's machinery.

Each request the SDK serves costs a memory stream, a dispatcher task and a middleware chain on top of the HTTP
request itself (about a third of the gateway's CPU per call, profiled under `wrk`). For the two requests an editor
sends most, `tools/call` and `tools/list`, in a session the SDK opened and has already served, to be answered in
plain JSON (`http.response_mode` decides that), the lane calls the very same handlers directly and writes the
answer the SDK would have written.

Contract:
- a request is taken only when nothing about it needs the SDK: a session the SDK served before, still open, in a
  2025-era revision named by the request's `MCP-Protocol-Version`; a JSON `Content-Type`; one JSON-RPC request
  with a string or integer id whose params are exactly what the method defines (a string `name` and an object of
  `arguments` for `tools/call`, nothing or a `cursor` for `tools/list`). Anything else (a batch, `_meta`, a
  progress token, an unknown key, a malformed body, a call of the gateway's own `glm__` tools) goes to the SDK,
  which answers it as always;
- the answer is the SDK's: the same handler, the same per-revision shaping of the result
  (`serialize_server_result`), the same error codes (an `MCPError` as itself, invalid params as `-32602`, any other
  failure as code 0 with its message, a cancelled request as `-32800`), the session's id in the headers;
- the caller (`http.response_mode`) offers a request only while the SDK's session is open, and holds it (its idle
  countdown suspended) while the lane serves it; a `notifications/cancelled` naming a request the lane is serving
  cancels it.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp.types as T
from mcp import MCPError
from mcp.server import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.streamable_http import REQUEST_CANCELLED
from mcp_types.methods import serialize_server_result
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import Scope, Send

from glm_mcp._json import as_object, loads
from glm_mcp.eras import MODERN_VERSION
from glm_mcp.relay.editor import connection_of

logger = logging.getLogger(__name__)

MAX_LISTINGS = 8
"""Tool listings kept encoded (one per revision and per set of tools: a person's, search mode's, a new catalog's)."""

Handler = Callable[[ServerRequestContext[Any], Any], Awaitable[BaseModel]]

_PARAMS: dict[str, tuple[type[BaseModel], frozenset[str], frozenset[str]]] = {
    "tools/call": (T.CallToolRequestParams, frozenset({"name"}), frozenset({"name", "arguments"})),
    "tools/list": (T.PaginatedRequestParams, frozenset(), frozenset({"cursor"})),
}
"""Per method: its params model, the keys it needs and the keys the lane takes (any other key: the SDK's)."""

_ENVELOPE = frozenset({"jsonrpc", "id", "method", "params"})

GATEWAY_TOOLS = "glm__"
"""The prefix of the gateway's own tools (`glm__agent`, `glm__login`, search mode's pair): they speak to the editor
during the call, on the request's own session, so they are the SDK's to serve."""


def _json_content(headers: dict[bytes, bytes]) -> bool:
    """The SDK's own Content-Type check: `application/json` among the media types before any parameter."""
    kind = headers.get(b"content-type", b"")
    return any(part.strip() == b"application/json" for part in kind.split(b";")[0].split(b","))


class FastLane:
    """Serves `tools/call` and `tools/list` of known sessions with the face's own handlers."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self._handlers = handlers
        self._sessions: dict[str, ServerSession] = {}
        """HTTP session id → a session proxy of that editor's connection (the latest the SDK handed a handler)."""
        self._running: dict[tuple[str, str], anyio.CancelScope] = {}
        self._listings: OrderedDict[tuple[str, tuple[int, ...]], tuple[list[T.Tool], bytes]] = OrderedDict()
        """Tool listings as answered, by revision and by the very tool objects listed (the catalog's)."""

    def note(self, ctx: ServerRequestContext[Any]) -> None:
        """Remember the session a handler served over `/mcp`: its next common requests may take the lane."""
        request: Any = ctx.request
        headers = getattr(request, "headers", None)
        sid = headers.get("mcp-session-id") if headers is not None else None
        if not isinstance(sid, str) or ctx.session.protocol_version in (None, MODERN_VERSION):
            return
        if sid not in self._sessions:
            connection_of(ctx.session).exit_stack.callback(self._sessions.pop, sid, None)
        self._sessions[sid] = ctx.session

    def cancelled(self, session_id: str, body: bytes) -> None:
        try:
            message = as_object(loads(body))
        except ValueError:
            return
        params = as_object((message or {}).get("params"))
        if message is None or message.get("method") != "notifications/cancelled" or params is None:
            return
        running = self._running.get((session_id, str(params.get("requestId"))))
        if running is not None:
            running.cancel()

    async def answer(self, session_id: str, scope: Scope, headers: dict[bytes, bytes], body: bytes, send: Send) -> bool:
        session = self._sessions.get(session_id)
        if session is None or not _json_content(headers):
            return False
        version = session.protocol_version
        if headers.get(b"mcp-protocol-version", b"").decode("latin-1") != version:
            return False
        taken = _taken(body)
        if taken is None:
            return False
        request_id, method, params = taken
        ctx: ServerRequestContext[Any] = ServerRequestContext(
            session=session,
            lifespan_context={},
            protocol_version=version,
            method=method,
            params=params,
            request_id=request_id,
            request=Request(scope),
        )
        kind, reply = await self._run(session_id, ctx, method, params)
        content = b'{"jsonrpc":"2.0","id":%s,"%s":%s}' % (_encoded(request_id), kind.encode(), reply)
        answered = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            (b"mcp-session-id", session_id.encode("latin-1")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": answered})
        await send({"type": "http.response.body", "body": content})
        return True

    async def _run(
        self, session_id: str, ctx: ServerRequestContext[Any], method: str, params: dict[str, Any]
    ) -> tuple[str, bytes]:
        """("result", its JSON) or ("error", its JSON), as the SDK's dispatcher would have written them."""
        model, _, _ = _PARAMS[method]
        key = (session_id, str(ctx.request_id))
        with anyio.CancelScope() as running:
            self._running[key] = running
            try:
                typed = model.model_validate(params, by_name=False)
                result = await self._handlers[method](ctx, typed)
                return "result", self._shaped(method, str(ctx.protocol_version), result)
            except MCPError as exc:
                return "error", _encoded(exc.error.model_dump(by_alias=True, mode="json", exclude_unset=True))
            except ValidationError:
                return "error", _encoded(
                    {"code": T.INVALID_PARAMS, "message": "Invalid request parameters", "data": ""}
                )
            except Exception as exc:  # boundary: the SDK's own catch-all for a failing handler, code 0
                logger.exception("handler for %r raised", method)
                return "error", _encoded({"code": 0, "message": str(exc)})
            finally:
                if self._running.get(key) is running:
                    del self._running[key]
        return "error", _encoded({"code": REQUEST_CANCELLED, "message": "Request cancelled"})

    def _shaped(self, method: str, version: str, result: BaseModel) -> bytes:
        """The result shaped for `version` and encoded; a listing of the same tools is shaped once."""
        listing: tuple[str, tuple[int, ...]] | None = None
        tools: list[T.Tool] = result.tools if isinstance(result, T.ListToolsResult) else []
        if isinstance(result, T.ListToolsResult) and result.model_fields_set == {"tools"}:
            listing = (version, tuple(map(id, tools)))
            if (known := self._listings.get(listing)) is not None:
                self._listings.move_to_end(listing)
                return known[1]
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        encoded = _encoded(serialize_server_result(method, version, dumped))
        if listing is not None:
            # The tools are held with their encoding, so the ids in the key cannot be taken by other objects.
            self._listings[listing] = (list(tools), encoded)
            while len(self._listings) > MAX_LISTINGS:
                self._listings.popitem(last=False)
        return encoded


def _encoded(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _taken(body: bytes) -> tuple[int | str, str, dict[str, Any]] | None:
    """(id, method, params) of a request the lane takes; None for anything the SDK must see."""
    try:
        message = as_object(loads(body))
    except ValueError:
        return None
    if message is None or message.get("jsonrpc") != "2.0" or not _ENVELOPE.issuperset(message):
        return None
    request_id, method = message.get("id"), message.get("method")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str) or not isinstance(method, str):
        return None
    shape = _PARAMS.get(method)
    params = as_object(message.get("params", {}))
    if shape is None or params is None:
        return None
    _, needed, allowed = shape
    if not (needed <= params.keys() <= allowed):
        return None
    if method == "tools/call" and not (
        isinstance(params["name"], str)
        and not params["name"].startswith(GATEWAY_TOOLS)
        and isinstance(params.get("arguments", {}), dict | None)
    ):
        return None
    return request_id, method, params
