"""The HTTP service: `/mcp`, `/v1/chat/completions`, `/v1/models`, `/healthz`, `/readyz`, `/metrics`.

Contract:
- one lifespan enters the `Gateway`, the model client and the MCP session manager, and leaves them on shutdown;
- with `auth_tokens` (`serve` fills in its generated token when the config names none), `/mcp`, `/sse`, `/v1/*`,
  `/admin/*` and `/metrics` need `Authorization: Bearer <token>` (401 otherwise, with an `error_description`
  naming `glm-mcp token`), compared in constant time; the matched token names the caller (`CLIENT_KEY`);
  `/healthz` and `/readyz` stay open, `/readyz` showing `config_error` detail only with the token;
- every route checks `Host` against DNS rebinding (421); a request with an `Origin` that is not in
  `gateway.allowed_origins` is refused (403) before authentication, so no web page can drive the gateway;
  allowed origins get CORS answers, preflights included;
- `POST /v1/*` takes `Content-Type: application/json` only (415): a form or `text/plain` post needs no preflight;
- every error, unknown paths and methods included, is a JSON body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
from mcp.server.sse import SseServerTransport
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_mcp import anthropic_api, http_mode, responses_api
from glm_mcp.admin import admin_routes
from glm_mcp.bodies import MAX_BODY_BYTES, BoundedBodies
from glm_mcp.chat_api import ChatCompletionsApp, Face, model_body, models_body, openai_error
from glm_mcp.errors import ConfigError
from glm_mcp.facade import build_server
from glm_mcp.gateway import Gateway
from glm_mcp.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from glm_mcp.sessions import CLIENT_KEY, SessionLimits

PROTECTED_PREFIXES = ("/mcp", "/v1/", "/admin/", "/sse", "/messages/", "/metrics")


_UNAUTHORIZED_HINT = (
    "send the gateway's token as Authorization: Bearer <token>; `glm-mcp token` prints it on the gateway's machine"
)

_CHALLENGE = f'Bearer realm="glm-mcp", error="invalid_token", error_description="{_UNAUTHORIZED_HINT}"'


class BearerAuth:
    """Requires one of the configured tokens on the protected paths, and names the caller by the token it matched."""

    def __init__(self, app: ASGIApp, tokens: list[bytes]) -> None:
        self.app = app
        self.tokens = tokens
        self._ids = ["token:" + hashlib.sha256(token).hexdigest()[:16] for token in tokens]

    def _match(self, header: bytes) -> str | None:
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        token = token.strip()
        # Compare against every token so the time taken does not tell which one nearly matched.
        matched: str | None = None
        for candidate, ident in zip(self.tokens, self._ids, strict=True):
            if hmac.compare_digest(token, candidate):
                matched = ident
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.tokens:
            headers = dict(scope["headers"])
            header = headers.get(b"authorization")
            client = self._match(header) if header else None
            api_key = headers.get(b"x-api-key")
            if client is None and api_key and scope["path"].startswith("/v1/"):
                client = self._match(b"Bearer " + api_key)  # Anthropic's clients send the key as x-api-key
            if client is not None:
                scope[CLIENT_KEY] = client
            elif scope["path"].startswith(PROTECTED_PREFIXES):
                message = f"missing or wrong bearer token: {_UNAUTHORIZED_HINT}"
                shape: dict[str, object] = {"error": {"message": message, "type": "authentication_error"}}
                if scope["path"].startswith(anthropic_api.PATH):
                    shape = anthropic_api.error_shape(401, message)
                response = JSONResponse(
                    shape,
                    status_code=401,
                    headers={"WWW-Authenticate": _CHALLENGE},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestGuard:
    """`Host` on every route, `Origin` against the configured origins, CORS for those, JSON-only `/v1` posts."""

    def __init__(self, app: ASGIApp, hosts: list[str], origins: Sequence[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = frozenset(origins)
        self.close_streams: Callable[[], None] = lambda: None
        """Ends the standing `/mcp` GET streams; `serve` calls it when asked to stop."""
        self.startup_error: ConfigError | None = None
        """Why the gateway refused to start (a config problem found only once the servers listed), for `serve`."""

    @staticmethod
    def _allowed(value: str, patterns: list[str]) -> bool:
        for pattern in patterns:
            if pattern.endswith(":*"):
                if value.startswith(pattern[:-1]) and value[len(pattern) - 1 :].isdigit():
                    return True
            elif value == pattern:
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        origin = headers.get(b"origin", b"").decode("latin-1").lower()
        if not self._allowed(host, self.hosts):
            await _refuse(scope, receive, send, 421, f"Host {host!r} is not allowed; add it to gateway.allowed_hosts")
            return
        same_origin = origin in (f"http://{host}".lower(), f"https://{host}".lower())
        if origin and origin not in self.origins and not same_origin:
            message = f"Origin {origin!r} is not allowed; add it to gateway.allowed_origins to let that page in"
            await _refuse(scope, receive, send, 403, message)
            return
        if origin and scope["method"] == "OPTIONS":
            await Response(status_code=204, headers=_cors(origin, preflight=True))(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"].startswith("/v1/"):
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                message = "the body must be JSON, sent with Content-Type: application/json"
                await _refuse(scope, receive, send, 415, message)
                return
        if not origin or same_origin:
            await self.app(scope, receive, send)
            return
        cors = [(key.lower().encode(), value.encode()) for key, value in _cors(origin).items()]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _cors(origin: str, *, preflight: bool = False) -> dict[str, str]:
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate",
        "Vary": "Origin",
    }
    if preflight:
        headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
        headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID"
        )
        headers["Access-Control-Max-Age"] = "600"
    return headers


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None, "param": None}}
    await JSONResponse(body, status_code=status)(scope, receive, send)


class BodyDeadline:
    """A request body must arrive within `seconds`; a slower one is answered 408 and its handler sees a disconnect."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.seconds
        body_done = False
        timed_out = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done or timed_out:
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()):
                message = await receive()
                body_done = message["type"] != "http.request" or not message.get("more_body", False)
                return message
            timed_out = True
            message = f"the request body took longer than {self.seconds:g} s"
            await _refuse(scope, receive, send, 408, message)
            return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            if not timed_out:  # after a 408 the handler's own answer has nowhere to go
                await send(message)

        await self.app(scope, timed_receive, guarded_send)


