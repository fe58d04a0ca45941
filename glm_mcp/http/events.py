"""What `/mcp`'s server-sent events keep for a client that reconnects (resumability, 2025-11-25 and later).

Each event an SSE stream of a session carries (a POST's progress, questions and answer; the standing GET stream's
notifications) is kept, so a client whose stream broke can ask for what it missed with `Last-Event-ID`; every such
stream starts with a priming event (an id, no data) and the `retry` the client should wait before reconnecting.

Contract:
- events are kept per session: an event id names one session's stream, and a client of another session that sends
  it gets nothing replayed (the SDK hands every session's transport the same store; each transport is given its
  session's own view, `StoredEvents.for_session`);
- at most `MAX_EVENTS_PER_STREAM` events per stream and `MAX_STORED_BYTES` in all are kept, the oldest dropped
  first; an id that was dropped replays nothing (the client starts over, as after any lost session);
- a session's events are dropped when it ends.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter

MAX_EVENTS_PER_STREAM = 200
"""Events kept per stream (one POST's, or a session's standing GET stream)."""

MAX_STORED_BYTES = 16 * 2**20
"""Bytes of events kept over all sessions."""

RETRY_MILLISECONDS = 1000
"""How long a client whose stream broke is told to wait before it reconnects."""


@dataclass
class _Event:
    stream: tuple[str, str]
    """(session, stream)."""
    data: str | None
    """The message as JSON; None for a priming event."""


class StoredEvents(EventStore):
    """Every session's kept events within one budget; the store the SDK's session manager is given."""

    def __init__(self, max_bytes: int = MAX_STORED_BYTES, per_stream: int = MAX_EVENTS_PER_STREAM) -> None:
        self._max_bytes = max_bytes
        self._per_stream = per_stream
        self._events: OrderedDict[str, _Event] = OrderedDict()
        self._streams: dict[tuple[str, str], deque[str]] = {}
        self._bytes = 0
        self._ids = itertools.count(1)

    def for_session(self, session: str) -> SessionEvents:
        return SessionEvents(self, session)

    def forget(self, session: str) -> None:
        """Drop the events of a session that ended."""
        for key in [key for key in self._streams if key[0] == session]:
            for event_id in self._streams.pop(key):
                self._drop(event_id)

    def store(self, session: str, stream: StreamId, message: JSONRPCMessage | None) -> EventId:
        data = None if message is None else message.model_dump_json(by_alias=True, exclude_unset=True)
        event_id = str(next(self._ids))
        key = (session, str(stream))
        self._events[event_id] = _Event(key, data)
        self._bytes += len(data or "")
        ids = self._streams.setdefault(key, deque())
        ids.append(event_id)
        while len(ids) > self._per_stream:
            self._drop(ids.popleft())
        while self._bytes > self._max_bytes and self._events:
            oldest, event = next(iter(self._events.items()))
            self._streams[event.stream].popleft()
            self._drop(oldest)
        return event_id

    def after(self, session: str, last_event_id: EventId) -> tuple[str, list[tuple[str, str]]] | None:
        """The stream of `last_event_id` and its later events (id, JSON), if the id is this session's and kept."""
        event = self._events.get(last_event_id)
        if event is None or event.stream[0] != session:
            return None
        ids = list(self._streams.get(event.stream, ()))
        later = ids[ids.index(last_event_id) + 1 :]
        return event.stream[1], [(i, data) for i in later if (data := self._events[i].data) is not None]

    def _drop(self, event_id: str) -> None:
        event = self._events.pop(event_id, None)
        if event is not None:
            self._bytes -= len(event.data or "")
            if not self._streams.get(event.stream, True):
                del self._streams[event.stream]

    # The SDK calls these only on a session's own view; the shared store is never a transport's.

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        raise RuntimeError("events are stored per session: use StoredEvents.for_session")

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        raise RuntimeError("events are replayed per session: use StoredEvents.for_session")


class SessionEvents(EventStore):
    """One session's view of `StoredEvents`: what its transport stores and replays."""

    def __init__(self, events: StoredEvents, session: str) -> None:
        self.events = events
        self.session = session

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        return self.events.store(self.session, stream_id, message)

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        found = self.events.after(self.session, last_event_id)
        if found is None:
            return None
        stream, later = found
        for event_id, data in later:
            await send_callback(EventMessage(jsonrpc_message_adapter.validate_json(data, by_name=False), event_id))
        return stream
