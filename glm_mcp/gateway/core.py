"""`Gateway`: the composition root that owns the upstream pool and the merged catalog.

Contract:
- `async with Gateway(config).running()` starts every server and yields once each has started or failed;
- `catalog` is always a consistent snapshot; listeners hear of every change of it and of upstream logs;
- `call_tool` never raises for a failure of a server or an unknown name (`strict` calls aside, see there): it
  returns an `is_error` result that says which server failed and why, as the model and the editor both need.
Live reconfiguration is `reconfigure`'s, the status projection `status`'s, the counting `records`'s.

Process-wide patches of the MCP SDK are installed lazily and idempotently where used, pinned by
`tests/upstream/test_sdk_seams.py`: the stdio client reads whole lines through a bounded reader and the SSE client
takes events as long (`upstream.inbound.install_limits`), and the streamable HTTP session manager builds transports
that choose JSON or SSE per request (`http.response_mode.install`, when the HTTP app is built).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any

import anyio
import httpx2
import mcp.types as T

from glm_mcp.activity import Activity, CallSource, ServerEvent
from glm_mcp.agent.loop import Agent
from glm_mcp.catalog import Catalog, Entry, build_catalog, describe_clashes, new_clashes
from glm_mcp.config import GatewayConfig
from glm_mcp.errors import CallerLacksCapability, ConfigError, ToolNotFoundError, UpstreamError, UpstreamTimeout
from glm_mcp.gateway.listeners import Listeners
from glm_mcp.gateway.reconfigure import Reconfiguration, ReloadReport
from glm_mcp.gateway.records import Records
from glm_mcp.gateway.routes import Routes
from glm_mcp.gateway.status import GatewayStatus, ServerStatus, gateway_status, server_status
from glm_mcp.metrics import GatewayMetrics
from glm_mcp.model.client import GlmClient
from glm_mcp.model.profile import TEXT_MODELS
from glm_mcp.oauth.logins import Logins, gateway_vault
from glm_mcp.redact import register, scrub
from glm_mcp.relay.answers import GatewayAnswers
from glm_mcp.relay.asking import Asker
from glm_mcp.upstream.connection import ProgressFnT, ServerState, Upstream
from glm_mcp.upstream.pool import UpstreamPool

logger = logging.getLogger(__name__)

RESTART_WAIT_SECONDS = 5.0
"""How long a call to a tool whose server is restarting waits for it to come back."""


def _log_new_clashes(old: Catalog, new: Catalog) -> None:
    """Say once, when it appears, that a passthrough name was left out (a server joined late or listed anew)."""
    for clash in new_clashes(old, new):
        logger.error("%s", clash)


def error_result(message: str) -> T.CallToolResult:
    """A tool result that tells its reader what went wrong."""
    return T.CallToolResult(content=[T.TextContent(text=message)], is_error=True)


class Gateway:
    """Every configured server behind one catalog."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        ready_wait_seconds: float = 10.0,
        loader: Callable[[], GatewayConfig] | None = None,
        model_transport: httpx2.AsyncBaseTransport | None = None,
        refuse_name_conflicts: bool = True,
        logins: Logins | None = None,
        interactive_logins: bool = True,
    ) -> None:
        self.config = config
        self._refuse_name_conflicts = refuse_name_conflicts
        """Whether a passthrough name clash found at start stops the start with a `ConfigError` (what every command
        wants but `doctor`, which keeps going and reports it)."""
        self.loader = loader
        """Reads the config again (from its file) for `reload`; None when there is nothing to re-read."""
        self.reload_error: str | None = None
        """Why the last reload was refused (the running config stays), until one succeeds."""
        self.activity = Activity()
        self.metrics = GatewayMetrics(lambda: self.status()["servers"], lambda: (self.config.model.name, *TEXT_MODELS))
        register(config.secret_values())
        self.records = Records(self.metrics, self.activity)
        """Counts calls and model requests in the metrics and shows them on the status page."""
        self.model = GlmClient(config.model, on_request=self.records.model_request, transport=model_transport)
        """The GLM client every face's runs share (its settings follow a reload)."""
        self.answers = GatewayAnswers(self.model, lambda: self.config, on_sampling=self.records.sampling)
        """What the gateway answers a server's questions when no caller can (GLM sampling, roots)."""
        self._listeners = Listeners()
        self.logins = logins or Logins(
            gateway_vault(config),
            timeout=config.gateway.login_timeout,
            browser=config.gateway.open_browser,
            interactive=interactive_logins,
            on_change=self._login_changed,
        )
        """The servers' OAuth logins, and those waiting for a person."""
        self.on_catalog_change, self.on_log = self._listeners.on_catalog_change, self._listeners.on_log
        self.on_resource_updated = self._listeners.on_resource_updated
        self._pool = UpstreamPool(
            config.servers,
            on_change=self.rebuild,
            on_log=self._listeners.log,
            on_updated=self._listeners.resource_updated,
            fallback=self.answers,
            ready_wait_seconds=ready_wait_seconds,
            logins=self.logins,
            max_starting=config.gateway.max_starting_servers,
            per_person=lambda server: self.routes.per_person(server),
        )
        self.routes = Routes(self._pool, lambda: self.config)
        """Which session a request to a server goes to (each person's own, where logins are)."""
        self.catalog = Catalog()
        self._last_owner: dict[str, str] = {}
        """Every exposed tool name ever listed → its server: a call during a restart knows whom to wait for."""
        self._catalog_changed = anyio.Event()
        self._entered = self._started = self._listed_once = False
        self._live = Reconfiguration(self, self._pool)
        self.reloaded = self._live.reloaded
        self.agent = Agent(self, self.model)
        """The tool loop `/v1/chat/completions`, `glm__agent` and `glm-mcp chat` run."""
        self.on_model_change(lambda new: self.model.reconfigure(new.model))

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[Gateway, None]:
        """Start every server; stop them all on exit.

        Raises:
            RuntimeError: The gateway is already running (its servers would be started twice).
            ConfigError: Two servers would expose one name (both are named), unless `refuse_name_conflicts` is off.
        """
        if self._entered:
            raise RuntimeError("this Gateway is already running; create another one to run it twice")
        self._entered = True
        refused: ConfigError | None = None
        async with self._pool.running(), self.model.running():
            self.catalog = build_catalog(self._pool.upstreams.values())
            if self._refuse_name_conflicts and self.catalog.conflicts:
                refused = ConfigError(self._conflicts_message())  # raised once the servers are stopped
            else:
                _log_new_clashes(Catalog(), self.catalog)
                self._started = True
                self._last_owner.update((name, entry.server) for name, (entry, _) in self.catalog.tools.items())
                yield self
        if refused is not None:
            raise refused

    async def roots_changed(self) -> None:
        """An editor's roots changed (it connected, or said so): the servers that asked for roots are told, and ask
        again (answered by the isolation rule: the editor whose call they serve, or the only editor)."""
        for upstream in list(self._pool.upstreams.values()):
            await upstream.roots_changed()

    async def settle(self) -> None:
        """Wait until every server has started or failed (each within its own `start_timeout`), then judge the
        first catalog as `running()` does when it waits for them: for a face that answered before they were up.

        Raises:
            ConfigError: Two servers would expose one name, unless `refuse_name_conflicts` is off.
        """
        for upstream in list(self._pool.upstreams.values()):
            await upstream.first_outcome.wait()
        if self._refuse_name_conflicts and self.catalog.conflicts:
            raise ConfigError(self._conflicts_message())

    async def first_listing(self, seconds: float) -> None:
        """Before the first list an editor asks for, wait (at most `seconds`, once) for servers still starting;
        the ones ready later are announced by `list_changed`."""
        if self._listed_once:
            return
        self._listed_once = True
        with anyio.move_on_after(seconds):
            for upstream in list(self._pool.upstreams.values()):
                await upstream.first_outcome.wait()

    def _conflicts_message(self) -> str:
        return f"{self.config.source}: " + "; ".join(describe_clashes(self.catalog))

    @property
    def servers(self) -> Mapping[str, Upstream]:
        """Every configured server by name, read-only (state, listing, errors); starting and stopping them is the
        gateway's own business (`reload`, `restart_server`, `set_enabled`)."""
        return MappingProxyType(self._pool.upstreams)

    async def _entry_when_back(self, name: str) -> Entry:
        """The tool's entry; a tool whose server is restarting is waited for a short, bounded time.

        Raises:
            ToolNotFoundError: No such tool, or its server did not come back in time (the message says so).
        """
        if name in self.catalog.tools or name not in self._last_owner:
            return self.catalog.tool(name)
        upstream = self._pool.upstreams.get(self._last_owner[name])
        if upstream is None or upstream.state not in (ServerState.RESTARTING, ServerState.STARTING):
            return self.catalog.tool(name)
        with anyio.move_on_after(RESTART_WAIT_SECONDS):
            while name not in self.catalog.tools:
                await self._catalog_changed.wait()
        if name in self.catalog.tools:
            return self.catalog.tool(name)
        why = f" ({upstream.error})" if upstream.error else ""
        raise ToolNotFoundError(
            f"'{name}' is not available right now: its server '{upstream.name}' is restarting{why} and was not back "
            f"within {RESTART_WAIT_SECONDS:g} s. Try again in a moment"
        )

    async def _until_connected(self, upstream: Upstream) -> None:
        """Wait (at most `RESTART_WAIT_SECONDS`) for a server that is starting or restarting to be connected again,
        for a call resolved in an older snapshot (the chat loop's) as for one resolved now."""
        if upstream.connected or upstream.config.disabled:
            return
        with anyio.move_on_after(RESTART_WAIT_SECONDS):
            while not upstream.connected and upstream.state in (
                ServerState.STARTING,
                ServerState.RESTARTING,
                ServerState.READY,
            ):
                await self._catalog_changed.wait()

    def waiting_for_login(self) -> tuple[str, ...]:
        """The servers the caller (the person a request runs as) must log in to before using them."""
        return self.routes.waiting_for_login()

    async def next_change(self) -> None:
        """Wait for the next change of the catalog (a server ready, gone, or waiting for a login)."""
        await self._catalog_changed.wait()

    async def _login_changed(self) -> None:
        if self._entered:
            await self.rebuild()

    async def rebuild(self) -> None:
        """Build the catalog anew from the servers' listings and tell the listeners."""
        old, self.catalog = self.catalog, build_catalog(self._pool.upstreams.values())
        if self._started:  # at start, the whole first catalog is judged at once
            _log_new_clashes(old, self.catalog)
        self.activity.record(ServerEvent(f"the catalog changed: {len(self.catalog.tools)} tools"))
        for tool_name, (entry, _) in self.catalog.tools.items():
            self._last_owner[tool_name] = entry.server
        changed, self._catalog_changed = self._catalog_changed, anyio.Event()
        changed.set()
        await self._listeners.catalog_changed(old, self.catalog)

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        on_progress: ProgressFnT | None = None,
        source: CallSource = "mcp",
        snapshot: Catalog | None = None,
        asker: Asker | None = None,
        strict: bool = False,
    ) -> T.CallToolResult:
        """Call an exposed tool on its server; failures come back as `is_error` results.

        With `snapshot`, the name is resolved in that catalog snapshot (the one a model was offered tools from), so
        a catalog that changed since cannot send the call to another tool.

        Raises:
            ToolNotFoundError: With `strict`, for a name no server has ever exposed nor could (no configured server's
                prefix): the MCP face answers it as the protocol's unknown-tool error. A tool of a server that is
                down is still an `is_error` result saying why.
            CallerLacksCapability: With `strict`, the server's -32021 (the MCP face answers with it).
        """
        try:
            found = snapshot.tools.get(name) if snapshot is not None else None
            entry = found[0] if found is not None else await self._entry_when_back(name)
        except ToolNotFoundError as exc:
            if strict and not self._could_exist(name):
                raise
            self.records.call(name, "", source, "unknown_tool", 0.0, arguments)
            return error_result(f"{exc}; the gateway's tools are listed by tools/list")
        started = time.perf_counter()
        try:
            upstream = self.routes.upstream_for(entry.server)
            await self._until_connected(upstream)
            result = await upstream.call_tool(entry.original, arguments, on_progress=on_progress, asker=asker)
        except UpstreamError as exc:
            if strict and isinstance(exc, CallerLacksCapability):
                self.records.call(name, entry.server, source, "error", time.perf_counter() - started, arguments)
                raise
            result = error_result(scrub(f"The call failed at {exc}"))
            outcome = "timeout" if isinstance(exc, UpstreamTimeout) else "error"
        else:
            outcome = "error" if result.is_error else "ok"
        seconds = time.perf_counter() - started
        self.records.call(name, entry.server, source, outcome, seconds, arguments)
        logger.debug("call %s on '%s': %s in %.3f s", entry.original, entry.server, outcome, seconds)
        return result

    def _could_exist(self, name: str) -> bool:
        """Whether `name` was ever exposed, or carries the prefix of a configured server (which may be down)."""
        if name in self._last_owner:
            return True
        for server, config in self.config.servers.items():
            prefix = server if config.prefix is None else config.prefix
            if prefix and name.startswith(f"{prefix}__"):
                return True
        return False

    # -- live operations: `reconfigure.Reconfiguration` does them -------------------------------------

    def on_model_change(self, listener: Callable[[GatewayConfig], None]) -> Callable[[], None]:
        """Register `listener(config)` for a reload that changed the `model` section; returns the unregister."""
        return self._live.on_model_change(listener)

    async def reload(self) -> ReloadReport:
        """Read the config again and apply it as a difference; an invalid one changes nothing."""
        return await self._live.reload()

    async def apply(self, new: GatewayConfig) -> ReloadReport:
        """Move to `new`: added servers start, removed ones stop, changed ones restart, the rest are untouched."""
        return await self._live.apply(new)

    async def restart_server(self, name: str) -> None:
        """Stop one server and start it again.

        Raises:
            ToolNotFoundError: No server has that name.
        """
        await self._live.restart_server(name)

    async def set_enabled(self, name: str, enabled: bool) -> None:
        """Disable a server (stopped, listed as disabled) or enable it again, until the next reload.

        Raises:
            ToolNotFoundError: No server has that name.
        """
        await self._live.set_enabled(name, enabled)

    async def read_resource(self, uri: str, *, asker: Asker | None = None) -> T.ReadResourceResult:
        """Read a resource from the server that owns its URI.

        Raises:
            ToolNotFoundError: No server offers the URI.
            UpstreamError: The owning server failed.
        """
        return await self.routes.upstream_for(self.catalog.resource_owner(uri)).read_resource(uri, asker=asker)

    async def get_prompt(
        self, name: str, arguments: Mapping[str, str] | None, *, asker: Asker | None = None
    ) -> T.GetPromptResult:
        """Render an exposed prompt on its server.

        Raises:
            ToolNotFoundError: No exposed prompt has that name.
            UpstreamError: The owning server failed.
        """
        entry = self.catalog.prompt(name)
        return await self.routes.upstream_for(entry.server).get_prompt(entry.original, arguments, asker=asker)

    async def complete(self, params: T.CompleteRequestParams) -> T.CompleteResult:
        """Relay `completion/complete` to the server that owns the prompt or resource template.

        Raises:
            ToolNotFoundError: No exposed prompt or resource template is the one named.
            UpstreamError: The owning server failed (or offers no completion).
        """
        wire = params.model_dump(by_alias=True, mode="json", exclude_none=True)
        if isinstance(params.ref, T.PromptReference):
            entry = self.catalog.prompt(params.ref.name)
            wire["ref"] = {**wire["ref"], "name": entry.original}
            server = entry.server
        else:
            template = params.ref.uri
            owners = [owner for owner, _, listed in self.catalog.templates if listed.uri_template == template]
            server = owners[0] if owners else self.catalog.resource_owner(template)
        return await self.routes.upstream_for(server).complete(wire)

    async def subscribe(self, uri: str, *, subscribed: bool = True) -> None:
        """Start (or stop) `notifications/resources/updated` about `uri` from the server that owns it.

        Raises:
            ToolNotFoundError: No server offers the URI.
            UpstreamError: The owning server failed (or offers no subscriptions).
        """
        await self.routes.upstream_for(self.catalog.resource_owner(uri)).subscribe(uri, subscribed=subscribed)

    def upstream_status(self, upstream: Upstream) -> ServerStatus:
        """One server's state as JSON-ready data; never includes secrets."""
        return server_status(upstream, self.catalog)

    def status(self) -> GatewayStatus:
        """Every server's state; `ready` is true when every enabled server is connected."""
        problems: list[str] = []
        if self.reload_error is not None:
            problems.append(f"the last reload was refused, the running config stays: {self.reload_error}")
        if self.catalog.conflicts:  # a server that joined late or listed anew; at start it stops the start
            problems.append(f"names left out: {self._conflicts_message()}")
        return gateway_status(self._pool.upstreams, self.catalog, problems)
