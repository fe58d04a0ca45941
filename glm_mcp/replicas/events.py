"""`/mcp`'s server-sent events kept in Redis, so a client whose stream broke can resume on any replica.

Contract (as `http.events` for one process):
- events are kept per session and stream: an event id names its stream (`<n>.<stream>`), and a client of another
  session that sends it gets nothing replayed;
- at most `per_stream` events are kept per stream, each stream for `ttl_seconds` after its last event (the session's
  idle timeout); an id that was dropped replays nothing;
- a session's events are left to expire when its transport ends on one replica (another replica may serve the session
  on); they are dropped when the client ends the session;
- a request's stream resumed on a replica other than the one serving the call is followed there: what the serving
  replica adds to the stream reaches the client, up to the answer; if the serving replica dies first, the client gets
  an error answer saying to call again (instead of waiting for an answer that cannot come).
"""

from __future__ import annotations

import json

import anyio
from mcp.server.streamable_http import GET_STREAM_KEY, EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import INTERNAL_ERROR, JSONRPCMessage, jsonrpc_message_adapter

from glm_mcp.replicas.store import RedisStore

FOLLOW_SECONDS = 0.2
"""How often a followed stream is read again for what the serving replica added."""

ALIVE_CHECK_SECONDS = 5.0
"""How often a followed stream's serving replica is checked to be alive."""

REVIVAL_ID = "glm-mcp-revival-"
"""Prefix of the ids of the requests that revive a session on another replica: their answers are not events."""


class RedisEvents(EventStore):
    """Every session's events in Redis; each transport is given its session's view (`for_session`)."""

    def __init__(self, store: RedisStore, per_stream: int, ttl_seconds: float, home: str) -> None:
        self.store = store
        self.per_stream = per_stream
        self.ttl_seconds = ttl_seconds
        self.home = home
        """This replica's id (`Cluster.id`), kept with each event it stores."""

    def for_session(self, session: str) -> RedisSessionEvents:
        return RedisSessionEvents(self, session)

    async def forget(self, session: str) -> None:
        """Drop the events of a session its client ended."""
        keys = await self.store.keys(f"events:{session}:*")
        await self.store.delete(*keys, *(f"{key}:n" for key in keys if not key.endswith(":n")))

    # The SDK calls these only on a session's own view; the shared store is never a transport's.

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        raise RuntimeError("events are stored per session: use RedisEvents.for_session")

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        raise RuntimeError("events are replayed per session: use RedisEvents.for_session")


class RedisSessionEvents(EventStore):
    """One session's view of `RedisEvents`."""

    def __init__(self, events: RedisEvents, session: str) -> None:
        self.events = events
        self.session = session

    def _key(self, stream: str) -> str:
        return f"events:{self.session}:{stream}"

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        if str(stream_id).startswith(REVIVAL_ID):
            return f"0.{stream_id}"  # the answer to a replayed request goes nowhere
        data = None if message is None else message.model_dump_json(by_alias=True, exclude_unset=True)
        events = self.events
        # An event's number is its place among all ever appended to its stream (the list keeps the last ones).
        item = json.dumps({"data": data, "from": events.home})
        appended = await events.store.append(self._key(str(stream_id)), item, events.per_stream, events.ttl_seconds)
        return f"{appended}.{stream_id}"

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        number, dot, stream = last_event_id.partition(".")
        if not dot or not number.isdigit():
            return None
        appended, items = await self.events.store.tail(self._key(stream))
        first = appended - len(items) + 1
        after = int(number)
        if not items or after < first - 1 or after > appended:
            return None  # not this session's stream, or dropped
        answered, owner = await self._send(items, first, after, stream, send_callback)
        if stream != GET_STREAM_KEY and not answered and owner != self.events.home:
            await self._follow(stream, appended, owner, send_callback)
        return stream

    async def _send(
        self, items: list[str], first: int, after: int, stream: str, send_callback: EventCallback
    ) -> tuple[bool, str]:
        """Send the items numbered past `after`; (whether the stream holds its answer, the replica serving it)."""
        answered, owner = False, ""
        for index, item in enumerate(items):
            kept = json.loads(item)
            data, owner = kept["data"], str(kept["from"])
            if data is None:
                continue
            message = jsonrpc_message_adapter.validate_json(data, by_name=False)
            answered = answered or not hasattr(message, "method")
            if first + index > after:
                await send_callback(EventMessage(message, f"{first + index}.{stream}"))
        return answered, owner

    async def _follow(self, stream: str, seen: int, owner: str, send_callback: EventCallback) -> None:
        """Pass on what replica `owner` adds to the stream until its answer, or an error answer if it dies first."""
        store = self.events.store
        checked = anyio.current_time()
        with anyio.move_on_after(self.events.ttl_seconds):
            while True:
                await anyio.sleep(FOLLOW_SECONDS)
                appended, items = await store.tail(self._key(stream))
                if appended > seen:
                    first = appended - len(items) + 1
                    answered, _ = await self._send(items, first, seen, stream, send_callback)
                    seen = appended
                    if answered:
                        return
                if anyio.current_time() - checked >= ALIVE_CHECK_SECONDS:
                    checked = anyio.current_time()
                    if not await store.exists(f"replica:{owner}"):
                        break
        ident: int | str = int(stream) if stream.lstrip("-").isdigit() else stream
        error = {
            "code": INTERNAL_ERROR,
            "message": "the replica serving this call stopped before it answered; call again",
        }
        message = jsonrpc_message_adapter.validate_python(
            {"jsonrpc": "2.0", "id": ident, "error": error}, by_name=False
        )
        await send_callback(EventMessage(message, f"{seen + 1}.{stream}"))
