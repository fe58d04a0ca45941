"""Budgets per caller: requests per minute, agent runs at once, GLM tokens per day.

Contract:
- a caller is a person (a named token, an OpenID Connect identity), else a token, else an address (no
  authentication); its limits are `gateway.limits`, overridden field by field by its token's own `limits`;
- the counts live in the store: in this process without Redis, shared by every replica with it, so a budget
  holds however the load balancer spreads a caller's requests;
- requests are counted in whole UTC minutes; tokens in UTC days, counted when a run ends (a run that starts under the
  budget may finish past it; the next one is refused); a run holds a lease that lives `LEASE_SECONDS` unless
  renewed, so a replica that dies frees its callers' runs within that;
- over a limit, `OverLimit` names the limit, its value and when to try again (the faces answer 429 with
  `Retry-After`); every request, refusal and token is counted per caller in the metrics;
- the store failing (Redis down) lets the request through, logged: budgets are a fairness tool, an outage of the
  store must not become an outage of the gateway.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio

from glm_mcp.config.serve import Limits, ServeConfig
from glm_mcp.errors import OverLimit, SharedStateError
from glm_mcp.metrics import GatewayMetrics
from glm_mcp.replicas.store import Store

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
"""How long a run's lease lives without renewal (a dead replica's runs stop counting after this)."""

_RENEW_SECONDS = LEASE_SECONDS / 3
_DAY_SECONDS = 86_400


def caller_of(client: str, person: str | None) -> str:
    """The name budgets count under: the person where there is one, else the token or address."""
    return f"person:{person}" if person else client


def used_tokens(usage: Mapping[str, object]) -> int:
    """The tokens a run's usage counts (prompt and completion)."""
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    parts = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    return sum(part for part in parts if isinstance(part, int))


def _until_next_minute(now: float) -> int:
    return max(1, 60 - int(now) % 60)


