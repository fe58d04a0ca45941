"""One MCP client session to one server, on a JSON-RPC dispatcher the gateway owns.

Contract:
- `open_wire` negotiates the session (`legacy`: the `initialize` handshake; `2026-07-28`: no handshake,
  `server/discover`; `auto` over streamable HTTP: `server/discover` first, and the handshake when the server refuses
  it; `auto` over stdio and SSE: the handshake first, and `server/discover` when the server refuses it; an answer
  in a version this client cannot use counts as a refusal, never as a failed connection to retry) and yields a
  `Wire`;
- `Wire.request` sends any request and returns the raw result, stamped as the negotiated era requires
  (the protocol-version header on HTTP; on 2026-07-28 the per-request `_meta` envelope and the `Mcp-Method` and
  `Mcp-Name` headers), so listings can be validated item by item and results relayed unchanged;
- the server's own requests (sampling, elicitation, roots) go to the `Answers` given; a capability is
  advertised exactly when there is an answer for it.

Only public SDK names are used here: the dispatcher is built from `JSONRPCDispatcher`, and the typed layer
(`ClientSession`) runs on it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import mcp.types as T
from mcp.client import ClientRequestContext, ClientSession
from mcp.client.session import LoggingFnT, MessageHandlerFnT
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from pydantic import ValidationError

from glm_mcp.eras import MODERN_VERSION
from glm_mcp.relay.asking import Answers, ProgressFnT, relaying_progress
from glm_mcp.upstream.lane import CallLane

Era = Literal["auto", "legacy", "2026-07-28"]

CLIENT_INFO = T.Implementation(name="glm-mcp", version="0.1.0")


Streams = tuple[Any, Any]
"""The (read, write) stream pair an SDK transport yields."""


class Wire:
    """A negotiated session: its server's identity and capabilities, and a raw request path."""

    def __init__(
        self,
        session: ClientSession,
        dispatcher: JSONRPCDispatcher[Any],
        capabilities: T.ClientCapabilities,
        lane: CallLane | None = None,
    ):
        self.session = session
        self._dispatcher = dispatcher
        self._capabilities = capabilities.model_dump(by_alias=True, mode="json", exclude_none=True)
        self._lane = lane

    @property
    def protocol_version(self) -> str:
        return self.session.protocol_version or "2025-11-25"

    @property
    def modern(self) -> bool:
        return self.protocol_version == MODERN_VERSION

    @property
    def server_info(self) -> T.Implementation | None:
        return self.session.server_info

    @property
    def server_capabilities(self) -> T.ServerCapabilities:
        return self.session.server_capabilities or T.ServerCapabilities()

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        opts: CallOptions | None = None,
        capabilities: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its raw result; on 2026-07-28 it declares `capabilities` (the caller's, where
        given; else what the session advertised).

        Raises:
            MCPError: The server answered with an error, the connection closed, or the request timed out.
        """
        if self._lane is not None and method == "tools/call" and not self.modern:
            return await self._lane.call(method, params, (opts or {}).get("on_progress"))
        options: CallOptions = dict(opts or {})  # pyright: ignore[reportAssignmentType] the same keys
        headers = dict(options.get("headers") or {})
        headers[MCP_PROTOCOL_VERSION_HEADER] = self.protocol_version
        body: dict[str, Any] | None = dict(params) if params is not None else None
        if self.modern:
            body = dict(body or {})
            meta = dict(body.get("_meta") or {})
            meta.setdefault(T.PROTOCOL_VERSION_META_KEY, self.protocol_version)
            meta.setdefault(T.CLIENT_INFO_META_KEY, CLIENT_INFO.model_dump(by_alias=True, exclude_none=True))
            meta.setdefault(
                T.CLIENT_CAPABILITIES_META_KEY, dict(capabilities) if capabilities is not None else self._capabilities
            )
            body["_meta"] = meta
            headers[MCP_METHOD_HEADER] = method
            name_key = NAME_BEARING_METHODS.get(method)
            if name_key is not None and isinstance(name := body.get(name_key), str):
                headers[MCP_NAME_HEADER] = encode_header_value(name)
        options["headers"] = headers
        return await self._dispatcher.send_raw_request(method, body, options)

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        await self._dispatcher.notify(method, params, {"headers": {MCP_PROTOCOL_VERSION_HEADER: self.protocol_version}})


def advertised(answers: Answers) -> T.ClientCapabilities:
    """What a session with these answers tells the server it can do."""
    return T.ClientCapabilities(
        sampling=T.SamplingCapability(tools=T.SamplingToolsCapability()) if answers.sample is not None else None,
        elicitation=T.ElicitationCapability(form=T.FormElicitationCapability(), url=T.UrlElicitationCapability())
        if answers.elicit is not None
        else None,
        roots=T.RootsCapability(list_changed=True) if answers.roots is not None else None,
    )


@asynccontextmanager
async def open_wire(
    streams: Streams,
    *,
    era: Era,
    answers: Answers,
    on_message: MessageHandlerFnT,
    on_log: LoggingFnT,
    direct_calls: bool = False,
    discover_first: bool = False,
) -> AsyncGenerator[Wire, None]:
    """Negotiate a session over open streams; with `direct_calls` (a stdio server), its tool calls of the handshake
    era go out on a `CallLane` beside the dispatcher; with `discover_first` (streamable HTTP), `auto` asks
    `server/discover` before it tries the handshake.

    Raises:
        MCPError: The server refused both eras (or the one it is pinned to); a version this client cannot use is
            such a refusal.
    """
    lane = CallLane(streams[1]) if direct_calls else None
    read = lane.reading(streams[0]) if lane is not None else streams[0]
    dispatcher: JSONRPCDispatcher[Any] = JSONRPCDispatcher(read, streams[1])
    session = ClientSession(
        dispatcher=dispatcher,
        sampling_callback=_callback(answers.sample),
        sampling_capabilities=advertised(answers).sampling,
        elicitation_callback=_callback(answers.elicit),
        list_roots_callback=_callback(answers.roots),
        logging_callback=on_log,
        message_handler=on_message,
        client_info=CLIENT_INFO,
    )
    async with session:
        try:
            if era == "legacy":
                await _initialize(session)
            elif era == MODERN_VERSION:
                await _discover(session)
            else:
                await _negotiate(session, discover_first=discover_first)
        except MCPError as exc:
            if era == "auto":
                raise
            hint = f'{exc.error.message}; this server is pinned to "protocol": "{era}": "auto" tries both eras'
            raise MCPError(exc.error.code, hint, exc.error.data) from None
        try:
            yield Wire(session, dispatcher, advertised(answers), lane)
        finally:
            if lane is not None:
                lane.close()


async def _initialize(session: ClientSession) -> None:
    """The handshake; an answer in a protocol version this client does not speak is a refusal, like an error.

    Raises:
        MCPError: The server refused the handshake or answered in a version this client cannot use.
    """
    try:
        await session.initialize()
    except RuntimeError as exc:  # the SDK's word for a version it cannot use (a 2026-07-28 server, say)
        raise MCPError(T.INVALID_REQUEST, f"initialize: {exc}") from None


async def _discover(session: ClientSession) -> T.DiscoverResult:
    """`server/discover`, adopting the newest version both speak.

    Raises:
        MCPError: The server refused it, answered with something that is no discover result, or speaks no
            2026-07-28 version this client does.
    """
    try:
        return await session.discover()
    except RuntimeError as exc:  # no mutual version in what the server listed
        raise MCPError(T.INVALID_REQUEST, f"server/discover: {exc}") from None
    except ValidationError as exc:  # an answer that is no discover result: not a server of the 2026-07-28 era
        first = exc.errors(include_url=False)[0]
        raise MCPError(T.INVALID_REQUEST, f"server/discover: not a discover result ({first['msg']})") from None


async def _negotiate(session: ClientSession, *, discover_first: bool) -> None:
    """`auto`. Over streamable HTTP, `server/discover` first, then the handshake when the server refuses it (every
    HTTP server answers a request it does not know at once, and a server of both eras then also gets a handshake-era
    session of its own, see `upstream.eras`). Over a process's pipes, the handshake first, then `server/discover`
    when the server refuses it: a server of the handshake era may ignore a request before its handshake (a probe
    would stall on it), and one process serves one era, in which everything the gateway relays (its questions, its
    log messages during a call, subscriptions) reaches editors of either era.

    Raises:
        MCPError: Both eras were refused; the message is the first refusal's.
    """
    first, then = (_discover, _initialize) if discover_first else (_initialize, _discover)
    try:
        await first(session)
    except MCPError as refused:
        try:
            await then(session)
        except MCPError:
            raise refused from None


# The SDK takes a callback only where a capability is advertised; None keeps its default (refuse, unadvertised).


def _callback(answer: Callable[..., Awaitable[Any]] | None) -> Any:
    """The SDK's callback shape (its request context first) around one of our answers."""
    if answer is None:
        return None

    async def callback(ctx: ClientRequestContext, *params: Any) -> Any:
        token = ctx.meta.get("progress_token") if ctx.meta is not None else None
        # Set either way: a relay in the context this task inherited belongs to another question.
        with relaying_progress(_progress_to(ctx.session, token) if token is not None else None):
            return await answer(*params)

    return callback


def _progress_to(session: ClientSession, token: str | int) -> ProgressFnT:
    """Progress on a server's question, sent back to that server under its own token."""

    async def relay(progress: float, total: float | None, message: str | None) -> None:
        note = T.ProgressNotificationParams(progress_token=token, progress=progress, total=total, message=message)
        await session.send_notification(T.ProgressNotification(params=note))

    return relay
