"""A remote MCP server behind OAuth 2.1 and its authorization server, for tests: the MCP SDK's own authorization
server (metadata, dynamic registration, authorize, token, revocation) and resource server (bearer checks, protected
resource metadata), over real HTTP on 127.0.0.1.

What is ours is only the store behind them (`Accounts`): a person who approves every login, tokens in memory, and
what a test reads afterwards (registrations, authorization requests, token grants). The `admin` tool needs the
`write` scope: a token without it gets `403 insufficient_scope`, as a step-up challenge.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    IdentityAssertionParams,
    ProviderTokenVerifier,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from glm_mcp.oauth.redirect import free_port
from tests.helpers import serve_asgi
from tests.tls import self_signed


@dataclass
class Accounts:
    """The authorization server's memory, and what tests read of it."""

    access_seconds: int = 3600
    clients: dict[str, OAuthClientInformationFull] = field(default_factory=dict[str, OAuthClientInformationFull])
    codes: dict[str, AuthorizationCode] = field(default_factory=dict[str, AuthorizationCode])
    access: dict[str, AccessToken] = field(default_factory=dict[str, AccessToken])
    refresh: dict[str, RefreshToken] = field(default_factory=dict[str, RefreshToken])
    authorizations: list[AuthorizationParams] = field(default_factory=list[AuthorizationParams])
    documents: list[str] = field(default_factory=list[str])
    """Client ID Metadata Documents fetched (their URLs)."""
    grants: list[str] = field(default_factory=list[str])
    """Each token issued, by grant: `authorization_code` or `refresh_token`."""

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if client_id.startswith("https://") and client_id not in self.clients:
            # A Client ID Metadata Document: the client's URL is its id; its metadata is what the URL serves.
            async with httpx2.AsyncClient(verify=False) as http:  # the test's own self-signed server
                document = (await http.get(client_id)).raise_for_status().json()
            self.documents.append(client_id)
            # Allowed every scope this server knows, as a registration is (see `register_client`).
            return OAuthClientInformationFull.model_validate(
                {**document, "client_id": client_id, "scope": "read write"}
            )
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        # Registered for every scope this server knows, as many authorization servers do (RFC 7591 §3.2.1).
        self.clients[client_info.client_id] = client_info.model_copy(update={"scope": "read write"})

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        self.authorizations.append(params)  # the person approves at once
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client.client_id or "",
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        return self.codes.get(authorization_code)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None, grant: str) -> OAuthToken:
        self.grants.append(grant)
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires = int(time.time()) + self.access_seconds
        self.access[access] = AccessToken(
            token=access, client_id=client_id, scopes=scopes, expires_at=expires, resource=resource
        )
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes, resource=resource)
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.access_seconds,
            refresh_token=refresh,
            scope=" ".join(scopes) or None,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self.codes.pop(authorization_code.code, None)
        return self._issue(
            authorization_code.client_id, authorization_code.scopes, authorization_code.resource, "authorization_code"
        )

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        return self.refresh.get(refresh_token)

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        self.refresh.pop(refresh_token.token, None)  # rotated
        return self._issue(
            refresh_token.client_id, scopes or refresh_token.scopes, refresh_token.resource, "refresh_token"
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "this server takes no identity assertions")

    def revoke_access(self) -> None:
        """Every access token stops working (the refresh tokens still do)."""
        self.access.clear()


@dataclass
class World:
    url: str
    """The MCP endpoint."""
    issuer: str
    accounts: Accounts


REGISTRATION = ClientRegistrationOptions(enabled=True, valid_scopes=["read", "write"])


def _server(accounts: Accounts, base: str, scopes: list[str], issuer: str) -> MCPServer:
    """The protected MCP server; its own authorization server too when `issuer` is `base`."""
    separate = issuer != base
    server = MCPServer(
        "behind-oauth",
        auth=AuthSettings(
            issuer_url=issuer,  # type: ignore[arg-type]  # pydantic coerces
            resource_server_url=f"{base}/mcp",  # type: ignore[arg-type]  # pydantic coerces
            client_registration_options=REGISTRATION,
            revocation_options=RevocationOptions(enabled=True),
            required_scopes=scopes,
        ),
        auth_server_provider=None if separate else accounts,
        token_verifier=ProviderTokenVerifier(accounts) if separate else None,
    )

    @server.tool()
    def whoami() -> str:
        """Who the server thinks is calling."""
        from mcp.server.auth.middleware.auth_context import get_access_token

        token = get_access_token()
        return f"client {token.client_id if token else '?'} with scopes {sorted(token.scopes) if token else []}"

    return server


