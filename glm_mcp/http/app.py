"""The HTTP host: the gateway's own Starlette app, its routes, middleware and lifespan.

Contract:
- one lifespan enters the `Gateway`, the `/v1` faces' rounds and the SDK's `StreamableHTTPSessionManager` (mounted
  at `/mcp` through its public `handle_request`), and leaves them on shutdown;
- routes: `/mcp` (streamable HTTP), `/sse` and `/messages/` (the 2024-11-05 transport), the `/v1` faces
  (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`, `/v1/models`), `/admin/*` and the status page,
  `/metrics`, `/healthz`, `/readyz` (`config_error` detail only with the token);
- every request passes the guards (`guards`) and the bounds (`sessions`, `bodies`) outermost first: origin and host,
  token, request budget, body size, MCP sessions; `connection_limits` bound the connections below the app (their
  number, and the time headers and bodies take);
- every error, unknown paths and methods included, is a JSON body;
- what the process shares with other replicas (budgets, sessions, events, reloads, status) is `shared_state`'s.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager

from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from glm_mcp import telemetry
from glm_mcp.errors import ConfigError
from glm_mcp.faces import anthropic as anthropic_api
from glm_mcp.faces import responses as responses_api
from glm_mcp.faces.caller import CLIENT_KEY
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.faces.openai.app import ChatCompletionsApp, Face
from glm_mcp.faces.openai.models import model_body, models_body
from glm_mcp.faces.openai.writer import openai_error
from glm_mcp.gateway.core import Gateway
from glm_mcp.http import response_mode
from glm_mcp.http.admin import admin_routes
from glm_mcp.http.bodies import MAX_BODY_BYTES, BoundedBodies
from glm_mcp.http.budget import RequestBudget
from glm_mcp.http.events import RETRY_MILLISECONDS
from glm_mcp.http.guards import BearerAuth, RequestGuard, json_http_error
from glm_mcp.http.oidc import OidcVerifier
from glm_mcp.http.sessions import SessionLimits
from glm_mcp.http.shared_state import ConfigFromTextFnT, SharedState
from glm_mcp.http.tracing import RequestSpans
from glm_mcp.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE


class GatewayApp:
    """The ASGI application `serve` hosts: the guarded routes, plus what `serve` needs to stop well."""

    def __init__(self, app: ASGIApp, sessions: SessionLimits) -> None:
        self._app = app
        self._sessions = sessions
        self.startup_error: ConfigError | None = None
        """Why the gateway refused to start (a config problem found only once the servers listed), for `serve`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def close_streams(self) -> None:
        """End the standing `/mcp` GET streams; `serve` calls it when asked to stop."""
        self._sessions.close_streams()


class _ModelFaces:
    """The model faces' POSTs go straight to their app, past the MCP session bounds and Starlette's router and error
    layers, none of which they use (the error layers wrap `send`, which every streamed chunk passed through). Every
    other request, and other methods on these paths, go through the routes."""

    def __init__(self, app: ASGIApp, faces: ASGIApp, paths: tuple[str, ...]) -> None:
        self._app = app
        self._faces = faces
        self._paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._paths:
            await self._faces(scope, receive, send)
        else:
            await self._app(scope, receive, send)


