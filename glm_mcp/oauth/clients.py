"""The OAuth client of one remote server: the MCP SDK's client auth, set up from the server's `oauth` config, with
the gateway's rules on top.

Contract:
- `server_auth` returns the `httpx2.Auth` a server's requests go through: the SDK's authorization-code client
  (discovery, CIMD or dynamic registration, PKCE, resource indicators, scope selection and step-up, `iss` checks),
  or its client-credentials clients (`client_secret_basic`/`_post`, `private_key_jwt`) for `"grant":
  "client_credentials"`; None for a server with OAuth turned off;
- on top of the SDK: an access token is refreshed a minute before it expires, also after a restart (the expiry is
  kept with the login); a `401` with a refresh token tries the refresh before a new login; a server that asks for
  a new login right after one (the login granted nothing it accepts) is asked at most `MAX_LOGINS` times, then
  `LoginRequired` says so;
- a login that needs a person goes through a `Person`: it is shown the URL, and its redirect is taken on
  127.0.0.1 at the port kept with the registration (`redirect_port` when configured); no person within the
  timeout raises `LoginRequired`.
"""

from __future__ import annotations

import logging
import socket
import warnings
from collections.abc import AsyncGenerator
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.shared.auth import (
    JWT_BEARER_GRANT_TYPE,
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
)

from glm_mcp.config import HttpUpstreamConfig, OAuthConfig
from glm_mcp.errors import LoginRequired
from glm_mcp.oauth.redirect import RedirectCatcher
from glm_mcp.oauth.vault import ServerLogin

logger = logging.getLogger(__name__)


