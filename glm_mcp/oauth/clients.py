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

import contextlib
import logging
import time
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
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
)

from glm_mcp.config import HttpUpstreamConfig, OAuthConfig
from glm_mcp.errors import LoginRequired
from glm_mcp.oauth.assertions import JwtBearerGrant, assertion_source
from glm_mcp.oauth.dpop import ALGORITHM, DPoPKey, Proofs, as_bearer
from glm_mcp.oauth.metadata import fitted_registration, is_server_metadata, served
from glm_mcp.oauth.redirect import RedirectCatcher, free_port, port_is_free
from glm_mcp.oauth.vault import LOGIN_POLL_SECONDS, ServerLogin, how_to_log_in

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

    async def tell_caller(self, server: str, url: str) -> None: ...

    def reaches_someone(self, url: str) -> bool: ...

    async def login_done(self, server: str) -> None: ...


class _GatewayRules:
    """What every OAuth client of the gateway adds to the SDK's (mixed in before the SDK's provider class)."""

    context: Any
    _initialized: bool

    def setup_rules(self, server: str, login: ServerLogin) -> None:
        self._server = server
        self.login = login
        self._logins_in_a_row = 0
        self._refresh_tried = False
        self._last_status = 0
        self.failure: str | None = None
        """Why the last login failed, until a request is accepted again."""
        self._proofs = Proofs()
        self._key: DPoPKey | None = None
        self._bound = False
        """The access token is DPoP-bound: it travels as `DPoP <token>` with a proof of `_key`."""
        self._looked_at = -LOGIN_POLL_SECONDS

    async def _initialize(self) -> None:
        await super()._initialize()  # type: ignore[misc]  # the SDK provider's, next in the MRO
        expires_at = self.login.expires_at()
        self.context.token_expiry_time = None if expires_at is None else expires_at - REFRESH_MARGIN_SECONDS
        pem, self._bound = self.login.dpop()
        self._key = DPoPKey(pem) if pem else None
        if self.context.oauth_metadata is None and (kept := self.login.server_metadata()) is not None:
            # After a restart the SDK has no metadata: without it a refresh would go to the resource's origin.
            with contextlib.suppress(ValueError):
                self.context.oauth_metadata = OAuthMetadata.model_validate(kept)
        self.login.seen()

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        now = time.monotonic()
        if now - self._looked_at >= LOGIN_POLL_SECONDS:  # a `stat` a second at most, not one per request
            self._looked_at = now
            if self.login.changed():  # another process logged in (or out): read the login again
                self._initialized = False
                self._logins_in_a_row = 0
        if not self._initialized:
            await self._initialize()
        answered: httpx2.Response | None = None
        if not self._bound and (self.context.current_tokens is None or self.context.is_token_valid()):
            # The common request goes out without the SDK's flow, which holds a lock until the response's headers
            # arrive: a server answering in JSON would have every other call wait for this one. The SDK's flow
            # takes over only for what needs it: a refresh, a DPoP proof, a 401 or 403.
            sent = self.context.current_tokens.access_token if self.context.current_tokens is not None else None
            if sent is not None:
                self._add_auth_header(request)  # type: ignore[attr-defined]  # the SDK provider's
            answered = yield request
            if answered.status_code == 401 and sent is not None:
                async with self.context.lock:  # a refresh another request started ends first
                    now_held = self.context.current_tokens.access_token if self.context.current_tokens else None
                if now_held is not None and now_held != sent and self.context.is_token_valid():
                    # Refreshed meanwhile: once more with the new token, not a second refresh (which, where refresh
                    # tokens rotate, would spend the old one twice and lose the login).
                    self._add_auth_header(request)  # type: ignore[attr-defined]  # the SDK provider's
                    answered = yield request
            if answered.status_code not in (401, 403):
                self._accepted()
                return
        sdk_flow: Any = super().async_auth_flow(request)  # type: ignore[misc]  # the SDK provider's, next in the MRO
        flow = cast(AsyncGenerator[httpx2.Request, httpx2.Response], sdk_flow)
        try:
            outgoing = await flow.__anext__()
            if answered is not None and outgoing is request:  # the SDK's flow starts from the answer just had
                self._last_status = answered.status_code
                outgoing = await flow.asend(answered)
            while True:
                outgoing = fitted_registration(outgoing, self.login.server_metadata())
                token_request = self._is_token_request(outgoing)
                self._prove(outgoing, token_request)
                response = yield outgoing
                if token_request or is_server_metadata(outgoing):
                    await response.aread()  # the SDK reads it too; read here first to look inside
                if self._proofs.heard(response) and "DPoP" in outgoing.headers:
                    self._prove(outgoing, token_request)  # once more, with the nonce the server just gave
                    response = yield outgoing
                    if token_request:
                        await response.aread()
                    self._proofs.heard(response)
                if token_request and response.status_code == 200 and self._key is not None:
                    response = self._token_type_read(response)
                elif response.status_code == 200 and is_server_metadata(outgoing) and (kept := served(response)):
                    self.login.keep_server_metadata(kept)  # as served: the SDK's model drops DPoP's algorithms
                if outgoing is request:
                    self._last_status = response.status_code
                    if response.status_code < 400:
                        self._accepted()
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        except Exception as exc:  # said again where the request that needed the login fails
            self.failure = str(exc) or type(exc).__name__
            raise
        finally:
            await flow.aclose()

    def _accepted(self) -> None:
        """The server took a request: the counts of a login in progress start again."""
        self._logins_in_a_row, self._refresh_tried = 0, False
        self.failure = None

    def _is_token_request(self, outgoing: httpx2.Request) -> bool:
        endpoint = str(self._get_token_endpoint())  # type: ignore[attr-defined]  # the SDK provider's
        return outgoing.method == "POST" and str(outgoing.url) == endpoint

    def _prove(self, outgoing: httpx2.Request, token_request: bool) -> None:
        """Add a DPoP proof: to a token request where the authorization server offers DPoP, and to a request
        carrying a DPoP-bound token (whose scheme becomes `DPoP`)."""
        if token_request:
            kept = self.login.server_metadata() or {}
            if ALGORITHM not in (kept.get("dpop_signing_alg_values_supported") or []):
                return
            if self._key is None:
                self._key = DPoPKey()
                self.login.keep_dpop(self._key.pem(), bound=False)
            nonce = self._proofs.nonce(outgoing)
            outgoing.headers["DPoP"] = self._key.proof(outgoing.method, str(outgoing.url), nonce=nonce)
            return
        scheme, _, token = outgoing.headers.get("Authorization", "").partition(" ")
        if self._bound and self._key is not None and token and scheme in ("Bearer", "DPoP"):
            outgoing.headers["Authorization"] = f"DPoP {token}"
            nonce = self._proofs.nonce(outgoing)
            outgoing.headers["DPoP"] = self._key.proof(outgoing.method, str(outgoing.url), token=token, nonce=nonce)

    def _token_type_read(self, response: httpx2.Response) -> httpx2.Response:
        """Note whether the token issued is DPoP-bound; the SDK reads the answer as a Bearer token either way."""
        bound, response = as_bearer(response)
        if bound is not None and self._key is not None:
            self._bound = bound
            self.login.keep_dpop(self._key.pem(), bound=bound)
        return response

    async def _perform_authorization(self) -> httpx2.Request:
        if self._last_status == 401 and not self._refresh_tried and self.context.can_refresh_token():
            self._refresh_tried = True  # a revoked access token with a good refresh token needs no person
            return await self._refresh_token()  # type: ignore[attr-defined, no-any-return]  # the SDK's
        if self._logins_in_a_row >= MAX_LOGINS:
            raise LoginRequired(
                f"the server asked for a new login {MAX_LOGINS} times in a row without accepting one (it may want "
                "a scope the authorization server does not grant); check the account, then run "
                f"{how_to_log_in(self._server)}"
            )
        self._logins_in_a_row += 1
        return await super()._perform_authorization()  # type: ignore[misc, no-any-return]  # the SDK's