def _with_metadata(app: Any, said: dict[str, Any]) -> Any:
    """The authorization server's metadata says `said` besides what the SDK's says (it never says it takes Client ID
    Metadata Documents, nor offers fewer grant types)."""

    async def patched(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/.well-known/oauth-authorization-server":
            return await app(scope, receive, send)
        started: dict[str, Any] = {}

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
                return
            body = json.loads(message.get("body", b"") or b"{}")
            content = json.dumps({**body, **said}).encode()
            headers = [(k, v) for k, v in started["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(content)).encode()))
            await send({**started, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        return await app(scope, receive, rewrite)

    return patched


def _step_up(app: Any, accounts: Accounts, base: str) -> Any:
    """`tools/call` of `admin` needs the `write` scope: without it, 403 with an `insufficient_scope` challenge."""

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        found = await accounts.load_access_token(token)
        if b'"admin"' in body and found is not None and "write" not in found.scopes:
            challenge = f'Bearer error="insufficient_scope", scope="write", resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
            await send(
                {"type": "http.response.start", "status": 403, "headers": [(b"www-authenticate", challenge.encode())]}
            )
            await send({"type": "http.response.body", "body": b""})
            return None
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await app(scope, replay, send)

    return guarded


@asynccontextmanager
async def oauth_world(
    accounts: Accounts | None = None,
    scopes: list[str] | None = None,
    *,
    separate: bool = False,
    metadata: dict[str, Any] | None = None,
) -> AsyncGenerator[World, None]:
    """A protected MCP server (`whoami`, `admin`) and its authorization server: both on one 127.0.0.1 port, or
    (`separate`) the authorization server on a port of its own, as most hosted servers have it."""
    accounts = accounts or Accounts()
    async with AsyncExitStack() as stack:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        issuer = base
        if separate:
            as_port = free_port()
            issuer = f"http://127.0.0.1:{as_port}/"  # as `AnyHttpUrl` renders it, in the metadata and the PRM alike
            routes = create_auth_routes(
                accounts,
                issuer_url=AnyHttpUrl(issuer),
                client_registration_options=REGISTRATION,
                revocation_options=RevocationOptions(enabled=True),
            )
            await stack.enter_async_context(serve_asgi(Starlette(routes=routes), port=as_port))
        world = await stack.enter_async_context(_world(accounts, base, port, scopes or ["read"], issuer, metadata))
        yield world


@asynccontextmanager
async def _world(
    accounts: Accounts, base: str, port: int, scopes: list[str], issuer: str, metadata: dict[str, Any] | None
) -> AsyncGenerator[World, None]:
    server = _server(accounts, base, scopes, issuer)

    @server.tool()
    def admin() -> str:
        """Needs the write scope."""
        return "admin done"

    app = _step_up(server.streamable_http_app(), accounts, base)
    app = _with_metadata(app, metadata) if metadata else app
    async with serve_asgi(app, port=port):
        yield World(url=f"{base}/mcp", issuer=issuer, accounts=accounts)


@asynccontextmanager
async def client_metadata_document(folder: Path, redirect_port: int) -> AsyncGenerator[str, None]:
    """An HTTPS server (a self-signed certificate for 127.0.0.1) serving glm-mcp's Client ID Metadata Document;
    yields the document's URL, which is also the client's id."""
    cert, key = self_signed(folder)
    document = {
        "client_name": "glm-mcp",
        "redirect_uris": [f"http://127.0.0.1:{redirect_port}/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }

    async def serve_document(request: Request) -> JSONResponse:
        return JSONResponse(document)

    app = Starlette(routes=[Route("/glm-mcp/client.json", serve_document)])
    async with serve_asgi(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        yield f"{url}/glm-mcp/client.json"
