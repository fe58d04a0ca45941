"""Live reconfiguration: a reload (file, signal or `/admin/reload`) applied as a difference, and the admin actions
(restart one server, disable or enable one).

Contract:
- an invalid config changes nothing: the running one stays, and the refusal is kept until a reload succeeds;
- added servers start, removed ones stop, changed ones restart, the rest are untouched; settings that need a new
  socket or are read when `serve` starts are reported in `notes`, not applied, and the config says what is in force;
- one action at a time (an admin lock); each waits at most `READY_WAIT_SECONDS` for the servers it started;
- every action is logged and recorded in the activity shown on the status page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import NotRequired, Protocol, TypedDict

import anyio

from glm_mcp.activity import Activity, ServerEvent
from glm_mcp.catalog import Catalog, closest, new_clashes
from glm_mcp.config import GatewayConfig
from glm_mcp.errors import ConfigError, ToolNotFoundError
from glm_mcp.redact import register
from glm_mcp.upstream.connection import Upstream
from glm_mcp.upstream.pool import UpstreamPool

logger = logging.getLogger(__name__)


class ReloadReport(TypedDict):
    """What a reload did (`ok`), or why it changed nothing (`error`)."""

    ok: bool
    added: NotRequired[list[str]]
    removed: NotRequired[list[str]]
    restarted: NotRequired[list[str]]
    notes: NotRequired[list[str]]
    error: NotRequired[str]


_SET_AT_START = (
    "allowed_hosts",
    "allowed_origins",
    "max_concurrent_runs",
    "max_queued_runs",
    "max_waiting_body_bytes",
    "max_connections",
    "header_timeout",
    "body_timeout",
    "session_idle_timeout",
    "max_sessions",
    "max_sessions_per_client",
    "max_starting_servers",
    "redis_url",
    "replica_name",
    "otel",
)
"""Service settings read when `serve` starts (its HTTP stack); a reload reports them instead of applying them."""

READY_WAIT_SECONDS = 10.0
"""How long a reload or an admin action waits for the servers it started (slower ones join when ready)."""


async def first_outcomes(upstreams: list[Upstream], seconds: float) -> None:
    with anyio.move_on_after(seconds):
        for upstream in upstreams:
            await upstream.first_outcome.wait()


class Reconfigurable(Protocol):
    """What a reconfiguration changes: the gateway's config and catalog, its activity and reload state."""

    config: GatewayConfig
    catalog: Catalog
    activity: Activity
    reload_error: str | None
    loader: Callable[[], GatewayConfig] | None

    def rebuild(self) -> Awaitable[None]: ...


