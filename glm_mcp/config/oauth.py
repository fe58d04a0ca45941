"""The `oauth` object of a remote server: how the gateway logs in to it (OAuth 2.1, as the MCP authorization
spec describes). Every key is optional."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

TokenAuthMethod = Literal["client_secret_basic", "client_secret_post", "none", "private_key_jwt"]


class OAuthConfig(BaseModel):
    """How the gateway logs in to a remote server behind OAuth 2.1. Every key is optional: a server that answers
    `401` with `WWW-Authenticate` is discovered and registered with nothing configured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    """`"oauth": false` in the config: a `401` is then a failure like any other."""

    client_id: str | None = Field(default=None, min_length=1)
    """A client registered beforehand with the authorization server (no dynamic registration then)."""

    client_secret: SecretStr | None = None
    """That client's secret. Secret."""

    token_endpoint_auth_method: (
        Literal["client_secret_basic", "client_secret_post", "none", "private_key_jwt"] | None
    ) = None
    """How the pre-registered client authenticates at the token endpoint; by default `client_secret_basic` when a
    secret is set, else `none`."""

    scopes: tuple[str, ...] | None = None
    """Scopes to ask for; by default those the server's challenge names, else those its metadata supports."""

    client_metadata_url: str | None = Field(default=None, pattern=r"^https://[^/\s]+/\S+")
    """An HTTPS URL serving this client's metadata document, used as its `client_id` where the authorization
    server supports Client ID Metadata Documents."""

    grant: Literal["authorization_code", "client_credentials", "jwt_bearer"] = "authorization_code"
    """`authorization_code`: a person logs in (`glm-mcp login NAME`); `client_credentials`: a service account
    (`client_id` with `client_secret`, or with `private_key_pem` for `private_key_jwt`); `jwt_bearer`: a workload
    identity (`client_id` with the workload's JWT in `jwt_assertion`)."""

    issuer: str | None = Field(default=None, pattern=r"^https?://")
    """The authorization server a pre-registered client belongs to: its credentials are then sent to no other."""

    redirect_port: int | None = Field(default=None, ge=1, le=65535)
    """The 127.0.0.1 port the login's redirect comes back to; by default a free one, kept with the registration."""

    private_key_pem: SecretStr | None = None
    """For `private_key_jwt`: the PEM private key the client signs its assertion with. Secret."""

    signing_algorithm: str = "RS256"
    """For `private_key_jwt`: the JWS algorithm of that key (`RS256`, `ES256`, ...)."""

    idp_issuer: str | None = None
    """Enterprise-managed authorization: the identity provider whose ID token is exchanged."""

    idp_client_id: str | None = None
    """Enterprise-managed authorization: this client's id at the identity provider."""

    idp_token_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    """Enterprise-managed authorization: the identity provider's token endpoint (token exchange)."""

    idp_id_token: SecretStr | None = None
    """Enterprise-managed authorization: the user's ID token from the identity provider. Secret."""

    jwt_assertion: SecretStr | None = None
    """For `"grant": "jwt_bearer"`: the workload's JWT, exchanged for an access token (RFC 7523). Secret."""

    @model_validator(mode="before")
    @classmethod
    def _false_is_off(cls, value: Any) -> Any:
        return {"enabled": False} if value is False else value

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes_as_words(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    def secrets(self) -> list[str]:
        """Every secret value in this object."""
        held = (self.client_secret, self.private_key_pem, self.idp_id_token, self.jwt_assertion)
        return [secret.get_secret_value() for secret in held if secret is not None]


class OidcConfig(BaseModel):
    """The gateway's callers named by OpenID Connect: a bearer token that is a JWT signed by `issuer` (its keys from
    the issuer's JWKS, found through its discovery document) is that person's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(pattern=r"^https?://")
    """The identity provider; its discovery document is at `<issuer>/.well-known/openid-configuration`."""

    audience: str | None = None
    """The `aud` the tokens must carry (the client id the gateway is registered with); unchecked when absent."""

    name_claim: str = "sub"
    """The claim that names the person (`sub`, `email`, `preferred_username`, ...)."""
