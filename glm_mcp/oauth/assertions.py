"""The JWT-bearer grant (RFC 7523 §2.1) and where its assertion comes from: a workload's own JWT (workload
identity), or an ID-JAG that the enterprise's identity provider issues for the user's ID token (RFC 8693 token
exchange, then the grant: enterprise-managed authorization).

Contract:
- `assertion_source(oauth)` is the async source of the assertion for the server's `oauth` config, `ValueError`
  when the config gives neither a `jwt_assertion` nor the `idp_*` inputs;
- `JwtBearerGrant` is the SDK's OAuth client with the JWT-bearer grant as its authorization: discovery as usual,
  then one token request carrying the assertion (client authentication with the configured secret, `basic` by
  default); a refused assertion is reported, never retried with another grant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx2
from mcp.client.auth import OAuthClientProvider, OAuthTokenError
from mcp.shared.auth import JWT_BEARER_GRANT_TYPE, OAuthClientInformationFull, OAuthClientMetadata

from glm_mcp.config import OAuthConfig
from glm_mcp.oauth.vault import ServerLogin

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"

AssertionFnT = Callable[[str, str], Awaitable[str]]
"""(audience: the authorization server's issuer, resource: the MCP server) → the assertion."""


def assertion_source(oauth: OAuthConfig) -> AssertionFnT:
    """Where the server's JWT-bearer assertion comes from.

    Raises:
        ValueError: The config gives no way to get one.
    """
    if oauth.jwt_assertion is not None:
        workload = oauth.jwt_assertion.get_secret_value()

        async def the_workloads(audience: str, resource: str) -> str:
            return workload

        return the_workloads
    if oauth.idp_token_endpoint and oauth.idp_id_token is not None and oauth.idp_client_id:
        endpoint, client_id = oauth.idp_token_endpoint, oauth.idp_client_id
        id_token = oauth.idp_id_token.get_secret_value()

        async def exchanged(audience: str, resource: str) -> str:
            form = {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": id_token,
                "subject_token_type": ID_TOKEN,
                "requested_token_type": ID_JAG,
                "audience": audience,
                "resource": resource,
                "client_id": client_id,
            }
            async with httpx2.AsyncClient(timeout=30) as idp:
                answer = await idp.post(endpoint, data=form)
            try:
                parsed: Any = answer.json()
            except ValueError:
                parsed = None
            body = cast(dict[str, Any], parsed) if isinstance(parsed, dict) else {}
            token = body.get("access_token")
            if answer.status_code != 200 or not isinstance(token, str):
                why = body.get("error_description") or body.get("error")
                raise OAuthTokenError(
                    f"the identity provider refused the token exchange ({answer.status_code}): {why or answer.text}"
                )
            return token

        return exchanged
    raise ValueError(
        '"grant": "jwt_bearer" needs the workload\'s JWT in "jwt_assertion", or "idp_token_endpoint", '
        '"idp_client_id" and "idp_id_token" for enterprise-managed authorization'
    )


class JwtBearerGrant(OAuthClientProvider):
    """The SDK's OAuth client whose authorization is one JWT-bearer token request."""

    def __init__(
        self, server_url: str, storage: ServerLogin, oauth: OAuthConfig, assertion: AssertionFnT, scope: str | None
    ) -> None:
        if oauth.client_id is None:
            raise ValueError('"grant": "jwt_bearer" needs a "client_id"')
        secret = oauth.client_secret.get_secret_value() if oauth.client_secret else None
        method = oauth.token_endpoint_auth_method or ("client_secret_basic" if secret else "none")
        metadata = OAuthClientMetadata(
            redirect_uris=None, grant_types=[JWT_BEARER_GRANT_TYPE], token_endpoint_auth_method=method, scope=scope
        )
        super().__init__(server_url, metadata, storage)
        self._assertion = assertion
        self._client = OAuthClientInformationFull(
            client_id=oauth.client_id,
            client_secret=secret,
            redirect_uris=None,
            grant_types=[JWT_BEARER_GRANT_TYPE],
            token_endpoint_auth_method=method,
            scope=scope,
        )

    async def _initialize(self) -> None:
        await super()._initialize()
        self.context.client_info = self._client

    async def _perform_authorization(self) -> httpx2.Request:
        metadata = self.context.oauth_metadata
        audience = (
            str(metadata.issuer)
            if metadata is not None
            else self.context.get_authorization_base_url(self.context.server_url)
        )
        resource = self.context.get_resource_url()
        data = {
            "grant_type": JWT_BEARER_GRANT_TYPE,
            "assertion": await self._assertion(audience, resource),
            "client_id": self._client.client_id or "",
        }
        if self.context.should_include_resource_param(self.context.protocol_version):
            data["resource"] = resource
        if self.context.client_metadata.scope:
            data["scope"] = self.context.client_metadata.scope
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        data, headers = self.context.prepare_token_auth(data, headers)
        return httpx2.Request("POST", self._get_token_endpoint(), data=data, headers=headers)
