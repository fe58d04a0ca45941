"""`UpstreamPool`: the task group that owns every upstream session.

Contract:
- all servers start in parallel (at most `max_starting` stdio servers at once: `StartTurns`); entering the pool
  waits until each has succeeded or failed its first start, but never longer than `ready_wait_seconds` (a slow
  server keeps starting in the background);
- a failed server is recorded, never fatal; every server is supervised and reconnected until the pool exits;
- a server can be stopped and started again, or added, while the others and their calls go on (a reload);
- leaving the pool closes every session and ends every child process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup, TaskStatus

from glm_mcp.config import UpstreamConfig
from glm_mcp.errors import UpstreamUnavailable
from glm_mcp.oauth.logins import Logins
from glm_mcp.relay.asking import Fallback
from glm_mcp.upstream.connection import ChangeFnT, LogFnT, ServerState, UpdatedFnT, Upstream
from glm_mcp.upstream.supervision import StartTurns

logger = logging.getLogger(__name__)


class UpstreamPool:
    """Every configured server, by name, in config order; servers can be added, stopped and replaced live."""

    def __init__(
        self,
        configs: Mapping[str, UpstreamConfig],
        *,
        max_starting: int,
        on_change: ChangeFnT | None = None,
        on_log: LogFnT | None = None,
        on_updated: UpdatedFnT | None = None,
        fallback: Fallback | None = None,
        ready_wait_seconds: float = 10.0,
        logins: Logins | None = None,
        per_person: Callable[[str], bool] = lambda name: False,
    ) -> None:
        self._logins = logins
        self._turns = StartTurns(max_starting)
        self.per_person = per_person
        """Whether a server's logins are each person's own: then each person gets a session of their own
        (`personal`), and the server's entry here only carries the listing they share."""
        self.personal_upstreams: dict[tuple[str, str], Upstream] = {}
        self._on_change = on_change
        self._on_log = on_log
        self._on_updated = on_updated
        self._fallback = fallback
        self.upstreams = {name: self._make(name, config) for name, config in configs.items()}
        self._ready_wait_seconds = ready_wait_seconds
        self._tg: TaskGroup | None = None
        self._scopes: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}

    def _make(self, name: str, config: UpstreamConfig, person: str | None = None) -> Upstream:
        on_change = self._on_change
        if person is not None:
            on_change = self._personal_changed(name)
        return Upstream(
            name,
            config,
            on_change=on_change,
            on_log=self._on_log,
            on_updated=self._on_updated,
            fallback=self._fallback,
            logins=self._logins,
            person=person,
            turns=self._turns,
        )

    def _personal_changed(self, name: str) -> ChangeFnT:
        async def changed() -> None:
            # The server's entry shows the listing of a person's session that is up (each person's is the same
            # server's), so that its tools are in the catalog; calls go to each caller's own session.
            shared = self.upstreams.get(name)
            if shared is not None:
                up = [
                    each for (server, _), each in self.personal_upstreams.items() if server == name and each.connected
                ]
                shared.listing = up[0].listing if up else shared.listing
            if self._on_change is not None:
                await self._on_change()

        return changed

    @staticmethod
    def _each_their_own(upstream: Upstream) -> None:
        """A server whose logins are each person's: nothing to start until a person uses it."""
        upstream.state = ServerState.NEEDS_LOGIN
        upstream.error = "each person logs in on their own, with glm__login from their editor"
        upstream.first_outcome.set()

    def personal(self, name: str, person: str) -> Upstream:
        """`person`'s own session to a server whose logins are each person's, started on first use.

        Raises:
            UpstreamUnavailable: No such server, or the pool is not running.
        """
        found = self.personal_upstreams.get((name, person))
        if found is not None:
            return found
        shared = self[name]
        if self._tg is None:
            raise UpstreamUnavailable(name, "the gateway is not running")
        upstream = self._make(name, shared.config, person)
        self.personal_upstreams[(name, person)] = upstream
        self._tg.start_soon(self._supervise, upstream, f"{name}@{person}")
        return upstream

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
                if not self.per_person(upstream.name):
                    await tg.start(self._supervise, upstream)
                else:
                    self._each_their_own(upstream)
            with anyio.move_on_after(self._ready_wait_seconds):
                for upstream in self.upstreams.values():
                    await upstream.first_outcome.wait()
            try:
                yield self
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    async def _supervise(
        self, upstream: Upstream, key: str | None = None, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        stopped = anyio.Event()
        with anyio.CancelScope() as scope:
            self._scopes[key or upstream.name] = (scope, stopped)
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
        if self.per_person(name):
            self._each_their_own(upstream)
        else:
            await self._tg.start(self._supervise, upstream)
        return upstream

    async def stop(self, name: str) -> None:
        """Stop a server (and each person's session to it) and end its process; it stays listed until `forget` or
        `start` replaces it."""
        for server, person in [key for key in self.personal_upstreams if key[0] == name]:
            del self.personal_upstreams[(server, person)]
            await self._stop(f"{server}@{person}")
        await self._stop(name)

    async def _stop(self, key: str) -> None:
        entry = self._scopes.pop(key, None)
        if entry is None:
            return
        scope, stopped = entry
        scope.cancel()
        await stopped.wait()

    def forget(self, name: str) -> None:
        """Drop a stopped server from the pool."""
        self.upstreams.pop(name, None)
