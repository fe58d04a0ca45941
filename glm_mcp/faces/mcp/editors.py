"""The editors connected to the MCP face, and how the gateway's news reaches them.

Contract:
- `Editors` knows each connected editor once (by its connection, whatever request proxy it came through), with
  its chosen log level and subscriptions, and forgets it when the connection closes: a resource it was the last
  subscriber of is unsubscribed upstream;
- a server's log message said during a call goes to that call's editor only (none while several callers' calls
  wait on the server); one said while no call waits goes to every editor at its chosen level;
- `Notifier` takes catalog changes and upstream log messages from the gateway's listeners without ever blocking
  the upstream supervisor that reports them: changes are coalesced (a burst of `list_changed` becomes one per
  kind), log messages wait in a bounded queue (`MAX_PENDING_LOGS`; past it they are dropped and counted); the
  face drains both while it runs (`Notifier.running`, entered once per server run; the listeners, and the offer
  of the only editor's roots to servers asking outside any call, are removed when the last run ends, never left to
  garbage collection).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import mcp.types as T
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)

from glm_mcp.catalog import Catalog
from glm_mcp.gateway.core import Gateway
from glm_mcp.relay.asking import EVERYONE, NO_ONE
from glm_mcp.relay.editor import connection_of, editor_roots

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SECONDS = 5.0
"""How long a departing editor's last subscriptions may take to be withdrawn upstream."""

MAX_PENDING_LOGS = 1_000
"""Upstream log messages waiting for delivery; more are dropped (and counted) rather than held."""

LOG_LEVELS: tuple[T.LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)

ListKind = Literal["tools", "prompts", "resources"]


