"""What one `serve` process shares: nothing beyond itself by default; with `gateway.redis_url`, everything replicas
need to act as one gateway behind any load balancer.

Contract:
- without Redis: budgets count in memory, sessions and their events stay in this process (as always);
- with Redis: budgets count in Redis; `/mcp` sessions are recorded and revived on any replica, their events kept
  in Redis; the `request_state` signing key is shared; a reload here is applied on every replica (and one there,
  here); every replica's status is published, so each one's status view lists them all;
- Redis not answering makes the replica not ready (`/readyz` 503, saying so): a load balancer then sends its
  requests to replicas that can share state.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

from glm_mcp.config.models import GatewayConfig
from glm_mcp.errors import ConfigError, SharedStateError
from glm_mcp.faces.caller import token_id
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.events import MAX_EVENTS_PER_STREAM, StoredEvents
from glm_mcp.http.shared_sessions import SharedSessions
from glm_mcp.relay.rounds import Rounds
from glm_mcp.replicas.budgets import Budgets
from glm_mcp.replicas.cluster import Cluster, replica_name
from glm_mcp.replicas.events import RedisEvents
from glm_mcp.replicas.store import MemoryStore, RedisStore, open_redis

logger = logging.getLogger(__name__)

ConfigFromTextFnT = Callable[[str, str], GatewayConfig]
"""A config another replica published, read as this one reads its own: (text, source) → config."""


class SharedState:
    """Budgets, sessions, events, signing key, reloads and status: in this process or shared through Redis."""

    def __init__(self, gateway: Gateway, tokens: list[bytes], from_text: ConfigFromTextFnT | None = None) -> None:
        self.gateway = gateway
        settings = gateway.config.gateway
        self.redis: RedisStore | None = None
        self.cluster: Cluster | None = None
        self.sessions: SharedSessions | None = None
        self.events: StoredEvents | RedisEvents = StoredEvents()
        if settings.redis_url is not None:
            self.redis = open_redis(settings.redis_url.get_secret_value())
            self.cluster = Cluster(self.redis, replica_name(settings.replica_name))
            events = RedisEvents(self.redis, MAX_EVENTS_PER_STREAM, settings.session_idle_timeout, self.cluster.id)
            self.sessions = SharedSessions(self.redis, settings.session_idle_timeout, events)
            self.events = events
        self.budgets = Budgets(
            lambda: gateway.config.gateway, self.redis or MemoryStore(), gateway.metrics, [token_id(t) for t in tokens]
        )
        self._from_text = from_text
        self._key = b""
        """The signing key the replicas share, taken by `connect`."""
        self.problem: str | None = None
        """Why this replica cannot share state right now (Redis not answering), for `/readyz`."""

    async def connect(self) -> None:
        """Reach Redis before anything starts, and take the signing key the replicas share (none without Redis).

        Raises:
            ConfigError: Redis cannot be reached: the replica does not start (said without a traceback).
        """
        if self.redis is None or self.cluster is None:
            return
        try:
            self._key = await self.cluster.signing_key()
        except SharedStateError as exc:
            await self.redis.aclose()
            raise ConfigError(f"gateway.redis_url: {exc}; start Redis or fix the URL") from None

    @asynccontextmanager
    async def running(
        self, rounds: Rounds, others: list[Rounds], end_session: Callable[[str], Awaitable[None]] | None
    ) -> AsyncGenerator[None]:
        """Share while the app runs (after `connect`): the signing key for `rounds` (whose rounds any replica can go
        on with) and `others` (whose rounds only their own replica can), heartbeats, reloads both ways, and the end
        of sessions (`end_session` ends one here)."""
        if self.redis is None or self.cluster is None:
            yield
            return
        redis, cluster = self.redis, self.cluster
        rounds.share(self._key, cluster)
        for each in others:
            each.share(self._key)
        self.gateway.reloaded.append(self._publish)
        await cluster.beat(self.gateway.status)  # listed by the others from the moment it serves
        logger.warning("replica %s sharing state through Redis at %s", cluster.id, redis.url)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(cluster.run, self.gateway.status, self._apply)
                tg.start_soon(cluster.serve_rounds, rounds.answer_forwarded)
                if self.sessions is not None and end_session is not None:
                    tg.start_soon(self.sessions.follow_closings, end_session)
                tg.start_soon(self._watch, redis)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self.gateway.reloaded.remove(self._publish)
            await redis.aclose()

    async def _watch(self, redis: RedisStore) -> None:
        while True:
            problem = await redis.ping()
            if problem != self.problem:
                if problem is not None:
                    logger.error("%s: this replica answers /readyz with 503 until Redis is back", problem)
                else:
                    logger.warning("Redis at %s answers again: this replica is ready", redis.url)
            self.problem = problem
            await anyio.sleep(2.0)

    async def _publish(self, config: GatewayConfig) -> None:
        if self.cluster is not None and config.document is not None:
            await self.cluster.publish_config(config.document, config.source)

    async def _apply(self, text: str, source: str) -> None:
        if self._from_text is None:
            logger.warning("a reload from another replica was not applied: this one was not started from a file")
            return
        try:
            new = self._from_text(text, source)
        except ConfigError as exc:
            logger.error("the config another replica reloaded is refused here, the running config stays: %s", exc)
            self.gateway.reload_error = str(exc)
            return
        await self.gateway.apply(new)

    async def status(self) -> dict[str, Any]:
        """The callers' usage, and with Redis every live replica: for the status view."""
        shown: dict[str, Any] = {"usage": await self.budgets.usage()}
        if self.cluster is not None:
            try:
                shown["replicas"] = await self.cluster.peers()
            except SharedStateError as exc:
                shown["replicas_error"] = str(exc)
        return shown
