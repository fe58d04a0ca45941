"""The MCP face: the merged catalog served as one low-level `mcp` `Server`, over stdio or streamable HTTP.

Contract:
- tools, resources, templates and prompts are the gateway's catalog at the time of each request;
- calls, reads and gets go to the owning server; progress is relayed and cancellation travels upstream;
- a failed upstream call is an `is_error` result naming the server, never a protocol error;
- every connected editor hears `list_changed` when the catalog changes, and receives upstream log messages.
"""

from __future__ import annotations

import json
import logging
import uuid
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import anyio
import mcp.types as T
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
)
from mcp.shared.exceptions import MCPDeprecationWarning

from glm_mcp.agent.loop import Agent
from glm_mcp.catalog import is_pinned
from glm_mcp.eras import MODERN_VERSION, calling_in
from glm_mcp.errors import CallerLacksCapability, ToolNotFoundError, UpstreamError
from glm_mcp.faces.caller import STREAM_CLOSED, client_key, person_of
from glm_mcp.faces.mcp.editors import Editors, Notifier
from glm_mcp.faces.mcp.fast import FastLane
from glm_mcp.faces.mcp.first_answer import INSTRUCTIONS, SERVER_NAME, SERVER_VERSION
from glm_mcp.faces.mcp.gateway_tools import (
    AGENT_TOOL,
    AGENT_TOOL_NAME,
    CALL_TOOL_TOOL,
    FIND_TOOLS_TOOL,
    LOGIN_TOOL_NAME,
    destructive_refusal,
    find,
    log_in,
    login_tool,
    run_agent,
)
from glm_mcp.gateway.core import Gateway, error_result
from glm_mcp.people import acting_as
from glm_mcp.relay.asking import Asker
from glm_mcp.relay.editor import EditorAsker
from glm_mcp.relay.rounds import Rounds

logger = logging.getLogger(__name__)

R = TypeVar("R")

_RESULTS: dict[str, type[T.CallToolResult | T.ReadResourceResult | T.GetPromptResult]] = {
    "tools/call": T.CallToolResult,
    "resources/read": T.ReadResourceResult,
    "prompts/get": T.GetPromptResult,
}
"""The result each method that may ask in rounds answers with."""


class GatewayServer(Server[Any]):
    """The low-level server, advertising `listChanged` on every transport; `fast_lane` serves its common requests
    of known HTTP sessions beside the SDK (see `faces.mcp.fast`); `rounds` holds 2026-07-28 calls waiting for
    their editors' answers."""

    fast_lane: FastLane
    rounds: Rounds

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        # The HTTP app calls this without options, which would advertise listChanged: false.
        options = notification_options or NotificationOptions(
            tools_changed=True, resources_changed=True, prompts_changed=True
        )
        return super().create_initialization_options(options, experimental_capabilities, extensions)


_PROTOCOL_META_PREFIX = "io.modelcontextprotocol/"


def _own_hop(result: T.CallToolResult) -> T.CallToolResult:
    """The result as the editor should see it: the server's own `_meta` kept, the protocol's per-hop keys (a
    2026-07-28 server's identity stamp, a progress token of the upstream request) dropped."""
    if not result.meta:
        return result
    kept = {key: value for key, value in result.meta.items() if not key.startswith(_PROTOCOL_META_PREFIX)}
    kept.pop("progressToken", None)
    return result.model_copy(update={"meta": kept or None})


def _mcp_error(exc: ToolNotFoundError | UpstreamError, data: dict[str, Any] | None = None) -> MCPError:
    if isinstance(exc, CallerLacksCapability):  # the server's own error: its data names the capability
        return MCPError(T.MISSING_REQUIRED_CLIENT_CAPABILITY, str(exc), exc.data)
    code = T.INVALID_PARAMS if isinstance(exc, ToolNotFoundError) else T.INTERNAL_ERROR
    return MCPError(code, str(exc), data)