class Editors:
    """The editor connections that can hear notifications, one session proxy per connection."""

    def __init__(self, on_unsubscribed: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._sessions: dict[int, ServerSession] = {}
        self._levels: dict[int, T.LoggingLevel] = {}
        self._subscribed: dict[str, set[int | str]] = {}
        """Resource URI → the subscribers: editor connections (2025 era) and listen streams (2026-07-28)."""
        self._on_unsubscribed = on_unsubscribed
        """Told of each URI an editor that went away was the last subscriber of (the server may stop sending)."""

    def remember(self, session: ServerSession) -> None:
        connection = connection_of(session)
        key = id(connection)
        if key not in self._sessions:
            connection.exit_stack.push_async_callback(self._gone, key)
        self._sessions[key] = session

    def forget(self, key: int) -> list[str]:
        """Drop a connection; returns the URIs it was the last subscriber of."""
        self._sessions.pop(key, None)
        self._levels.pop(key, None)
        emptied = [uri for uri, keys in self._subscribed.items() if keys == {key}]
        for uri in emptied:
            del self._subscribed[uri]
        for keys in self._subscribed.values():
            keys.discard(key)
        return emptied

    async def _gone(self, key: int) -> None:
        emptied = self.forget(key)
        if not emptied or self._on_unsubscribed is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(UNSUBSCRIBE_SECONDS):
            for uri in emptied:
                try:
                    await self._on_unsubscribed(uri)
                except Exception:  # boundary: a server that cannot unsubscribe must not stop the disconnect
                    logger.debug("unsubscribing %s after its editor left failed", uri, exc_info=True)

    def subscribe(self, session: ServerSession, uri: str) -> bool:
        """Subscribe this editor to `uri`; True when it is the first (the server must be asked)."""
        self.remember(session)
        return self.subscribe_key(id(connection_of(session)), uri)

    def unsubscribe(self, session: ServerSession, uri: str) -> bool:
        """Unsubscribe this editor from `uri`; True when no subscriber is left (the server may stop)."""
        return self.unsubscribe_key(id(connection_of(session)), uri)

    def subscribe_key(self, key: int | str, uri: str) -> bool:
        """Subscribe `key` (an editor connection or a listen stream) to `uri`; True when it is the first."""
        keys = self._subscribed.setdefault(uri, set())
        first = not keys
        keys.add(key)
        return first

    def unsubscribe_key(self, key: int | str, uri: str) -> bool:
        """Unsubscribe `key` from `uri`; True when no subscriber is left."""
        keys = self._subscribed.get(uri)
        if not keys:
            return False
        keys.discard(key)
        if keys:
            return False
        del self._subscribed[uri]
        return True

    def subscribers(self, uri: str) -> list[ServerSession]:
        keys = self._subscribed.get(uri, set())
        return [session for key, session in self._sessions.items() if key in keys]

    def set_level(self, session: ServerSession, level: T.LoggingLevel) -> None:
        self.remember(session)
        self._levels[id(connection_of(session))] = level

    def sessions(self) -> list[tuple[int, ServerSession]]:
        return list(self._sessions.items())

    def wants(self, key: int, level: T.LoggingLevel) -> bool:
        minimum = self._levels.get(key, "info")
        return LOG_LEVELS.index(level) >= LOG_LEVELS.index(minimum)


@dataclass(frozen=True)
class _Log:
    server: str
    params: T.LoggingMessageNotificationParams
    audience: object
    """The identity of the one editor connection that may hear it, `EVERYONE` or `NO_ONE`."""


def changed_lists(old: Catalog, new: Catalog) -> set[ListKind]:
    """Which of the editor-visible lists differ between two catalog snapshots."""
    kinds: set[ListKind] = set()
    if _tool_view(old) != _tool_view(new) or bool(old.needs_login) != bool(new.needs_login):
        kinds.add("tools")  # `glm__login` comes and goes with the servers that need a login
    if old.prompts.keys() != new.prompts.keys():
        kinds.add("prompts")
    if old.resources.keys() != new.resources.keys() or len(old.templates) != len(new.templates):
        kinds.add("resources")
    return kinds


def _tool_view(catalog: Catalog) -> list[dict[str, Any]]:
    return [tool.model_dump(by_alias=True, mode="json", exclude_none=True) for _, tool in catalog.tools.values()]


class Notifier:
    """Carries the gateway's catalog changes and upstream logs to the connected editors."""

    def __init__(self, gateway: Gateway, editors: Editors, bus: InMemorySubscriptionBus) -> None:
        self._gateway = gateway
        self._editors = editors
        self._bus = bus
        self._pending: set[ListKind] = set()
        self._updated: set[str] = set()
        self._wake = anyio.Event()
        self._logs_in: MemoryObjectSendStream[_Log] | None = None
        self._logs_out: MemoryObjectReceiveStream[_Log] | None = None
        self.dropped_logs = 0
        self._runs = 0
        self._unsubscribe: list[Any] = []

    # -- called from the upstream supervisors: never blocks ------------------------------------------------

    async def catalog_changed(self, old: Catalog, new: Catalog) -> None:
        """The gateway's catalog listener: remembers which lists changed, wakes the delivery."""
        kinds = changed_lists(old, new)
        if kinds:
            self._pending |= kinds
            self._wake.set()

    async def resource_updated(self, uri: str) -> None:
        """The gateway's resource listener: remembers the URI (repeats coalesce), wakes the delivery."""
        self._updated.add(uri)
        self._wake.set()

    async def log(self, server: str, params: T.LoggingMessageNotificationParams, audience: object) -> None:
        """The gateway's log listener: queues the message, or drops and counts it when the queue is full."""
        if self._logs_in is None or audience is NO_ONE:
            return
        try:
            self._logs_in.send_nowait(_Log(server, params, audience))
        except anyio.WouldBlock:
            self.dropped_logs += 1
            if self.dropped_logs == 1 or self.dropped_logs % 1_000 == 0:
                logger.warning("editors are not keeping up: %d upstream log messages dropped", self.dropped_logs)

    # -- the face's side -------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[None, None]:
        """Deliver while the face runs; the first run subscribes to the gateway, the last one unsubscribes."""
        if self._runs == 0:
            self._logs_in, self._logs_out = anyio.create_memory_object_stream[_Log](MAX_PENDING_LOGS)
            self._unsubscribe = [
                self._gateway.on_catalog_change(self.catalog_changed),
                self._gateway.on_log(self.log),
                self._gateway.on_resource_updated(self.resource_updated),
                # A server asking for roots outside any call gets the only connected editor's.
                self._gateway.answers.provide_roots(
                    lambda: editor_roots([session for _, session in self._editors.sessions()])
                ),
            ]
        self._runs += 1
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._deliver_changes)
                tg.start_soon(self._deliver_logs, self._logs_out)
                yield
                tg.cancel_scope.cancel()
        finally:
            self._runs -= 1
            if self._runs == 0:
                for unsubscribe in self._unsubscribe:
                    unsubscribe()
                self._unsubscribe = []
                if self._logs_in is not None and self._logs_out is not None:
                    self._logs_in.close()
                    self._logs_out.close()
                self._logs_in = self._logs_out = None

    async def _deliver_changes(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            kinds, self._pending = self._pending, set()
            updated, self._updated = self._updated, set()
            await self._announce(kinds)
            for uri in sorted(updated):
                await self._bus.publish(ResourceUpdated(uri))  # 2026-07-28 editors listening for it
                for session in self._editors.subscribers(uri):
                    try:
                        await session.send_resource_updated(uri)
                    except Exception:  # boundary: see _announce
                        logger.debug("an editor could not hear a resource update", exc_info=True)

    async def _announce(self, kinds: set[ListKind]) -> None:
        events = {"tools": ToolsListChanged(), "prompts": PromptsListChanged(), "resources": ResourcesListChanged()}
        for kind in sorted(kinds):
            await self._bus.publish(events[kind])
        for _, session in self._editors.sessions():
            try:
                if "tools" in kinds:
                    await session.send_tool_list_changed()
                if "prompts" in kinds:
                    await session.send_prompt_list_changed()
                if "resources" in kinds:
                    await session.send_resource_list_changed()
            except Exception:  # boundary: one closed editor connection must not silence the others
                logger.debug("an editor could not hear a list change", exc_info=True)

    async def _deliver_logs(self, logs: MemoryObjectReceiveStream[_Log] | None) -> None:
        assert logs is not None
        async for log in logs:
            for key, session in self._editors.sessions():
                if log.audience is not EVERYONE and key != id(log.audience):
                    continue  # said during another caller's call: only that caller hears it
                if not self._editors.wants(key, log.params.level):
                    continue
                name = f"{log.server}.{log.params.logger}" if log.params.logger else log.server
                try:
                    await session.send_log_message(log.params.level, log.params.data, logger=name)  # pyright: ignore[reportDeprecated] editors of 2025 speak it
                except Exception:  # boundary: see _announce
                    logger.debug("an editor could not hear a log message", exc_info=True)
