"""What the gateway just did, for the status page: the last tool calls and model requests, and a live feed.

Contract:
- a call's arguments are kept whole up to 2 KB of JSON, else cut and marked (`kept_arguments`), so the history
  stays small whatever callers send;
- `record` keeps an event (a `CallEvent`, a `ModelEvent`, a `SamplingEvent` or a `ServerEvent`) in a bounded
  history of its kind and hands it to every subscriber at once, without waiting: a subscriber that does not keep
  up misses live events (the history keeps them), it never slows a call down;
- `subscribe` is a context manager: the subscription ends with it, explicitly, never by garbage collection.
"""

from __future__ import annotations

import collections
import itertools
import json
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

HISTORY = 200
"""Events of each kind kept for a page that opens later."""

KEPT_ARGUMENTS = 2048
"""Characters of a call's arguments (as JSON) the history keeps; larger ones are kept cut, and marked so."""

SUBSCRIBER_BUFFER = 256

CallSource = Literal["mcp", "chat", "agent", "admin", "cli"]
CallOutcome = Literal["ok", "error", "timeout", "unknown_tool", "invalid_arguments", "refused", "truncated"]
"""How a tool call ended; the last four never reached a server."""
ModelOutcome = Literal["ok", "error", "timeout", "rate_limited"]
_ids = itertools.count(1)


@dataclass(frozen=True)
class CallEvent:
    """One tool call: who made it, where it went, how it ended."""

    tool: str
    server: str
    source: CallSource
    outcome: CallOutcome
    seconds: float
    arguments: dict[str, Any]
    kind: Literal["call"] = "call"
    at: float = field(default_factory=time.time)
    id: int = field(default_factory=lambda: next(_ids))


face: ContextVar[str] = ContextVar("glm_mcp_face", default="gateway")
"""Which face the work in this task came in on (`openai`, `anthropic`, `responses`), for the status page."""


@dataclass(frozen=True)
class ModelEvent:
    """One request to the model (its retries included)."""

    model: str
    outcome: ModelOutcome
    seconds: float
    retries: int
    prompt_tokens: int | None
    completion_tokens: int | None
    face: str = field(default_factory=face.get)
    """The face of the run it served (`openai`, `anthropic`, `responses`; `gateway` for glm__agent, sampling, chat)."""
    kind: Literal["model"] = "model"
    at: float = field(default_factory=time.time)
    id: int = field(default_factory=lambda: next(_ids))


@dataclass(frozen=True)
class SamplingEvent:
    """One server's sampling request that GLM answered (or refused over the rate limit)."""

    server: str
    outcome: str
    max_tokens: int
    kind: Literal["sampling"] = "sampling"
    at: float = field(default_factory=time.time)
    id: int = field(default_factory=lambda: next(_ids))


@dataclass(frozen=True)
class ServerEvent:
    """A change of the catalog or of a server's state, or a reload."""

    message: str
    kind: Literal["server"] = "server"
    at: float = field(default_factory=time.time)
    id: int = field(default_factory=lambda: next(_ids))


Event = CallEvent | ModelEvent | SamplingEvent | ServerEvent


def _surely_short(arguments: Mapping[str, Any]) -> bool:
    """Whether flat arguments are within `KEPT_ARGUMENTS` characters of JSON however they are escaped (at most 6
    characters for each one of a string, 24 for a number short of 10**20)."""
    bound = 2
    for key, value in arguments.items():
        if isinstance(value, str):
            bound += 6 * len(value)
        elif isinstance(value, float | bool) or value is None or (isinstance(value, int) and abs(value) < 10**20):
            bound += 24
        else:
            return False
        bound += 6 * len(str(key)) + 4
    return bound <= KEPT_ARGUMENTS


def kept_arguments(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """A call's arguments as the history keeps them: whole up to `KEPT_ARGUMENTS` characters of JSON, else the
    first ones under `"(cut)"` with the full size (a caller's large arguments are never held in memory)."""
    if not arguments:
        return {}
    if _surely_short(arguments):
        return dict(arguments)  # no need to measure its JSON (that was 2% of a relayed call's CPU)
    text = json.dumps(arguments, ensure_ascii=False, default=str)
    if len(text) <= KEPT_ARGUMENTS:
        return dict(arguments)
    return {"(cut)": text[:KEPT_ARGUMENTS] + "…", "(characters)": len(text)}


def as_json(event: Event) -> dict[str, Any]:
    return asdict(event)


class Activity:
    """The bounded history and the subscribers of one gateway."""

    def __init__(self) -> None:
        self.calls: collections.deque[CallEvent] = collections.deque(maxlen=HISTORY)
        self.model_requests: collections.deque[ModelEvent] = collections.deque(maxlen=HISTORY)
        self.sampling: collections.deque[SamplingEvent] = collections.deque(maxlen=HISTORY)
        self._subscribers: set[MemoryObjectSendStream[Event]] = set()

    def record(self, event: Event) -> None:
        if isinstance(event, CallEvent):
            self.calls.append(event)
        elif isinstance(event, ModelEvent):
            self.model_requests.append(event)
        elif isinstance(event, SamplingEvent):
            self.sampling.append(event)
        for subscriber in list(self._subscribers):
            try:
                subscriber.send_nowait(event)
            except anyio.WouldBlock:
                pass  # a slow page misses this one; the history still has it
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        """Live feeds open now."""
        return len(self._subscribers)

    @asynccontextmanager
    async def subscribe(self) -> AsyncGenerator[MemoryObjectReceiveStream[Event], None]:
        """A live feed of every event recorded from now on, until the block ends."""
        send, receive = anyio.create_memory_object_stream[Event](SUBSCRIBER_BUFFER)
        self._subscribers.add(send)
        try:
            async with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()
