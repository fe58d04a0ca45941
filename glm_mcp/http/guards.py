"""The guards every HTTP request passes before the routes: `Host`, `Origin` and CORS, the token.

Contract:
- every route checks `Host` against DNS rebinding (421); a request with an `Origin` that is not in
  `gateway.allowed_origins` is refused (403) before authentication, so no web page can drive the gateway;
  allowed origins get CORS answers, preflights included;
- with `auth_tokens`, `/mcp`, `/sse`, `/v1/*`, `/admin/*` and `/metrics` need `Authorization: Bearer <token>`
  (401 otherwise, with an `error_description` naming `glm-mcp token`), compared in constant time; the matched
  token names the caller (`CLIENT_KEY`); Anthropic's clients may send it as `x-api-key` on `/v1/*`;
- `POST /v1/*` takes `Content-Type: application/json` only (415): a form or `text/plain` post needs no preflight;
- optional whitespace around `/mcp`'s `Mcp-*` header values is not part of them (it is trimmed).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_mcp.faces.caller import CLIENT_KEY, PERSON_KEY, token_id
from glm_mcp.http.oidc import OidcVerifier

ErrorShapeFnT = Callable[[int, str], dict[str, object]]
"""A face's error body for a status and message (Anthropic's clients read their own shape)."""

PROTECTED_PREFIXES = ("/mcp", "/v1/", "/admin/", "/sse", "/messages/", "/metrics")


_UNAUTHORIZED_HINT = (
    "send the gateway's token as Authorization: Bearer <token>; `glm-mcp token` prints it on the gateway's machine"
)

_CHALLENGE = f'Bearer realm="glm-mcp", error="invalid_token", error_description="{_UNAUTHORIZED_HINT}"'


PRM_PATHS = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")
"""Where the gateway's protected resource metadata is, when it takes OpenID Connect tokens."""


def _base(scope: Scope) -> str:
    """The gateway's own URL as the request reached it."""
    host = dict(scope["headers"]).get(b"host", b"").decode("latin-1") or "127.0.0.1"
    return f"{scope.get('scheme', 'http')}://{host}"


class BearerAuth:
    """Requires one of the configured tokens on the protected paths, and names the caller by the token it matched."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: list[bytes],
        shapes: Mapping[str, ErrorShapeFnT] | None = None,
        names: Sequence[str | None] = (),
        oidc: OidcVerifier | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self._oidc = oidc
        # A generated token has no name: the names may be fewer than the tokens.
        named = zip(tokens, names, strict=False)
        self._names = {token_id(token): name for token, name in named}
        self.shapes = dict(shapes or {})
        """Path prefix → the error body its clients read, for the 401."""
        self._ids = [token_id(token) for token in tokens]

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

    async def _person(self, header: bytes | None) -> str | None:
        """The person an OpenID Connect bearer token names, where the gateway takes them."""
        scheme, _, token = (header or b"").strip().partition(b" ")
        if self._oidc is None or scheme.lower() != b"bearer" or token.count(b".") != 2:
            return None
        return await self._oidc.person(token.strip().decode("ascii", "replace"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._oidc is not None and scope["path"] in PRM_PATHS:
            await JSONResponse(self._oidc.resource_metadata(_base(scope)))(scope, receive, send)
            return
        if scope["type"] == "http" and (self.tokens or self._oidc is not None):
            headers = dict(scope["headers"])
            header = headers.get(b"authorization")
            client = self._match(header) if header else None
            api_key = headers.get(b"x-api-key")
            if client is None and api_key and scope["path"].startswith("/v1/"):
                client = self._match(b"Bearer " + api_key)  # Anthropic's clients send the key as x-api-key
            person = self._names.get(client) if client is not None else await self._person(header)
            if client is None and person is not None:
                client = f"person:{person}"
            if client is not None:
                scope[CLIENT_KEY] = client
                if person is not None:
                    scope[PERSON_KEY] = person
            elif scope["path"].startswith(PROTECTED_PREFIXES):
                message = f"missing or wrong bearer token: {_UNAUTHORIZED_HINT}"
                shape: dict[str, object] = {"error": {"message": message, "type": "authentication_error"}}
                for prefix, shaped in self.shapes.items():
                    if scope["path"].startswith(prefix):
                        shape = shaped(401, message)
                challenge = _CHALLENGE
                if self._oidc is not None:  # OAuth-aware editors find the issuer from here (RFC 9728)
                    challenge += f', resource_metadata="{_base(scope)}{PRM_PATHS[1]}"'
                response = JSONResponse(shape, status_code=401, headers={"WWW-Authenticate": challenge})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestGuard:
    """`Host` on every route, `Origin` against the configured origins, CORS for those, JSON-only `/v1` posts."""

    def __init__(self, app: ASGIApp, hosts: list[str], origins: Sequence[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = frozenset(origins)

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
        if scope["path"] == "/mcp":
            scope = _trimmed_mcp_headers(scope)
        if not origin or same_origin:
            await self.app(scope, receive, send)
            return
        cors = [(key.lower().encode(), value.encode()) for key, value in _cors(origin).items()]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _trimmed_mcp_headers(scope: Scope) -> Scope:
    """The request with optional whitespace around its `Mcp-*` header values removed (RFC 9110 §5.5: it is not part
    of the value), so `Mcp-Name: add ` names the tool `add`, as the 2026-07-28 checks compare it."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if not any(name.startswith(b"mcp-") and value != value.strip(b" \t") for name, value in headers):
        return scope
    trimmed = [(name, value.strip(b" \t") if name.startswith(b"mcp-") else value) for name, value in headers]
    return {**scope, "headers": trimmed}


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


async def json_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = {"error": {"message": exc.detail, "type": "invalid_request_error", "code": None, "param": None}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
