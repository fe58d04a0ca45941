"""The gateway's own service settings (the `gateway` section): its socket, tokens, bounds, limits per caller, and
the Redis its replicas share.

Contract:
- frozen and validated like every settings model; secrets (tokens, the Redis URL) are `SecretStr`;
- an `auth_tokens` entry may be an object naming a person and their own `limits` (`config.tokens` flattens it into
  `token_names` and `token_limits`, one per token).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from glm_mcp.config.oauth import OidcConfig
from glm_mcp.config.tokens import with_token_names

Seconds = Annotated[float, Field(gt=0, le=86_400)]


class OtelConfig(BaseModel):
    """Where traces go (the `OTEL_*` variables do the same and more; these win over them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str | None = None
    """The OTLP/HTTP collector's base URL (`http://collector:4318`); traces go to its `/v1/traces`."""

    @field_validator("endpoint")
    @classmethod
    def _url(cls, endpoint: str | None) -> str | None:
        if endpoint is not None and not re.match(r"https?://[^/\s]+", endpoint):
            raise ValueError("write the collector's base URL, http://host:4318 (OTLP over HTTP)")
        return endpoint

    service_name: str | None = None
    """The `service.name` of the traces (by default `$OTEL_SERVICE_NAME`, else `glm-mcp`)."""


class Limits(BaseModel):
    """Budgets of one caller (one token, or one person): unset fields are unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    """Requests on `/mcp`, `/sse` and `/v1/*` in any 60 s."""

    concurrent_runs: int | None = Field(default=None, ge=1, le=100_000)
    """Agent runs (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`) at once."""

    tokens_per_day: int | None = Field(default=None, ge=1)
    """GLM tokens (prompt and completion) per UTC day."""

    def over(self, other: Limits | None) -> Limits:
        """These limits, each field that `other` sets taken from `other` (a token's own over the global ones)."""
        if other is None:
            return self
        return self.model_copy(update=other.model_dump(exclude_unset=True))


def _token_limits(flattened: Any) -> list[Any]:
    """The `limits` of each `auth_tokens` entry, as `with_token_names` laid them out."""
    if not isinstance(flattened, dict):
        return []
    return list(cast(dict[str, Any], flattened).get("token_limits", ()))


class ServeConfig(BaseModel):
    """The gateway's own service settings (the `gateway` section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    """Address `glm-mcp serve` binds; a non-loopback one requires `auth_tokens`."""

    port: int = Field(default=8765, ge=0, le=65535)
    """Port `glm-mcp serve` binds."""

    auth_tokens: tuple[SecretStr, ...] | None = None
    """Bearer tokens accepted on `/mcp`, `/v1/*` and `/admin/*`; an entry may be `{"name": ..., "token": ...}`, whose
    callers are that person (`token_names`). Absent: `serve` generates one and keeps it in
    the user's state folder (`glm-mcp token` prints it). `[]`: no authentication, on loopback only, with a
    warning. An empty or blank token is an error (an unset variable must not open the door)."""

    allowed_hosts: tuple[str, ...] = ()
    """Extra `Host` values accepted besides loopback ones, for deployments behind a real hostname."""

    inherit_env: bool | tuple[str, ...] = ()
    """`inherit_env` for every stdio server (added to each server's own)."""

    allowed_origins: tuple[str, ...] = ()
    """Browser origins (`https://app.example.com`) allowed to call the gateway, with CORS answers. A request
    carrying any other `Origin` is refused: local web pages are not trusted by default."""

    max_steps: int = Field(default=10, ge=1, le=1000)
    """Model turns one agent run may take; a request can lower it, never raise it."""

    max_offered_tools: int = Field(default=128, ge=1, le=128)
    """Tools offered to GLM per request (GLM takes 128); past it the offer is chosen for the conversation."""

    max_tool_tokens: int | None = Field(default=None, ge=100)
    """A budget for the tool definitions of one request, in prompt tokens (estimated as characters / 4)."""

    roots: tuple[str, ...] = ()
    """Folders (paths or `file://` URIs) given to servers that ask `roots/list` when no editor answers it."""

    mcp_tools: Literal["all", "search"] = "all"
    """What editors list on the MCP face: every tool, or (`search`) the pinned ones, `glm__find_tools` and
    `glm__call_tool`; `/mcp?tools=search` chooses per connection."""

    max_concurrent_runs: int = Field(default=16, ge=1, le=10_000)
    """`/v1/chat/completions` runs at once; more wait in a queue (a run starts once its body has arrived)."""

    max_queued_runs: int = Field(default=64, ge=0, le=100_000)
    """Runs waiting for a slot; past this a request is answered 429 with `Retry-After`."""

    max_waiting_body_bytes: int = Field(default=32 * 2**20, ge=2**20, le=2**34)
    """Bytes of `/v1` request bodies arriving or waiting for a run slot, all together; past it a request gets 429
    (a run is admitted only once its body has arrived, so slow bodies hold no run slot, only this budget)."""

    first_list_wait: Seconds = 3.0
    """`glm-mcp stdio` answers `initialize` at once; the editor's first `tools/list` waits at most this long for
    servers still starting (those ready later are announced with `list_changed`)."""

    max_starting_servers: int = Field(default=8, ge=1, le=1000)
    """Stdio servers starting at once; more wait their turn, and each one's `start_timeout` runs from its own
    spawn (many heavy servers started together on a small machine would each miss it, then retry together)."""

    max_event_streams: int = Field(default=64, ge=1, le=10_000)
    """Open `/admin/events` streams (the status page's live feed); past it a new one gets 503."""

    max_connections: int = Field(default=1000, ge=1, le=100_000)
    """Open HTTP connections; past this a new one gets 503 and is closed."""

    header_timeout: Seconds = 10.0
    """Seconds a client may take to send a request's headers."""

    body_timeout: Seconds = 30.0
    """Seconds a client may take to send a request's body."""

    session_idle_timeout: Seconds = 900.0
    """Seconds an MCP session on `/mcp` may stay without any request (a standing GET stream counts as one)."""

    max_sessions: int = Field(default=1000, ge=1, le=100_000)
    """Open MCP sessions on `/mcp`, all clients together."""

    max_sessions_per_client: int = Field(default=64, ge=1, le=100_000)
    """Open MCP sessions of one client (one token, or one address without authentication). At either limit the
    oldest idle session is closed to make room; only when none is idle is a new session refused (503)."""

    state_dir: str | None = None
    """Where the gateway keeps what it learns (OAuth logins, its generated token); by default
    `$XDG_STATE_HOME/glm-mcp` (`~/.local/state/glm-mcp`)."""

    keyring: bool = False
    """Keep OAuth logins in the OS keyring (the optional extra `glm-mcp-gateway[keyring]`) instead of encrypted files
    under `state_dir`."""

    login_timeout: Seconds = 300.0
    """Seconds a login to a server behind OAuth waits for its person before the server is shown as `needs login`."""

    open_browser: bool = True
    """Whether a login the gateway needs while running opens the user's browser (where one can be opened: `$BROWSER`
    set, a desktop session, macOS or Windows). The URL is always logged and shown on the status page."""

    sampling_max_tokens: int = Field(default=4096, ge=1, le=1_000_000)
    """The most tokens GLM may generate for one server's sampling request; a larger `maxTokens` is clamped."""

    sampling_per_minute: int = Field(default=10, ge=0, le=100_000)
    """Sampling requests GLM answers for one server in any 60 s; past it the server hears a refusal."""

    oidc: OidcConfig | None = None
    """Callers identified by OpenID Connect bearer tokens as well (each token's person: their own upstream logins);
    the gateway then publishes protected resource metadata for `/mcp` naming the issuer."""

    token_names: tuple[str | None, ...] = ()
    """Filled in from `auth_tokens`: the name of each token's person (None for a plain token)."""

    token_limits: tuple[Limits | None, ...] = ()
    """Filled in from `auth_tokens`: each token's own `limits` (None where it sets none)."""

    limits: Limits = Limits()
    """Budgets of every caller (one token, one person, or one address without authentication); a token's own
    `limits` override them field by field. Over a limit a request gets 429 with `Retry-After`."""

    redis_url: SecretStr | None = None
    """`redis://` or `rediss://` URL of the Redis that replicas share (sessions, their events, budgets, reloads,
    the status view); `$GLM_MCP_REDIS_URL` by default. Unset: one process, everything in memory."""

    otel: OtelConfig = OtelConfig()
    """OpenTelemetry traces over OTLP/HTTP (off unless this or the `OTEL_EXPORTER_OTLP_*` variables name a
    collector); needs the optional extra `glm-mcp-gateway[otel]`."""

    replica_name: str | None = None
    """This replica's name on the status page (by default its host name and process id)."""

    def limits_of(self, index: int | None) -> Limits:
        """The limits of the caller of token `index` (None: no token, or one not from `auth_tokens`)."""
        own = self.token_limits[index] if index is not None and index < len(self.token_limits) else None
        return self.limits.over(own)

    @model_validator(mode="before")
    @classmethod
    def _named_tokens(cls, data: Any) -> Any:
        flattened: Any = with_token_names(data)
        for index, own in enumerate(_token_limits(flattened)):
            try:
                Limits.model_validate(own or {})
            except ValidationError as exc:  # said where the user wrote it, not where it is kept
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise ValueError(
                    f"auth_tokens[{index}].limits.{where}: {first['msg']} (got {first['input']!r})"
                ) from None
        return flattened

    @property
    def people(self) -> tuple[str, ...]:
        """The named people of `auth_tokens`."""
        return tuple(name for name in self.token_names if name)

    @field_validator("auth_tokens")
    @classmethod
    def _no_blank_tokens(cls, tokens: tuple[SecretStr, ...] | None) -> tuple[SecretStr, ...] | None:
        for token in tokens or ():
            if not token.get_secret_value().strip():
                raise ValueError(
                    "a token is empty or blank (an unset variable?): set a real token, or write [] to turn "
                    "authentication off on loopback"
                )
        return tokens

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not re.match(r"(rediss?|unix)://", url.get_secret_value()):
            raise ValueError("write a redis://host:port/db (or rediss://, unix://) URL")
        return url

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port], without a path")
        return tuple(origin.lower() for origin in origins)
