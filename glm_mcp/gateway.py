"""`Gateway`: the composition root that owns the upstream pool and the merged catalog.

Contract:
- `async with Gateway(config).running()` starts every server and yields once each has started or failed;
- `catalog` is always a consistent snapshot; listeners hear of every change of it and of upstream logs;
- `call_tool` never raises for a failure of a server or an unknown name: it returns an `is_error` result
  that says which server failed and why, as the model and the editor both need.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp.types as T

from glm_mcp.catalog import Catalog, Entry, build_catalog
from glm_mcp.config import GatewayConfig
from glm_mcp.errors import ToolNotFoundError, UpstreamError, UpstreamTimeout
from glm_mcp.metrics import GatewayMetrics
from glm_mcp.redact import register, scrub
from glm_mcp.upstream.connection import ProgressFnT, ServerState, Upstream
from glm_mcp.upstream.pool import UpstreamPool

logger = logging.getLogger("glm_mcp.gateway")

RESTART_WAIT_SECONDS = 5.0
"""How long a call to a tool whose server is restarting waits for it to come back."""

CatalogListenerFnT = Callable[[Catalog, Catalog], Awaitable[None]]
LogListenerFnT = Callable[[str, T.LoggingMessageNotificationParams], Awaitable[None]]


def error_result(message: str) -> T.CallToolResult:
    """A tool result that tells its reader what went wrong."""
    return T.CallToolResult(content=[T.TextContent(text=message)], is_error=True)


class Gateway:
    """Every configured server behind one catalog."""

    def __init__(self, config: GatewayConfig, *, ready_wait_seconds: float = 10.0) -> None:
        self.config = config
        register(config.secret_values())
        self.pool = UpstreamPool(
            config.servers, on_change=self._rebuild, on_log=self._forward_log, ready_wait_seconds=ready_wait_seconds
        )
        self.catalog = Catalog()
        self.metrics = GatewayMetrics(lambda: self.status()["servers"])
        self._catalog_listeners: list[CatalogListenerFnT] = []
        self._last_owner: dict[str, str] = {}
        """Every exposed tool name ever listed → its server: a call during a restart knows whom to wait for."""
        self._catalog_changed = anyio.Event()
        self._log_listeners: list[LogListenerFnT] = []

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[Gateway, None]:
        """Start every server; stop them all on exit."""
        async with self.pool.running():
            self.catalog = build_catalog(self.pool.upstreams.values())
            self._last_owner.update((name, entry.server) for name, (entry, _) in self.catalog.tools.items())
            yield self

    def on_catalog_change(self, listener: CatalogListenerFnT) -> Callable[[], None]:
        """Register `listener(old, new)`; returns a function that unregisters it."""
        self._catalog_listeners.append(listener)
        return lambda: self._catalog_listeners.remove(listener)

    def on_log(self, listener: LogListenerFnT) -> Callable[[], None]:
        """Register `listener(server, params)` for upstream log messages; returns the unregister function."""
        self._log_listeners.append(listener)
        return lambda: self._log_listeners.remove(listener)

    async def _entry_when_back(self, name: str) -> Entry:
        """The tool's entry; a tool whose server is restarting is waited for a short, bounded time.

        Raises:
            ToolNotFoundError: No such tool, or its server did not come back in time (the message says so).
        """
        if name in self.catalog.tools or name not in self._last_owner:
            return self.catalog.tool(name)
        upstream = self.pool.upstreams.get(self._last_owner[name])
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

    async def _rebuild(self) -> None:
        old, self.catalog = self.catalog, build_catalog(self.pool.upstreams.values())
        for tool_name, (entry, _) in self.catalog.tools.items():
            self._last_owner[tool_name] = entry.server
        changed, self._catalog_changed = self._catalog_changed, anyio.Event()
        changed.set()
        for listener in list(self._catalog_listeners):
            try:
                await listener(old, self.catalog)
            except Exception:  # boundary: one broken listener must not stop the catalog
                logger.exception("a catalog listener failed")

    async def _forward_log(self, server: str, params: T.LoggingMessageNotificationParams) -> None:
        logging.getLogger(f"glm_mcp.upstream.{server}").info("%s", params.data)
        for listener in list(self._log_listeners):
            try:
                await listener(server, params)
            except Exception:  # boundary: a closed editor connection must not stop the forwarding
                logger.exception("a log listener failed")

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None, *, on_progress: ProgressFnT | None = None
    ) -> T.CallToolResult:
        """Call an exposed tool on its server; failures come back as `is_error` results."""
        try:
            entry = await self._entry_when_back(name)
        except ToolNotFoundError as exc:
            self.metrics.tool_call("", "unknown_tool")
            return error_result(f"{exc}; the gateway's tools are listed by tools/list")
        started = time.perf_counter()
        try:
            result = await self.pool[entry.server].call_tool(entry.original, arguments, on_progress=on_progress)
        except UpstreamError as exc:
            result = error_result(scrub(f"The call failed at {exc}"))
            outcome = "timeout" if isinstance(exc, UpstreamTimeout) else "error"
        else:
            outcome = "error" if result.is_error else "ok"
        seconds = time.perf_counter() - started
        self.metrics.tool_call(entry.server, outcome, seconds)
        logger.debug("call %s on '%s': %s in %.3f s", entry.original, entry.server, outcome, seconds)
        return result

    async def read_resource(self, uri: str) -> T.ReadResourceResult:
        """Read a resource from the server that owns its URI.

        Raises:
            ToolNotFoundError: No server offers the URI.
            UpstreamError: The owning server failed.
        """
        return await self.pool[self.catalog.resource_owner(uri)].read_resource(uri)

    async def get_prompt(self, name: str, arguments: Mapping[str, str] | None) -> T.GetPromptResult:
        """Render an exposed prompt on its server.

        Raises:
            ToolNotFoundError: No exposed prompt has that name.
            UpstreamError: The owning server failed.
        """
        entry = self.catalog.prompt(name)
        return await self.pool[entry.server].get_prompt(entry.original, arguments)

    def upstream_status(self, upstream: Upstream) -> dict[str, Any]:
        """One server's state as JSON-ready data; never includes secrets."""
        listing = upstream.listing
        status: dict[str, Any] = {
            "state": upstream.state.value,
            "transport": upstream.config.type,
            "tools": sum(1 for entry, _ in self.catalog.tools.values() if entry.server == upstream.name),
            "resources": len(listing.resources) + len(listing.templates),
            "prompts": len(listing.prompts),
            "restarts": upstream.restarts,
        }
        if upstream.error and upstream.state is not ServerState.READY:
            status["error"] = upstream.error
        if listing.notes:
            status["notes"] = [f"{method} failed ({why}); counted as empty" for method, why in listing.notes]
        if listing.quarantined:
            status["quarantined"] = [{"tool": name, "reason": reason} for name, reason in listing.quarantined]
        if filtered := self.catalog.filtered.get(upstream.name):
            status["filtered"] = list(filtered)
        if conflicts := self.catalog.conflicts.get(upstream.name):
            status["conflicts"] = [{"name": name, "reason": reason} for name, reason in conflicts]
        return status

    def status(self) -> dict[str, Any]:
        """Every server's state; `ready` is true when every enabled server is connected."""
        servers = {name: self.upstream_status(upstream) for name, upstream in self.pool.upstreams.items()}
        enabled = [status for status in servers.values() if status["state"] != ServerState.DISABLED.value]
        return {
            "ready": all(status["state"] == ServerState.READY.value for status in enabled),
            "servers": servers,
            "tools": len(self.catalog.tools),
        }