def _day(now: float) -> str:
    return _day_named(int(now) // _DAY_SECONDS)


@functools.lru_cache(maxsize=2)
def _day_named(day: int) -> str:
    """The UTC date of a day number (every run counts its tokens under it: formatted once a day, not per run)."""
    return datetime.fromtimestamp(day * _DAY_SECONDS, UTC).strftime("%Y-%m-%d")


def _until_next_day(now: float) -> int:
    return max(1, _DAY_SECONDS - int(now) % _DAY_SECONDS)


class Budgets:
    """The limits of every caller, checked against the shared counts."""

    def __init__(
        self, settings: Callable[[], ServeConfig], store: Store, metrics: GatewayMetrics, token_ids: Sequence[str]
    ) -> None:
        self._settings = settings
        """The `gateway` section in force (a reload changes the limits for the next requests)."""
        self.store = store
        self._metrics = metrics
        self._index = {ident: index for index, ident in enumerate(token_ids)}
        self.seen: dict[str, tuple[str, float]] = {}
        """Callers this replica served: the token or address each matched, and when it last did (the status page's
        rows)."""

    def limits(self, client: str) -> Limits:
        """The limits of the caller who matched `client` (`token:…`, `person:…`, `address:…`)."""
        return self._settings().limits_of(self._index.get(client))

    async def request(self, client: str, person: str | None) -> None:
        """Count one request of the caller.

        Raises:
            OverLimit: The caller made `requests_per_minute` requests in this minute already.
        """
        caller = caller_of(client, person)
        self._seen(caller, client)
        self._metrics.caller(caller, "requests")
        limit = self.limits(client).requests_per_minute
        if limit is None:
            return
        now = time.time()
        try:
            made = await self.store.count(f"budget:requests:{caller}:{int(now) // 60}", 1, 120)
        except SharedStateError as exc:
            logger.warning("requests_per_minute not checked: %s", exc)
            return
        if made > limit:
            self._refused(caller, "requests_per_minute")
            raise OverLimit(
                f"over requests_per_minute: {limit} requests a minute are allowed for {caller}; "
                f"try again in {_until_next_minute(now)} s",
                "requests_per_minute",
                _until_next_minute(now),
            )

    @asynccontextmanager
    async def run(self, client: str, person: str | None) -> AsyncGenerator[None]:
        """Hold one of the caller's run slots while the block runs.

        Raises:
            OverLimit: The caller used its `tokens_per_day` today, or runs `concurrent_runs` runs already.
        """
        caller = caller_of(client, person)
        limits = self.limits(client)
        now = time.time()
        if limits.tokens_per_day is not None:
            try:
                used = await self.store.count(f"budget:tokens:{caller}:{_day(now)}", 0, 2 * _DAY_SECONDS)
            except SharedStateError as exc:
                logger.warning("tokens_per_day not checked: %s", exc)
                used = 0
            if used >= limits.tokens_per_day:
                self._refused(caller, "tokens_per_day")
                raise OverLimit(
                    f"over tokens_per_day: {caller} used {used} of {limits.tokens_per_day} GLM tokens today (UTC); "
                    f"the budget starts again in {_until_next_day(now)} s",
                    "tokens_per_day",
                    _until_next_day(now),
                )
        if limits.concurrent_runs is None:
            yield
            return
        key = f"budget:runs:{caller}"
        try:
            lease = await self.store.take_lease(key, limits.concurrent_runs, LEASE_SECONDS)
        except SharedStateError as exc:
            logger.warning("concurrent_runs not checked: %s", exc)
            yield
            return
        if lease is None:
            self._refused(caller, "concurrent_runs")
            raise OverLimit(
                f"over concurrent_runs: {caller} may run {limits.concurrent_runs} at once and all are running; "
                "try again when one ends",
                "concurrent_runs",
                2,
            )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew, key, lease)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.store.drop_lease(key, lease)
                except SharedStateError as exc:  # the lease expires on its own
                    logger.warning("a run's lease was not dropped: %s", exc)

    async def _renew(self, key: str, lease: str) -> None:
        while True:
            await anyio.sleep(_RENEW_SECONDS)
            try:
                await self.store.renew_lease(key, lease, LEASE_SECONDS)
            except SharedStateError as exc:
                logger.warning("a run's lease was not renewed: %s", exc)

    async def spend(self, client: str, person: str | None, tokens: int) -> None:
        """Count the GLM tokens a caller's run used."""
        if tokens <= 0:
            return
        caller = caller_of(client, person)
        self._metrics.caller(caller, "tokens", tokens)
        try:
            await self.store.count(f"budget:tokens:{caller}:{_day(time.time())}", tokens, 2 * _DAY_SECONDS)
        except SharedStateError as exc:
            logger.warning("%d tokens of %s not counted: %s", tokens, caller, exc)

    async def usage(self) -> list[dict[str, object]]:
        """Each caller seen lately: requests this minute, runs now, tokens today, and their limits."""
        now = time.time()
        rows: list[dict[str, object]] = []
        for caller, (client, _) in sorted(self.seen.items()):
            limits = self.limits(client)
            try:
                requests = await self.store.count(f"budget:requests:{caller}:{int(now) // 60}", 0, 120)
                runs = await self.store.leases(f"budget:runs:{caller}")
                tokens = await self.store.count(f"budget:tokens:{caller}:{_day(now)}", 0, 2 * _DAY_SECONDS)
            except SharedStateError:
                continue
            rows.append(
                {
                    "caller": caller,
                    "requests_this_minute": requests,
                    "runs": runs,
                    "tokens_today": tokens,
                    "limits": limits.model_dump(exclude_none=True),
                }
            )
        return rows

    def _seen(self, caller: str, client: str) -> None:
        now = time.monotonic()
        self.seen[caller] = (client, now)
        if len(self.seen) > 1000:
            self.seen = {name: seen for name, seen in self.seen.items() if now - seen[1] < _DAY_SECONDS}

    def _refused(self, caller: str, limit: str) -> None:
        self._metrics.caller(caller, f"refused:{limit}")
        logger.info("refused a request of %s: over %s", caller, limit)