class _FailuresAreReportedByTheGateway(logging.Filter):
    """The SDK logs every failed login with a traceback; the gateway reports it once, in one line, as the server's
    state and error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "OAuth flow error"


logging.getLogger("mcp.client.auth.oauth2").addFilter(_FailuresAreReportedByTheGateway())

MAX_LOGINS = 2
"""Logins in a row a server may ask for without accepting a request in between."""
REFRESH_MARGIN_SECONDS = 60.0
"""An access token is refreshed this long before it expires."""
CLIENT_NAME = "glm-mcp"


class Person(Protocol):
    """Whoever completes a login in a browser: shown the URL, given `timeout` seconds; none when not
    `interactive` (a report such as `glm-mcp tools`): the login is then left for `glm-mcp login`."""

    timeout: float
    interactive: bool

    async def login_needed(self, server: str, url: str) -> None: ...

    async def login_done(self, server: str) -> None: ...


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _GatewayRules:
    """What every OAuth client of the gateway adds to the SDK's (mixed in before the SDK's provider class)."""

    context: Any
    _initialized: bool

    def setup_rules(self, server: str, login: ServerLogin) -> None:
        self._server = server
        self.login = login
        self._logins_in_a_row = 0
        self._refresh_tried = 0
        self._last_status = 0
        self.failure: str | None = None
        """Why the last login failed, until a request is accepted again."""

    async def _initialize(self) -> None:
        await super()._initialize()  # type: ignore[misc]  # the SDK provider's, next in the MRO
        expires_at = self.login.expires_at()
        self.context.token_expiry_time = None if expires_at is None else expires_at - REFRESH_MARGIN_SECONDS
        self.login.seen()

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        if self.login.changed():  # another process logged in (or out): read the login again
            self._initialized = False
            self._logins_in_a_row = 0
        sdk_flow: Any = super().async_auth_flow(request)  # type: ignore[misc]  # the SDK provider's, next in the MRO
        flow = cast(AsyncGenerator[httpx2.Request, httpx2.Response], sdk_flow)
        try:
            outgoing = await flow.__anext__()
            while True:
                response = yield outgoing
                if outgoing is request:
                    self._last_status = response.status_code
                    if response.status_code < 400:
                        self._logins_in_a_row = self._refresh_tried = 0
                        self.failure = None
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        except Exception as exc:  # said again where the request that needed the login fails
            self.failure = str(exc) or type(exc).__name__
            raise
        finally:
            await flow.aclose()

    async def _perform_authorization(self) -> httpx2.Request:
        if self._last_status == 401 and not self._refresh_tried and self.context.can_refresh_token():
            self._refresh_tried = 1  # a revoked access token with a good refresh token needs no person
            return await self._refresh_token()  # type: ignore[attr-defined, no-any-return]  # the SDK's
        if self._logins_in_a_row >= MAX_LOGINS:
            raise LoginRequired(
                f"the server asked for a new login {MAX_LOGINS} times in a row without accepting one (it may want "
                "a scope the authorization server does not grant); check the account, then run "
                f"`glm-mcp login {self._server}`"
            )
        self._logins_in_a_row += 1
        return await super()._perform_authorization()  # type: ignore[misc, no-any-return]  # the SDK's


class AuthorizationCodeClient(_GatewayRules, OAuthClientProvider):
    """The SDK's authorization-code client, its person's redirect taken on 127.0.0.1."""

    def __init__(self, server: str, config: HttpUpstreamConfig, oauth: OAuthConfig, login: ServerLogin, person: Person):
        port = oauth.redirect_port or login.redirect_port() or free_port()
        if login.redirect_port() != port:
            login.keep_redirect_port(port)
        self._catcher = RedirectCatcher(server)
        self._person = person
        self._state: str | None = None
        metadata = OAuthClientMetadata(
            redirect_uris=[f"http://127.0.0.1:{port}/callback"],  # type: ignore[list-item]  # pydantic coerces
            client_name=CLIENT_NAME,
            scope=" ".join(oauth.scopes) if oauth.scopes else None,
            grant_types=["authorization_code", "refresh_token"],
            token_endpoint_auth_method=oauth.token_endpoint_auth_method
            or ("client_secret_basic" if oauth.client_secret else "none"),
        )
        super().__init__(
            config.url,
            metadata,
            login,
            redirect_handler=self._show,
            callback_handler=self._redirected,
            client_metadata_url=oauth.client_metadata_url,
        )
        self.setup_rules(server, login)
        self._port = port
        self._preregistered = _preregistered(oauth, metadata)

    async def _initialize(self) -> None:
        await super()._initialize()
        if self._preregistered is not None:
            self.context.client_info = self._preregistered

    async def _show(self, url: str) -> None:
        if not self._person.interactive:
            raise LoginRequired(f"it needs a login: run `glm-mcp login {self._server}`")
        await self._catcher.bind(self._port)
        self._state = (parse_qs(urlsplit(url).query).get("state") or [None])[0]
        await self._person.login_needed(self._server, url)

    async def _redirected(self) -> AuthorizationCodeResult:
        try:
            with anyio.fail_after(self._person.timeout):
                return await self._catcher.wait(self._state)
        except TimeoutError:
            raise LoginRequired(
                f"nobody logged in within {self._person.timeout:g} s; run `glm-mcp login {self._server}`"
            ) from None
        finally:
            await self._catcher.close()
            await self._person.login_done(self._server)


def _preregistered(oauth: OAuthConfig, metadata: OAuthClientMetadata) -> OAuthClientInformationFull | None:
    if oauth.client_id is None:
        return None
    secret = oauth.client_secret.get_secret_value() if oauth.client_secret else None
    return OAuthClientInformationFull(
        client_id=oauth.client_id,
        client_secret=secret,
        redirect_uris=metadata.redirect_uris,
        token_endpoint_auth_method=metadata.token_endpoint_auth_method,
        grant_types=metadata.grant_types,
        scope=metadata.scope,
        issuer=oauth.issuer,
    )


class ClientSecretClient(_GatewayRules, ClientCredentialsOAuthProvider):
    """A service account: the client-credentials grant with the client's secret."""


class PrivateKeyClient(_GatewayRules, PrivateKeyJWTOAuthProvider):
    """A service account: the client-credentials grant with a signed JWT (`private_key_jwt`)."""


