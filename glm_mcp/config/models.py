"""The settings models: the upstream servers, the model, the service, and the whole configuration.

Contract:
- every model is frozen and validated; secrets are `SecretStr` and `GatewayConfig.secret_values` lists every one;
- reading a file into these models is `config.loading`'s job.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from glm_mcp.config.oauth import OAuthConfig
from glm_mcp.config.serve import Seconds, ServeConfig

logger = logging.getLogger(__name__)


DEFAULT_ZAI_BASE_URL = "https://api.z.ai/api/paas/v4"
"""Z.ai's general (pay-as-you-go) endpoint; the coding endpoint is reserved for supported tools."""


PASSED_ENV = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "XDG_*",
)
"""What every stdio server gets from the gateway's environment besides the SDK's PATH, HOME, SHELL, TERM, USER
and LOGNAME: without proxies and CA bundles `npx -y` cannot reach its registry, and hangs."""


class ToolFilterConfig(BaseModel):
    """Which of a server's own tools are exposed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[str, ...] | None = None
    """Glob patterns on the server's own tool names; when set, only matching tools are exposed."""

    deny: tuple[str, ...] = ()
    """Glob patterns on the server's own tool names that are never exposed; wins over `allow`."""

    pin: tuple[str, ...] = ()
    """Glob patterns on the server's own tool names always offered to GLM, however many tools there are."""


class _UpstreamBase(BaseModel):
    # Editors' configs carry keys of their own (autoApprove, envFile, ...): ignore, don't fail.
    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)

    takes_start_turn: ClassVar[bool] = False
    """Whether its start spawns a process on this machine, and so waits for a turn (`gateway.max_starting_servers`)."""

    disabled: bool = False
    """A disabled server is listed as such and never started."""

    tools: ToolFilterConfig = ToolFilterConfig()
    """Allow and deny lists applied to the server's own tool names."""

    timeout: Seconds = 60.0
    """Seconds one call may take; every progress notification from the server restarts the clock."""

    start_timeout: Seconds = 30.0
    """Seconds the server may take to start and answer its first listings."""

    prefix: str | None = Field(default=None, max_length=48)
    """Replaces the server's name in front of its exposed tool and prompt names; `""` passes the server's own
    names through unprefixed (a name another server also exposes is then left out and reported)."""

    config_error: str | None = None
    """Set by the loader when this entry cannot be used as written (an unset variable, an `${input:…}`): the
    server is reported as failed with this reason, and the others run."""

    destructive: Literal["allow", "deny", "ask"] = "deny"
    """Whether the chat loop may run this server's destructive tools (not annotated read-only or non-destructive):
    `"deny"` refuses them, `"allow"` runs them, `"ask"` runs one only after the editor that handed the task to
    `glm__agent` confirmed it (elicitation); editors calling tools themselves decide alone."""

    sampling: Literal["editor", "glm", "editor-then-glm", "deny"] = "editor"
    """Who answers the server's `sampling/createMessage`: the editor whose call caused it (its person approves; the
    default), GLM on the model key (`"glm"`, an explicit opt-in), the editor when it can and GLM otherwise, or
    nobody (sampling is then not advertised to the server). Inside a call the GLM loop made, GLM answers."""

    protocol: Literal["auto", "legacy", "2026-07-28"] = "auto"
    """The protocol era: `"legacy"` (the `initialize` handshake), `"2026-07-28"` (no handshake), or `"auto"`: the
    handshake first, and `server/discover` when the server refuses it (so no server waits on a probe)."""


class StdioUpstreamConfig(_UpstreamBase):
    """A server started as a child process, spoken to over its stdin and stdout."""

    takes_start_turn: ClassVar[bool] = True

    type: Literal["stdio"] = "stdio"
    command: str = Field(min_length=1)
    """The executable; looked up on PATH."""

    args: tuple[str, ...] = ()
    """Command-line arguments."""

    env: dict[str, str] = Field(default_factory=dict[str, str])
    """Extra environment variables, added to a safe default environment (PATH, HOME, ...). Secret."""

    inherit_env: bool | tuple[str, ...] = ()
    """More of the gateway's environment to pass on: `true` for all of it, or names and globs (`AWS_*`).
    Proxy, CA-bundle, locale, time-zone, temp-folder and XDG variables always pass (`PASSED_ENV`)."""

    inherited: dict[str, str] = Field(default_factory=dict[str, str])
    """The variables passed on from the gateway's environment, filled in by the loader (not secret: never
    values the config holds)."""

    cwd: str | None = None
    """Working directory; a relative one is taken from the config file's folder."""


class HttpUpstreamConfig(_UpstreamBase):
    """A remote server over streamable HTTP (`type: "http"`) or the legacy HTTP+SSE transport (`type: "sse"`)."""

    type: Literal["http", "sse"] = "http"
    url: str = Field(pattern=r"^https?://")
    """The endpoint, for example `http://127.0.0.1:9000/mcp` or `.../sse`."""

    headers: dict[str, str] = Field(default_factory=dict[str, str])
    """Headers sent with every request, for example `Authorization`. Secret."""

    credentials: Literal["shared", "per_user"] | None = None
    """Whose login the server's requests carry: one login for everybody (`"shared"`), or each person's own
    (`"per_user"`: the people named in `gateway.auth_tokens`, each logging in on their own; a caller without a login
    is asked to log in, never given another's). By default per user when the gateway names two people or more."""

    oauth: OAuthConfig | None = None
    """How to log in where the server is behind OAuth. Absent, a server that asks for OAuth is still logged into,
    with discovery and dynamic registration; `false` turns that off (the `headers` are then all it gets)."""

    @property
    def oauth_enabled(self) -> bool:
        """Whether a `401` with `WWW-Authenticate` starts a login: unless `"oauth": false`, or a static
        `Authorization` header is configured and no `oauth` object."""
        if self.oauth is not None and not self.oauth.enabled:
            return False
        return self.oauth is not None or not any(key.lower() == "authorization" for key in self.headers)