class Reconfiguration:
    """The live operations on one gateway's servers."""

    def __init__(self, host: Reconfigurable, pool: UpstreamPool) -> None:
        self._host = host
        self._pool = pool
        self._model_listeners: list[Callable[[GatewayConfig], None]] = []
        self._admin_lock = anyio.Lock()
        self.reloaded: list[Callable[[GatewayConfig], Awaitable[None]]] = []
        """Told of each config a reload read and applied (the replicas pass it on to each other)."""

    def on_model_change(self, listener: Callable[[GatewayConfig], None]) -> Callable[[], None]:
        """Register `listener(config)` for a reload that changed the `model` section; returns the unregister."""
        self._model_listeners.append(listener)
        return lambda: self._model_listeners.remove(listener)

    async def reload(self) -> ReloadReport:
        """Read the config again and apply it as a difference; an invalid one changes nothing.

        Returns what was done: `{"ok": true, "added": [...], "removed": [...], "restarted": [...], "notes": [...]}`,
        or `{"ok": false, "error": "..."}`.
        """
        if self._host.loader is None:
            return {"ok": False, "error": "this gateway was not started from a config file; nothing to reload"}
        try:
            new = self._host.loader()
        except ConfigError as exc:
            self._host.reload_error = str(exc)
            logger.error("reload refused, the running config stays: %s", exc)
            self._host.activity.record(ServerEvent(f"reload refused: {exc}"))
            return {"ok": False, "error": str(exc)}
        report = await self.apply(new)
        for listener in list(self.reloaded):
            await listener(new)
        return report

    async def apply(self, new: GatewayConfig) -> ReloadReport:
        """Move to `new`: added servers start, removed ones stop, changed ones restart, the rest are untouched."""
        async with self._admin_lock:
            old, before = self._host.config, self._host.catalog
            register(new.secret_values())
            added = [name for name in new.servers if name not in old.servers]
            removed = [name for name in old.servers if name not in new.servers]
            changed = [name for name in new.servers if name in old.servers and new.servers[name] != old.servers[name]]
            notes: list[str] = []
            kept_socket = {"host": old.gateway.host, "port": old.gateway.port, "auth_tokens": old.gateway.auth_tokens}
            for field_name, value in kept_socket.items():
                if getattr(new.gateway, field_name) != value:
                    notes.append(f"gateway.{field_name} changes when the gateway restarts (it needs a new socket)")
            for field_name in _SET_AT_START:
                if getattr(new.gateway, field_name) != getattr(old.gateway, field_name):
                    notes.append(f"gateway.{field_name} changes when the gateway restarts (set when it starts)")
            kept = {**kept_socket, **{name: getattr(old.gateway, name) for name in _SET_AT_START}}
            gateway_section = new.gateway.model_copy(update=kept)  # the config says what is really in force
            self._host.config = new.model_copy(update={"gateway": gateway_section})
            for name in removed:
                await self._pool.stop(name)
                self._pool.forget(name)
            started: list[Upstream] = []
            for name in changed:
                restarts = self._pool.upstreams[name].restarts + 1
                await self._pool.stop(name)
                started.append(await self._pool.start(name, new.servers[name], restarts=restarts))
            for name in added:
                started.append(await self._pool.start(name, new.servers[name]))
            await first_outcomes(started, READY_WAIT_SECONDS)
            self._pool.upstreams = {name: self._pool.upstreams[name] for name in new.servers}
            if new.model != old.model:
                for listener in list(self._model_listeners):
                    listener(self._host.config)
                notes.append("model settings applied to the next requests")
            self._host.reload_error = None
        await self._host.rebuild()
        notes += [str(clash) for clash in new_clashes(before, self._host.catalog)]
        report = ReloadReport(ok=True, added=added, removed=removed, restarted=changed, notes=notes)
        logger.warning("config reloaded: %s", json.dumps(report))
        self._host.activity.record(ServerEvent(f"config reloaded: {json.dumps(report)}"))
        return report

    async def restart_server(self, name: str) -> None:
        """Stop one server and start it again.

        Raises:
            ToolNotFoundError: No server has that name.
        """
        async with self._admin_lock:
            upstream = self.server(name)
            await self._pool.stop(name)
            config = self._host.config.servers[name].model_copy(update={"disabled": False})
            await first_outcomes(
                [await self._pool.start(name, config, restarts=upstream.restarts + 1)], READY_WAIT_SECONDS
            )
        self._host.activity.record(ServerEvent(f"server '{name}' restarted"))
        await self._host.rebuild()

    async def set_enabled(self, name: str, enabled: bool) -> None:
        """Disable a server (stopped, listed as disabled) or enable it again, until the next reload.

        Raises:
            ToolNotFoundError: No server has that name.
        """
        async with self._admin_lock:
            upstream = self.server(name)
            await self._pool.stop(name)
            config = self._host.config.servers[name].model_copy(update={"disabled": not enabled})
            await first_outcomes([await self._pool.start(name, config, restarts=upstream.restarts)], READY_WAIT_SECONDS)
        self._host.activity.record(ServerEvent(f"server '{name}' {'enabled' if enabled else 'disabled'}"))
        await self._host.rebuild()

    def server(self, name: str) -> Upstream:
        upstream = self._pool.upstreams.get(name)
        if upstream is None:
            known = ", ".join(self._pool.upstreams) or "none"
            raise ToolNotFoundError(
                f"no server named '{name}'{closest(name, self._pool.upstreams)}; the configured ones: {known}"
            )
        return upstream