class _JwtBearerGrant(OAuthClientProvider):
    """Workload identity: the workload's own JWT exchanged for an access token (RFC 7523 §2.1 JWT-bearer grant).
    A refused assertion is reported, never retried with another grant."""

    def __init__(self, server_url: str, storage: ServerLogin, client_id: str, assertion: str, scope: str | None):
        metadata = OAuthClientMetadata(
            redirect_uris=None, grant_types=[JWT_BEARER_GRANT_TYPE], token_endpoint_auth_method="none", scope=scope
        )
        super().__init__(server_url, metadata, storage)
        self._assertion = assertion
        self._client = OAuthClientInformationFull(
            client_id=client_id,
            redirect_uris=None,
            grant_types=[JWT_BEARER_GRANT_TYPE],
            token_endpoint_auth_method="none",
            scope=scope,
        )

    async def _initialize(self) -> None:
        await super()._initialize()
        self.context.client_info = self._client

    async def _perform_authorization(self) -> httpx2.Request:
        data = {"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": self._assertion, "client_id": self._client.client_id}
        if self.context.should_include_resource_param(self.context.protocol_version):
            data["resource"] = self.context.get_resource_url()
        if self.context.client_metadata.scope:
            data["scope"] = self.context.client_metadata.scope
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return httpx2.Request("POST", self._get_token_endpoint(), data=data, headers=headers)


class JwtBearerClient(_GatewayRules, _JwtBearerGrant):
    """A workload's identity (`"grant": "jwt_bearer"` with `jwt_assertion`)."""


def server_auth(server: str, config: HttpUpstreamConfig, login: ServerLogin, person: Person) -> httpx2.Auth | None:
    """The OAuth client for `server`, None when OAuth is off for it.

    Raises:
        ValueError: The `oauth` object cannot work as written (the message says what to change).
    """
    if not config.oauth_enabled:
        return None
    oauth = config.oauth or OAuthConfig()
    scope = " ".join(oauth.scopes) if oauth.scopes else None
    if oauth.grant == "authorization_code":
        return AuthorizationCodeClient(server, config, oauth, login, person)
    if oauth.client_id is None:
        raise ValueError(f'"grant": "{oauth.grant}" needs a "client_id"')
    client: _GatewayRules
    if oauth.grant == "jwt_bearer":
        if oauth.jwt_assertion is None:
            raise ValueError('"grant": "jwt_bearer" needs the workload\'s JWT in "jwt_assertion"')
        client = JwtBearerClient(config.url, login, oauth.client_id, oauth.jwt_assertion.get_secret_value(), scope)
        client.setup_rules(server, login)
        return client
    with warnings.catch_warnings():  # an unnamed issuer is the SDK's deprecated default, and ours to allow
        warnings.simplefilter("ignore")
        if oauth.private_key_pem is not None:
            assertion = SignedJWTParameters(
                issuer=oauth.client_id,
                subject=oauth.client_id,
                signing_key=oauth.private_key_pem.get_secret_value(),
                signing_algorithm=oauth.signing_algorithm,
            ).create_assertion_provider()
            client = PrivateKeyClient(config.url, login, oauth.client_id, assertion, scope=scope, issuer=oauth.issuer)
        else:
            if oauth.client_secret is None:
                raise ValueError(
                    '"grant": "client_credentials" needs a "client_secret" (or a "private_key_pem" for private_key_jwt)'
                )
            method = oauth.token_endpoint_auth_method or "client_secret_basic"
            if method not in ("client_secret_basic", "client_secret_post"):
                raise ValueError(f'"token_endpoint_auth_method": "{method}" cannot send a client secret')
            client = ClientSecretClient(
                config.url,
                login,
                oauth.client_id,
                oauth.client_secret.get_secret_value(),
                token_endpoint_auth_method=method,
                scope=scope,
                issuer=oauth.issuer,
            )
    client.setup_rules(server, login)
    assert isinstance(client, httpx2.Auth)
    return client
