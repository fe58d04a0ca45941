"""`/mcp`'s server-sent events kept in Redis, so a client whose stream broke can resume on any replica.

Contract (as `http.events` for one process):
- events are kept per session and stream: an event id names its stream (`<n>.<stream>`), and a client of another
  session that sends it gets nothing replayed;
- at most `per_stream` events are kept per stream, each stream for `ttl_seconds` after its last event (the session's
  idle timeout); an id that was dropped replays nothing;
- a session's events are left to expire when its transport ends on one replica (another replica may serve the session
  on); they are dropped when the client ends the session.
"""

from __future__ import annotations

import json

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter

from glm_mcp.replicas.store import RedisStore

REVIVAL_ID = "glm-mcp-revival-"
"""Prefix of the ids of the requests that revive a session on another replica: their answers are not events."""


class RedisEvents(EventStore):
    """Every session's events in Redis; each transport is given its session's view (`for_session`)."""

    def __init__(self, store: RedisStore, per_stream: int, ttl_seconds: float) -> None:
        self.store = store
        self.per_stream = per_stream
        self.ttl_seconds = ttl_seconds

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
        appended = await events.store.append(
            self._key(str(stream_id)), json.dumps(data), events.per_stream, events.ttl_seconds
        )
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
        for index, item in enumerate(items):
            event_number = first + index
            data = json.loads(item)
            if event_number > after and data is not None:
                message = jsonrpc_message_adapter.validate_json(data, by_name=False)
                await send_callback(EventMessage(message, f"{event_number}.{stream}"))
        return stream