class InProcessUpstreamConfig(_UpstreamBase):
    """A server object living in this process (an `mcp` `Server` or `MCPServer`); for tests and embedding."""

    type: Literal["inprocess"] = "inprocess"
    server: Any
    """The server object."""


BundledName = Literal["clock", "files", "notes"]
"""The servers of `servers/` (its `BUNDLED`; a test keeps the two equal)."""


class BundledUpstreamConfig(_UpstreamBase):
    """One of the bundled servers of `servers/`, run inside the gateway's process: no interpreter of its own to
    start (about half a second of CPU each), spoken to in memory. Each runs at most once per gateway."""

    type: Literal["bundled"] = "bundled"
    bundled: BundledName
    """Which one."""

    args: tuple[str, ...] = ()
    """Its command-line arguments, as with `python -m servers.<name>` (`--root DIR`, `--store FILE`)."""


UpstreamConfig = StdioUpstreamConfig | HttpUpstreamConfig | InProcessUpstreamConfig | BundledUpstreamConfig


class ModelConfig(BaseModel):
    """The GLM endpoint the chat loop talks to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(default=DEFAULT_ZAI_BASE_URL, pattern=r"^https?://")
    """OpenAI-compatible base URL; `/chat/completions` is appended."""

    api_key: SecretStr | None = None
    """The key sent as `Authorization: Bearer`; by default from `$ZAI_API_KEY`."""

    name: str = Field(default="glm-4.6", min_length=1)
    """The model name sent upstream and listed by `/v1/models`."""

    connect_timeout: Seconds = 10.0
    """Seconds to open a connection to the model endpoint."""

    read_timeout: Seconds = 300.0
    """Seconds to wait for the next bytes of a model response."""

    max_concurrency: int = Field(default=8, ge=1, le=1024)
    """Model requests in flight at once; the account's concurrency limit is per model."""

    max_retries: int = Field(default=3, ge=0, le=10)
    """Retries of a request that failed in a transient way (429, 5xx, GLM codes 1302/1303/1305/1312)."""

    @property
    def missing_key(self) -> str | None:
        """What to do when the endpoint needs a key and none is set (Z.ai's do; a self-hosted GLM may not)."""
        host = (urlsplit(self.base_url).hostname or "").lower()
        if self.api_key is None and host.endswith(("z.ai", "bigmodel.cn")):
            return "no model key: set ZAI_API_KEY (or model.api_key in the config)"
        return None


class GatewayConfig(BaseModel):
    """The whole configuration: upstream servers, model, service."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    servers: dict[str, UpstreamConfig] = Field(default_factory=dict[str, UpstreamConfig])
    """Upstream servers by name, in the file's order."""

    model: ModelConfig = ModelConfig()
    """The GLM endpoint."""

    gateway: ServeConfig = ServeConfig()
    """Service settings."""

    source: str = "<built-in default>"
    """Where this configuration came from, for messages."""

    document: str | None = Field(default=None, repr=False)
    """The file's text as read (what a reload passes on to the other replicas); None for the built-in default."""

    def start_wait(self) -> float:
        """Seconds after which every server has had its start: each its own `start_timeout`, and a stdio server
        past `gateway.max_starting_servers` only once those ahead of it had theirs (what a one-shot command waits)."""
        running = [server for server in self.servers.values() if not server.disabled]
        queued = [server.start_timeout for server in running if server.takes_start_turn]
        others = [server.start_timeout for server in running if not server.takes_start_turn]
        turns = -(-len(queued) // self.gateway.max_starting_servers)  # rounds of turns, rounded up
        return max(1.0, max(others, default=0.0), max(queued, default=0.0) * turns)

    def secret_values(self) -> set[str]:
        """Every secret value of the configuration: keys, tokens, `env` values, header values, URL credentials."""
        values: set[str] = set()
        if self.model.api_key is not None:
            values.add(self.model.api_key.get_secret_value())
        values.update(token.get_secret_value() for token in self.gateway.auth_tokens or ())
        if self.gateway.redis_url is not None:
            values.update(url_secrets(self.gateway.redis_url.get_secret_value()))
        for server in self.servers.values():
            if isinstance(server, StdioUpstreamConfig):
                values.update(server.env.values())
            elif isinstance(server, HttpUpstreamConfig):
                values.update(server.headers.values())
                for header in server.headers.values():
                    values.update(part for part in header.split() if len(part) >= 8)
                values.update(url_secrets(server.url))
                if server.oauth:
                    values.update(server.oauth.secrets())
        return {value for value in values if len(value.strip()) >= 4}


def url_secrets(url: str) -> set[str]:
    """The password and query values of a URL (`?key=...`)."""
    parts = urlsplit(url)
    found = {value for _, value in parse_qsl(parts.query) if value}
    if parts.password:
        found.add(parts.password)
    return found
