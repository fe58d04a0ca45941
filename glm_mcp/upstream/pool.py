"""`UpstreamPool`: the task group that owns every upstream session.

Contract:
- all servers start in parallel; entering the pool waits until each has succeeded or failed its first
  start, but never longer than `ready_wait_seconds` (a slow server keeps starting in the background);
- a failed server is recorded, never fatal; every server is supervised and reconnected until the pool exits;
- a server can be stopped and started again, or added, while the others and their calls go on (a reload);
- leaving the pool closes every session and ends every child process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup, TaskStatus

from glm_mcp.config import UpstreamConfig
from glm_mcp.errors import UpstreamUnavailable
from glm_mcp.oauth.logins import Logins
from glm_mcp.relay.asking import Fallback
from glm_mcp.upstream.connection import ChangeFnT, LogFnT, UpdatedFnT, Upstream

logger = logging.getLogger(__name__)


class UpstreamPool:
    """Every configured server, by name, in config order; servers can be added, stopped and replaced live."""

    def __init__(
        self,
        configs: Mapping[str, UpstreamConfig],
        *,
        on_change: ChangeFnT | None = None,
        on_log: LogFnT | None = None,
        on_updated: UpdatedFnT | None = None,
        fallback: Fallback | None = None,
        ready_wait_seconds: float = 10.0,
        logins: Logins | None = None,
    ) -> None:
        self._logins = logins
        self._on_change = on_change
        self._on_log = on_log
        self._on_updated = on_updated
        self._fallback = fallback
        self.upstreams = {name: self._make(name, config) for name, config in configs.items()}
        self._ready_wait_seconds = ready_wait_seconds
        self._tg: TaskGroup | None = None
        self._scopes: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}

    def _make(self, name: str, config: UpstreamConfig) -> Upstream:
        return Upstream(
            name,
            config,
            on_change=self._on_change,
            on_log=self._on_log,
            on_updated=self._on_updated,
            fallback=self._fallback,
            logins=self._logins,
        )

    def __getitem__(self, name: str) -> Upstream:
        try:
            return self.upstreams[name]
        except KeyError:
            raise UpstreamUnavailable(name, "no such server in the config") from None

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[UpstreamPool, None]:
        """Start every server, wait for their first outcome, and stop them all on exit."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for upstream in self.upstreams.values():
                await tg.start(self._supervise, upstream)
            with anyio.move_on_after(self._ready_wait_seconds):
                for upstream in self.upstreams.values():
                    await upstream.first_outcome.wait()
            try:
                yield self
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    async def _supervise(
        self, upstream: Upstream, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        stopped = anyio.Event()
        with anyio.CancelScope() as scope:
            self._scopes[upstream.name] = (scope, stopped)
            try:
                await upstream.run(task_status=task_status)
            finally:
                stopped.set()

    async def start(self, name: str, config: UpstreamConfig, *, restarts: int = 0) -> Upstream:
        """Start a server (a new one, or one just stopped) under `name`."""
        if self._tg is None:
            raise RuntimeError("the pool is not running")
        upstream = self._make(name, config)
        upstream.restarts = restarts
        self.upstreams[name] = upstream
        await self._tg.start(self._supervise, upstream)
        return upstream

    async def stop(self, name: str) -> None:
        """Stop a server and end its process; it stays listed until `forget` or `start` replaces it."""
        entry = self._scopes.pop(name, None)
        if entry is None:
            return
        scope, stopped = entry
        scope.cancel()
        await stopped.wait()

    def forget(self, name: str) -> None:
        """Drop a stopped server from the pool."""
        self.upstreams.pop(name, None)
