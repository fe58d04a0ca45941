"""`UpstreamPool`: the task group that owns every upstream session.

Contract:
- all servers start in parallel; entering the pool waits until each has succeeded or failed its first
  start, but never longer than `ready_wait_seconds` (a slow server keeps starting in the background);
- a failed server is recorded, never fatal; every server is supervised and reconnected until the pool exits;
- leaving the pool closes every session and ends every child process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager

import anyio

from glm_mcp.config import UpstreamConfig
from glm_mcp.errors import UpstreamUnavailable
from glm_mcp.upstream.connection import ChangeFnT, LogFnT, Upstream

logger = logging.getLogger("glm_mcp.upstream")


class UpstreamPool:
    """Every configured server, by name, in config order."""

    def __init__(
        self,
        configs: Mapping[str, UpstreamConfig],
        *,
        on_change: ChangeFnT | None = None,
        on_log: LogFnT | None = None,
        ready_wait_seconds: float = 10.0,
    ) -> None:
        self.upstreams = {
            name: Upstream(name, config, on_change=on_change, on_log=on_log) for name, config in configs.items()
        }
        self._ready_wait_seconds = ready_wait_seconds

    def __getitem__(self, name: str) -> Upstream:
        try:
            return self.upstreams[name]
        except KeyError:
            raise UpstreamUnavailable(name, "no such server in the config") from None

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[UpstreamPool, None]:
        """Start every server, wait for their first outcome, and stop them all on exit."""
        async with anyio.create_task_group() as tg:
            for upstream in self.upstreams.values():
                await tg.start(upstream.run)
            with anyio.move_on_after(self._ready_wait_seconds):
                for upstream in self.upstreams.values():
                    await upstream.first_outcome.wait()
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