class _McpEndpoint:
    """`/mcp`: every method goes to the SDK's session manager."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self._manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._manager.handle_request(scope, receive, send)


def _security(gateway: Gateway) -> TransportSecuritySettings:
    serve = gateway.config.gateway
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
    hosts += [f"{host}:*" for host in serve.allowed_hosts] + list(serve.allowed_hosts)
    if serve.host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        hosts += [serve.host, f"{serve.host}:*"]
    # `RequestGuard` decides about origins first (configured ones, and a page's own); the SDK's own check behind it
    # must not refuse what the guard let in: a page served by the gateway itself, on any of its hosts.
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")] + list(serve.allowed_origins)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_app(
    gateway: Gateway, *, on_ready: Callable[[], None] | None = None, from_text: ConfigFromTextFnT | None = None
) -> GatewayApp:
    """The ASGI application serving `gateway`; its lifespan runs the gateway and then calls `on_ready`.
    `from_text` reads a config another replica published (with `gateway.redis_url`)."""
    agent = gateway.agent
    server = build_server(gateway, agent)
    limits = gateway.config.gateway
    tokens = [token.get_secret_value().encode() for token in limits.auth_tokens or ()]

    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def models(request: Request) -> Response:
        body = models_body(agent)
        if "anthropic-version" in request.headers:  # Anthropic's clients read their own shape
            return JSONResponse(anthropic_api.models_shape([model["id"] for model in body["data"]]))
        return JSONResponse(body)

    async def one_model(request: Request) -> Response:
        status, body = model_body(agent, request.path_params["name"])
        return JSONResponse(body, status_code=status)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        status: dict[str, object] = {**gateway.status()}
        if "config_error" in status and tokens and CLIENT_KEY not in request.scope:
            status["config_error"] = "the config has a problem; send the gateway's token to /readyz to see it"
        if shared.problem is not None:  # a replica that cannot share state must not take requests
            status["ready"], status["shared_state"] = False, shared.problem
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    shared = SharedState(gateway, tokens, from_text)
    chat = ChatCompletionsApp(
        gateway,
        shared.budgets,
        faces={
            anthropic_api.PATH: Face("anthropic", anthropic_api.handle_messages, anthropic_api.error_shape),
            responses_api.PATH: Face("responses", responses_api.handler(responses_api.ResponseStore()), openai_error),
        },
    )
    security = _security(gateway)
    legacy_sse = SseServerTransport("/messages/", security_settings=security, max_request_body_size=MAX_BODY_BYTES)

    class SseStream:
        """`GET /sse`: the HTTP+SSE transport of the 2024-11-05 era, for clients that speak nothing newer."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async with legacy_sse.connect_sse(scope, receive, send) as (read, write):
                await server.run(read, write, server.create_initialization_options())

    class SseMessages:
        """`POST /messages/?session_id=…`: what an `/sse` client sends."""

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await legacy_sse.handle_post_message(scope, receive, send)

    response_mode.install()
    manager = StreamableHTTPSessionManager(
        app=server,
        security_settings=security,
        session_idle_timeout=limits.session_idle_timeout,
        max_sessions=limits.max_sessions,
        event_store=shared.events,
        retry_interval=RETRY_MILLISECONDS,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncGenerator[None, None]:
        try:
            await shared.connect()  # a replica that cannot reach its Redis stops here, before any server starts
            async with (
                gateway.running(),
                chat.rounds.running(),
                manager.run(),
                shared.running(server.rounds, [chat.rounds], replica.end_here if replica else None),
            ):
                if on_ready is not None:
                    on_ready()
                yield
        except ConfigError as exc:
            host.startup_error = exc
            raise

    routes = Starlette(
        routes=[
            Route("/mcp", _McpEndpoint(manager)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/v1/models", models),
            Route("/v1/models/{name:path}", one_model),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route(anthropic_api.PATH, chat, methods=["POST"]),
            Route(responses_api.PATH, chat, methods=["POST"]),
            Route(f"{anthropic_api.PATH}/count_tokens", anthropic_api.count_tokens_route(chat), methods=["POST"]),
            *admin_routes(gateway, shared.status),
            Route("/sse", SseStream(), methods=["GET"]),
            Route("/messages/", SseMessages(), methods=["POST"]),
        ],
        exception_handlers={HTTPException: json_http_error},
        lifespan=lifespan,
    )
    replica = (  # with Redis: sessions recorded, revived and ended across replicas
        response_mode.SharedResponseMode(routes, shared.sessions, lane=server.fast_lane) if shared.sessions else None
    )
    mode = replica or response_mode.ResponseMode(routes, lane=server.fast_lane)
    sessions = SessionLimits(
        mode,
        max_sessions=limits.max_sessions,
        max_per_client=limits.max_sessions_per_client,
        idle_timeout_seconds=limits.session_idle_timeout,
    )
    faces = _ModelFaces(sessions, chat, ("/v1/chat/completions", anthropic_api.PATH, responses_api.PATH))
    bounded = BoundedBodies(faces, ("/admin/", "/messages/"))
    authed = BearerAuth(
        RequestBudget(bounded, shared.budgets, {anthropic_api.PATH: anthropic_api.error_shape}),
        tokens,
        shapes={anthropic_api.PATH: anthropic_api.error_shape},
        names=limits.token_names,
        oidc=OidcVerifier(limits.oidc) if limits.oidc is not None else None,
    )
    guarded = RequestGuard(authed, security.allowed_hosts, security.allowed_origins)
    host = GatewayApp(RequestSpans(guarded) if telemetry.on() else guarded, sessions)  # no layer when tracing is off
    return host
