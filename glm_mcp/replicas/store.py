"""The state replicas share: counters, leases, records and messages, in Redis, or in this process without it.

Contract:
- `MemoryStore` (one process, the default) and `RedisStore` (`gateway.redis_url`) answer the same operations, so
  budgets and the rest are written once; only `RedisStore` is shared between processes;
- every key is namespaced under `glm-mcp:`; every key that can grow carries a time to live, so a replica that dies
  leaves nothing behind for long (a run's lease expires, a session's record with its idle timeout);
- a `redis://` URL is opened lazily, so a gateway without Redis never imports the client library;
- Redis errors surface as `SharedStateError`, with the URL's password removed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from glm_mcp.errors import SharedStateError
from glm_mcp.redact import redact_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

PREFIX = "glm-mcp:"

_TAKE_LEASE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, first[2]}
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(ARGV[3]) * 1000))
return {1, ARGV[3]}
"""
"""Atomically: drop expired leases; at the limit answer (0, when the oldest lease expires); else add one."""


class Store(Protocol):
    """What budgets need: counters in windows, leases with a limit."""

    async def count(self, key: str, amount: int, ttl_seconds: float) -> int:
        """Add `amount` to the counter `key` (0 reads it); it expires `ttl_seconds` after it was created."""
        ...

    async def take_lease(self, key: str, limit: int, ttl_seconds: float) -> str | None:
        """A lease among at most `limit` live ones under `key` (each lives `ttl_seconds` unless dropped), or None."""
        ...

    async def renew_lease(self, key: str, lease: str, ttl_seconds: float) -> None:
        """Let `lease` live `ttl_seconds` from now."""
        ...

    async def drop_lease(self, key: str, lease: str) -> None: ...

    async def leases(self, key: str) -> int:
        """Live leases under `key`."""
        ...


class MemoryStore:
    """The store of one process."""

    def __init__(self) -> None:
        self._counters: dict[str, tuple[int, float]] = {}
        self._leases: dict[str, dict[str, float]] = {}

    async def count(self, key: str, amount: int, ttl_seconds: float) -> int:
        now = time.monotonic()
        value, expires = self._counters.get(key, (0, now + ttl_seconds))
        if expires <= now:
            value, expires = 0, now + ttl_seconds
        if amount:
            self._counters[key] = (value + amount, expires)
        if len(self._counters) > 10_000:
            self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        return value + amount

    async def take_lease(self, key: str, limit: int, ttl_seconds: float) -> str | None:
        now = time.monotonic()
        live = {lease: until for lease, until in self._leases.get(key, {}).items() if until > now}
        self._leases[key] = live
        if len(live) >= limit:
            return None
        lease = uuid.uuid4().hex
        live[lease] = now + ttl_seconds
        return lease

    async def renew_lease(self, key: str, lease: str, ttl_seconds: float) -> None:
        live = self._leases.get(key, {})
        if lease in live:
            live[lease] = time.monotonic() + ttl_seconds

    async def drop_lease(self, key: str, lease: str) -> None:
        live = self._leases.get(key, {})
        live.pop(lease, None)
        if not live:
            self._leases.pop(key, None)

    async def leases(self, key: str) -> int:
        now = time.monotonic()
        return sum(1 for until in self._leases.get(key, {}).values() if until > now)