async def _json_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = {"error": {"message": exc.detail, "type": "invalid_request_error", "code": None, "param": None}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


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


def build_app(gateway: Gateway, *, on_ready: Callable[[], None] | None = None) -> RequestGuard:
    """The ASGI application serving `gateway`; its lifespan runs the gateway and then calls `on_ready`."""
    agent = gateway.agent
    server = build_server(gateway, agent)

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
        status = gateway.status()
        if "config_error" in status and tokens and CLIENT_KEY not in request.scope:
            status["config_error"] = "the config has a problem; send the gateway's token to /readyz to see it"
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    chat = ChatCompletionsApp(gateway)
    chat.faces[anthropic_api.PATH] = Face("anthropic", anthropic_api.handle_messages, anthropic_api.error_shape)
    chat.faces[responses_api.PATH] = Face(
        "responses", responses_api.handler(responses_api.ResponseStore()), openai_error
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

    http_mode.install()
    limits = gateway.config.gateway
    mcp_app = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=security,
        session_idle_timeout=limits.session_idle_timeout,
        max_sessions=limits.max_sessions,
        custom_starlette_routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/v1/models", models),
            Route("/v1/models/{name:path}", one_model),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route(anthropic_api.PATH, chat, methods=["POST"]),
            Route(responses_api.PATH, chat, methods=["POST"]),
            Route(f"{anthropic_api.PATH}/count_tokens", anthropic_api.count_tokens_route(chat), methods=["POST"]),
            *admin_routes(gateway),
            Route("/sse", SseStream(), methods=["GET"]),
            Route("/messages/", SseMessages(), methods=["POST"]),
        ],
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None, None]:
        try:
            async with gateway.running(), chat.rounds.running(), server.session_manager.run():
                if on_ready is not None:
                    on_ready()
                yield
        except ConfigError as exc:
            guard.startup_error = exc
            raise

    mcp_app.router.lifespan_context = lifespan
    mcp_app.add_exception_handler(HTTPException, _json_http_error)
    tokens = [token.get_secret_value().encode() for token in gateway.config.gateway.auth_tokens or ()]
    sessions = SessionLimits(
        http_mode.ResponseMode(mcp_app),
        max_sessions=limits.max_sessions,
        max_per_client=limits.max_sessions_per_client,
        idle_timeout_seconds=limits.session_idle_timeout,
    )
    bounded = BoundedBodies(sessions, ("/admin/", "/messages/"))
    guarded = BearerAuth(BodyDeadline(bounded, limits.body_timeout), tokens)
    guard = RequestGuard(guarded, security.allowed_hosts, security.allowed_origins)
    guard.close_streams = sessions.close_streams
    return guard