class AuthorizationCodeClient(_GatewayRules, OAuthClientProvider):
    """The SDK's authorization-code client, its person's redirect taken on 127.0.0.1."""

    def __init__(self, server: str, config: HttpUpstreamConfig, oauth: OAuthConfig, login: ServerLogin, person: Person):
        # The port of the registration's redirect URI (the authorization server compares it), else a free one. When
        # another login of this server holds it (a running gateway waiting for its person while `glm-mcp login`
        # runs) and a login is due, a registration of our own is made again for a free port.
        port = oauth.redirect_port or login.registered_redirect_port()
        taken = port is not None and not oauth.redirect_port and not port_is_free(port)
        if taken and oauth.client_id is None and not login.has_tokens():
            login.forget_client()
            port = None
        port = port or free_port()
        self._catcher = RedirectCatcher(server)
        self._person = person
        self._state: str | None = None
        self._url = ""
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
            raise LoginRequired(f"it needs a login: {how_to_log_in(self._server)}")
        await self._catcher.bind(self._port)
        self._state = (parse_qs(urlsplit(url).query).get("state") or [None])[0]
        self._url = url
        await self._person.login_needed(self._server, url)

    async def _logged_in_elsewhere(self) -> None:
        """End the wait when another process saved a login meanwhile (`glm-mcp login`): it is used instead."""
        while True:
            await anyio.sleep(LOGIN_POLL_SECONDS)  # another process's file: nothing to wait on but its time
            if self.login.changed():
                raise LoginRequired("a login was saved by another process meanwhile; it is used now")

    async def _redirected(self) -> AuthorizationCodeResult:
        try:
            if not self._person.reaches_someone(self._url):  # a call whose editor cannot show it: say so at once
                raise LoginRequired(f"it needs a new login: {how_to_log_in(self._server)}")
            result: AuthorizationCodeResult | None = None
            with anyio.fail_after(self._person.timeout):
                async with anyio.create_task_group() as tg:
                    # The caller's editor shows the login while the redirect is awaited (its person's browser
                    # brings the redirect here before the editor answers).
                    tg.start_soon(self._person.tell_caller, self._server, self._url)
                    tg.start_soon(self._logged_in_elsewhere)
                    result = await self._catcher.wait(self._state)
                    tg.cancel_scope.cancel()
            assert result is not None  # the wait returned, or raised
            return result
        except TimeoutError:
            raise LoginRequired(
                f"nobody logged in within {self._person.timeout:g} s; {how_to_log_in(self._server)}"
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


class JwtBearerClient(_GatewayRules, JwtBearerGrant):
    """A JWT-bearer grant: a workload's identity, or an enterprise identity provider's ID-JAG."""


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
        client = JwtBearerClient(config.url, login, oauth, assertion_source(oauth), scope)
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