class RedisStore:
    """The store replicas share, in Redis; also records, lists and messages for sessions, events and reloads."""

    def __init__(self, client: Redis, url: str) -> None:
        self.client: Any = client
        """The redis-py client (typed `Any`: its own annotations are partial)."""
        self.url = redact_url(url)
        self._take = self.client.register_script(_TAKE_LEASE)

    def _error(self, exc: Exception) -> SharedStateError:
        return SharedStateError(f"Redis at {self.url}: {str(exc).rstrip('.')}")

    @contextmanager
    def _mapped(self) -> Generator[None]:
        """The client's errors, raised in the block, as `SharedStateError`s (the boundary of the Redis client)."""
        try:
            yield
        except Exception as exc:
            raise self._error(exc) from exc

    async def count(self, key: str, amount: int, ttl_seconds: float) -> int:
        with self._mapped():
            if not amount:
                return int(await self.client.get(PREFIX + key) or 0)
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incrby(PREFIX + key, amount)
                pipe.expire(PREFIX + key, max(1, int(ttl_seconds)), nx=True)
                value, _ = await pipe.execute()
            return int(value)

    async def take_lease(self, key: str, limit: int, ttl_seconds: float) -> str | None:
        lease = uuid.uuid4().hex
        now = time.time()
        with self._mapped():
            taken, _ = await self._take(keys=[PREFIX + key], args=[now, limit, now + ttl_seconds, lease])
        return lease if int(taken) else None

    async def renew_lease(self, key: str, lease: str, ttl_seconds: float) -> None:
        until = time.time() + ttl_seconds
        with self._mapped():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zadd(PREFIX + key, {lease: until}, xx=True)
                pipe.pexpireat(PREFIX + key, int(until * 1000), gt=True)
                await pipe.execute()

    async def drop_lease(self, key: str, lease: str) -> None:
        with self._mapped():
            await self.client.zrem(PREFIX + key, lease)

    async def leases(self, key: str) -> int:
        with self._mapped():
            return int(await self.client.zcount(PREFIX + key, time.time(), "+inf"))

    async def put(self, key: str, fields: Mapping[str, str], ttl_seconds: float) -> None:
        """Set fields of the record `key`, which then expires `ttl_seconds` from now."""
        with self._mapped():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(PREFIX + key, mapping=dict(fields))
                pipe.expire(PREFIX + key, max(1, int(ttl_seconds)))
                await pipe.execute()

    async def record(self, key: str) -> dict[str, str]:
        """The record `key` ({} when there is none)."""
        with self._mapped():
            return dict(await self.client.hgetall(PREFIX + key))

    async def touch(self, key: str, ttl_seconds: float) -> None:
        with self._mapped():
            await self.client.expire(PREFIX + key, max(1, int(ttl_seconds)))

    async def delete(self, *keys: str) -> None:
        with self._mapped():
            if keys:
                await self.client.delete(*(PREFIX + key for key in keys))

    async def keys(self, pattern: str) -> list[str]:
        """Keys matching `pattern` (without the namespace)."""
        with self._mapped():
            found = [key async for key in self.client.scan_iter(match=PREFIX + pattern, count=500)]
        return [key.removeprefix(PREFIX) for key in found]

    async def append(self, key: str, value: str, keep: int, ttl_seconds: float) -> int:
        """Append to the list `key`, keep its last `keep` items; the number of items ever appended."""
        with self._mapped():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(PREFIX + key, value)
                pipe.incr(PREFIX + key + ":n")
                pipe.ltrim(PREFIX + key, -keep, -1)
                pipe.expire(PREFIX + key, max(1, int(ttl_seconds)))
                pipe.expire(PREFIX + key + ":n", max(1, int(ttl_seconds)))
                _, appended, *_ = await pipe.execute()
            return int(appended)

    async def tail(self, key: str) -> tuple[int, list[str]]:
        """(how many were ever appended, the items kept) of the list `key`."""
        with self._mapped():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(PREFIX + key + ":n")
                pipe.lrange(PREFIX + key, 0, -1)
                appended, items = await pipe.execute()
            return int(appended or 0), list(items)

    async def push(self, key: str, value: str, ttl_seconds: float) -> None:
        """Add `value` to the queue `key` (which expires `ttl_seconds` from now unless pushed to again)."""
        with self._mapped():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(PREFIX + key, value)
                pipe.expire(PREFIX + key, max(1, int(ttl_seconds)))
                await pipe.execute()

    async def pop(self, key: str, timeout_seconds: float) -> str | None:
        """The oldest value of the queue `key`, waiting for one at most `timeout_seconds`; None if none came."""
        with self._mapped():
            found = await self.client.blpop([PREFIX + key], timeout=timeout_seconds)
        return None if found is None else str(found[1])

    async def exists(self, key: str) -> bool:
        with self._mapped():
            return bool(await self.client.exists(PREFIX + key))

    async def set_once(self, key: str, value: str) -> str:
        """`key`'s value: `value` if it had none (atomically, so every replica gets the same)."""
        with self._mapped():
            await self.client.set(PREFIX + key, value, nx=True)
            return str(await self.client.get(PREFIX + key))

    async def publish(self, channel: str, message: str) -> None:
        with self._mapped():
            await self.client.publish(PREFIX + channel, message)

    async def listen(self, channel: str, on_message: Callable[[str], Awaitable[None]]) -> None:
        """Call `await on_message(text)` for each message on `channel`, until cancelled; reconnects after errors."""
        while True:
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(PREFIX + channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await on_message(str(message["data"]))
            except Exception:  # boundary: Redis went away; listen again once it is back
                await anyio.sleep(1.0)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.client.aclose()

    async def ping(self) -> str | None:
        """None when Redis answers, else what is wrong."""
        try:
            with anyio.fail_after(2):
                await self.client.ping()
        except TimeoutError:
            return f"Redis at {self.url} did not answer within 2 s"
        except Exception as exc:  # boundary
            return str(self._error(exc))
        return None


def open_redis(url: str) -> RedisStore:
    """A `RedisStore` on `url` (it connects on first use; `aclose` it when done); the client is imported only here."""
    from redis.asyncio import Redis

    client: Any = Redis.from_url(  # pyright: ignore[reportUnknownMemberType] (redis-py's partial annotations)
        url, decode_responses=True, health_check_interval=30, socket_connect_timeout=5, socket_timeout=30
    )
    return RedisStore(client, url)