def _binding(ctx: ServerRequestContext[Any], method: str, target: str, arguments: object) -> str:
    """Who asks for what, as a 2026-07-28 round's `request_state` is bound to it: the caller (the token it
    matched over HTTP, or its address; the one local editor over stdio), the method, the target and arguments."""
    request: Any = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None)
    caller = client_key(cast(dict[str, Any], scope)) if isinstance(scope, dict) else "local"
    return json.dumps([caller, method, target, arguments], sort_keys=True, default=str, separators=(",", ":"))


def _person(ctx: ServerRequestContext[Any]) -> str | None:
    """The person whose named token the request carries (None off HTTP, or for a plain token)."""
    request: Any = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None)
    return person_of(cast(dict[str, Any], scope)) if isinstance(scope, dict) else None


def _stream_closed(ctx: ServerRequestContext[Any]) -> anyio.Event | None:
    """The event that fires when the HTTP stream of this request goes away (None off HTTP)."""
    request: Any = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None)
    closed: object = cast(dict[str, Any], scope).get(STREAM_CLOSED) if isinstance(scope, dict) else None
    return closed if isinstance(closed, anyio.Event) else None


def build_server(gateway: Gateway, agent: Agent | None = None) -> GatewayServer:
    """The MCP server that serves `gateway`'s catalog, plus `glm__agent` when given an `agent`.

    While it runs (each stdio or in-memory connection, or the HTTP session manager), its `Notifier` carries
    catalog changes and upstream logs to the editors.
    """

    async def withdraw(uri: str) -> None:
        try:
            await gateway.subscribe(uri, subscribed=False)
        except (ToolNotFoundError, UpstreamError):
            logger.debug("unsubscribing %s failed", uri, exc_info=True)

    editors = Editors(on_unsubscribed=withdraw)
    bus = InMemorySubscriptionBus()
    streams = ListenHandler(bus)

    async def listen(
        ctx: ServerRequestContext[Any], params: T.SubscriptionsListenRequestParams
    ) -> T.SubscriptionsListenResult:
        """A 2026-07-28 editor's listen stream; the resources it names are subscribed upstream while it lasts."""
        key = f"listen-{uuid.uuid4().hex}"
        uris = list(params.notifications.resource_subscriptions or ())
        for uri in uris:
            if editors.subscribe_key(key, uri):
                try:
                    await gateway.subscribe(uri)
                except (ToolNotFoundError, UpstreamError) as exc:
                    logger.warning("a listen stream's resource cannot be followed: %s", exc)
        try:
            return await streams(ctx, params)
        finally:
            with anyio.CancelScope(shield=True):
                for uri in uris:
                    if editors.unsubscribe_key(key, uri):
                        await withdraw(uri)

    notifier = Notifier(gateway, editors, bus)
    rounds = Rounds()

    @asynccontextmanager
    async def lifespan(_: Server[Any]) -> AsyncGenerator[dict[str, Any], None]:
        async with notifier.running(), rounds.running():
            yield {}

    async def asking(
        ctx: ServerRequestContext[Any],
        params: T.InputResponseRequestParams,
        start: Callable[[Asker], Awaitable[R]],
        call: tuple[str, str, object],
    ) -> R | T.InputRequiredResult:
        """Run `start` with the editor as its asker: directly (2025 era), or in rounds (2026-07-28), whose states
        are bound to the caller and to `call` (method, tool or resource, arguments)."""
        person = _person(ctx)

        era = ctx.session.protocol_version if ctx.session.protocol_version == MODERN_VERSION else None

        async def as_the_caller(asker: Asker) -> R:
            with acting_as(person), calling_in(era):  # a 2026-07-28 call runs in a task of the rounds'
                return await start(asker)

        if ctx.session.protocol_version == MODERN_VERSION:
            caps = ctx.session.client_capabilities or T.ClientCapabilities()
            parse = cast(Callable[[Any], R], _RESULTS[call[0]].model_validate)  # a call another replica holds
            return await rounds.run(params, caps, as_the_caller, _binding(ctx, *call), parse)
        return await as_the_caller(EditorAsker(ctx.session, ctx.request_id, closed=_stream_closed(ctx)))

    def search_mode(ctx: ServerRequestContext[Any]) -> bool:
        request: Any = getattr(ctx, "request", None)
        if request is not None and hasattr(request, "query_params"):
            chosen = request.query_params.get("tools")
            if chosen in ("search", "all"):
                return chosen == "search"
        return gateway.config.gateway.mcp_tools == "search"

    async def list_tools(ctx: ServerRequestContext[Any], params: T.PaginatedRequestParams | None) -> T.ListToolsResult:
        editors.remember(ctx.session)
        lane.note(ctx)
        await gateway.first_listing(gateway.config.gateway.first_list_wait)
        own = [AGENT_TOOL] if agent is not None else []
        with acting_as(_person(ctx)):
            waiting = gateway.waiting_for_login()
        if waiting:
            own.append(login_tool(waiting))
        if search_mode(ctx):
            pinned = [tool for entry, tool in gateway.catalog.tools.values() if is_pinned(entry, gateway.config)]
            return T.ListToolsResult(tools=[*own, FIND_TOOLS_TOOL, CALL_TOOL_TOOL, *pinned])
        return T.ListToolsResult(tools=[*own, *(tool for _, tool in gateway.catalog.tools.values())])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: T.CallToolRequestParams
    ) -> T.CallToolResult | T.InputRequiredResult:
        editors.remember(ctx.session)
        lane.note(ctx)
        if agent is not None and params.name == AGENT_TOOL_NAME:
            task, chosen = params.arguments or {}, agent
            return await asking(
                ctx,
                params,
                lambda asker: run_agent(gateway, chosen, ctx, task, asker),
                ("tools/call", params.name, params.arguments),
            )
        name, arguments = params.name, params.arguments
        if name == LOGIN_TOOL_NAME:
            wanted = arguments or {}
            return await asking(ctx, params, lambda asker: log_in(gateway, wanted, asker), ("tools/call", name, wanted))
        if name == FIND_TOOLS_TOOL.name:
            return find(gateway, arguments or {})
        if name == CALL_TOOL_TOOL.name:
            target, inner = (arguments or {}).get("name"), (arguments or {}).get("arguments", {})
            if not isinstance(target, str) or not isinstance(inner, dict):
                return error_result("give 'name' (a tool glm__find_tools found) and 'arguments' (a JSON object)")
            name, arguments = target, cast(dict[str, Any], inner)

        async def relay(progress: float, total: float | None, message: str | None) -> None:
            if params.meta is None or params.meta.get("progress_token") is None:
                return  # the editor asked for none (and a request of the fast lane carries none)
            try:
                await ctx.session.report_progress(progress, total, message)
            except Exception:  # boundary: a 2026 call resumed in a later round has no stream for progress
                logger.debug("progress could not reach the editor", exc_info=True)

        searched = params.name == CALL_TOOL_TOOL.name

        async def start(asker: Asker) -> T.CallToolResult:
            if searched and (refusal := await destructive_refusal(gateway, name, arguments, asker)) is not None:
                return error_result(refusal)
            return await gateway.call_tool(name, arguments, on_progress=relay, asker=asker, strict=True)

        try:
            result = await asking(ctx, params, start, ("tools/call", params.name, params.arguments))
        except (ToolNotFoundError, CallerLacksCapability) as exc:
            raise _mcp_error(exc) from None
        if isinstance(result, T.InputRequiredResult):
            return result
        return _own_hop(result)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: T.PaginatedRequestParams | None
    ) -> T.ListResourcesResult:
        editors.remember(ctx.session)
        await gateway.first_listing(gateway.config.gateway.first_list_wait)
        return T.ListResourcesResult(resources=[resource for _, resource in gateway.catalog.resources.values()])

    async def list_templates(
        ctx: ServerRequestContext[Any], params: T.PaginatedRequestParams | None
    ) -> T.ListResourceTemplatesResult:
        return T.ListResourceTemplatesResult(
            resource_templates=[template for _, _, template in gateway.catalog.templates]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: T.ReadResourceRequestParams
    ) -> T.ReadResourceResult | T.InputRequiredResult:
        try:
            uri = str(params.uri)
            read = ("resources/read", uri, None)
            return await asking(ctx, params, lambda asker: gateway.read_resource(uri, asker=asker), read)
        except (ToolNotFoundError, UpstreamError) as exc:
            raise _mcp_error(exc, {"uri": str(params.uri)}) from None  # the revision asks for the URI in `data`

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: T.PaginatedRequestParams | None
    ) -> T.ListPromptsResult:
        editors.remember(ctx.session)
        await gateway.first_listing(gateway.config.gateway.first_list_wait)
        return T.ListPromptsResult(prompts=[prompt for _, prompt in gateway.catalog.prompts.values()])

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: T.GetPromptRequestParams
    ) -> T.GetPromptResult | T.InputRequiredResult:
        try:
            name, arguments = params.name, params.arguments
            get = ("prompts/get", name, arguments)
            return await asking(ctx, params, lambda asker: gateway.get_prompt(name, arguments, asker=asker), get)
        except (ToolNotFoundError, UpstreamError) as exc:
            raise _mcp_error(exc) from None

    async def complete(ctx: ServerRequestContext[Any], params: T.CompleteRequestParams) -> T.CompleteResult:
        try:
            with calling_in(ctx.session.protocol_version if ctx.session.protocol_version == MODERN_VERSION else None):
                return await gateway.complete(params)
        except (ToolNotFoundError, UpstreamError) as exc:
            raise _mcp_error(exc) from None

    async def subscribe(ctx: ServerRequestContext[Any], params: T.SubscribeRequestParams) -> T.EmptyResult:
        uri = str(params.uri)
        try:
            if editors.subscribe(ctx.session, uri):
                await gateway.subscribe(uri)
        except (ToolNotFoundError, UpstreamError) as exc:
            editors.unsubscribe(ctx.session, uri)
            raise _mcp_error(exc) from None
        return T.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any], params: T.UnsubscribeRequestParams) -> T.EmptyResult:
        uri = str(params.uri)
        if editors.unsubscribe(ctx.session, uri):
            try:
                await gateway.subscribe(uri, subscribed=False)
            except (ToolNotFoundError, UpstreamError) as exc:
                raise _mcp_error(exc) from None
        return T.EmptyResult()

    async def set_level(ctx: ServerRequestContext[Any], params: T.SetLevelRequestParams) -> T.EmptyResult:
        editors.set_level(ctx.session, params.level)
        return T.EmptyResult()

    lane = FastLane({"tools/call": call_tool, "tools/list": list_tools})
    with warnings.catch_warnings():
        # The logging capability is deprecated in 2026 but it is what editors speak today.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        server = GatewayServer(  # pyright: ignore[reportDeprecated] logging capability, see above
            SERVER_NAME,
            version=SERVER_VERSION,
            instructions=INSTRUCTIONS,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=read_resource,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
            on_set_logging_level=set_level,
            on_completion=complete,
            on_subscribe_resource=subscribe,
            on_unsubscribe_resource=unsubscribe,
            on_subscriptions_listen=listen,
            lifespan=lifespan,
        )

    async def initialized(ctx: ServerRequestContext[Any], params: T.NotificationParams) -> None:
        editors.remember(ctx.session)  # it hears logs and list changes from now on, before its first request
        caps = ctx.session.client_capabilities
        if caps is not None and caps.roots is not None:
            await gateway.roots_changed()  # an editor with roots arrived: servers that asked may ask again

    async def roots_list_changed(ctx: ServerRequestContext[Any], params: T.NotificationParams | None) -> None:
        await gateway.roots_changed()

    server.fast_lane = lane
    server.rounds = rounds
    server.add_notification_handler("notifications/initialized", T.NotificationParams, initialized)
    server.add_notification_handler("notifications/roots/list_changed", T.NotificationParams, roots_list_changed)
    return server
