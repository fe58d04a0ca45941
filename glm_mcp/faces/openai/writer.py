"""The answers of the `/v1` faces: completion bodies, the SSE stream writer, error bodies and statuses.

Contract:
- a streamed run sends standard `chat.completion.chunk`s: content and `reasoning_content` deltas of every step
  as they arrive, tool activity and retries as `glm_mcp` events, one final `finish_reason`, then `data: [DONE]`;
- a GLM error is never answered with a 2xx status (an error inside a 200 body is 502, or 429 for rate limits);
- `finish_reason: "sensitive"` becomes `content_filter`; a final answer cut by `length` or the context window
  keeps its finish reason and carries a note in `glm_mcp.note`;
- errors are OpenAI-style bodies (`{"error": {"message", "type", "code", "param"}}`), GLM's code kept.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp.types as T
from starlette.types import Send

from glm_mcp._json import dumps, encode
from glm_mcp.agent.offer import ToolOffer
from glm_mcp.agent.results import AgentEvent, AgentResult, EventFnT
from glm_mcp.errors import ModelError, ModelHTTPError, ModelResponseError, ModelTimeout, ModelUnreachable
from glm_mcp.faces.openai.request import (
    ELICIT_TOOL,
    error_body,
)
from glm_mcp.model.messages import JsonObject
from glm_mcp.model.profile import (
    LEADING_NEWLINES,
    is_rate_limit,
)

logger = logging.getLogger(__name__)

_TOOL_EVENT_CHARS = 2_000


async def start_event_stream(send: Send) -> None:
    """Start a 200 `text/event-stream` response."""
    headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


def openai_error(status: int, message: str) -> JsonObject:
    """An OpenAI-style error body for a status."""
    kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
    return error_body(message, kind)


_MODEL_ERROR_STATUS: tuple[tuple[type[ModelError], int], ...] = (
    (ModelTimeout, 504),
    (ModelUnreachable, 502),
    (ModelResponseError, 502),
    (ModelHTTPError, 502),
)
"""The one table from a model failure to the gateway's own answer (a rate limit is 429 whatever its class).
An error GLM put inside a 200 answer is still a failure: never 2xx."""


def status_for(exc: ModelError) -> int:
    """The HTTP status a client of the gateway gets for a model failure."""
    if is_rate_limit(exc.code, exc.upstream_status):
        return 429
    if isinstance(exc, ModelHTTPError) and exc.upstream_status is not None and exc.upstream_status >= 400:
        return exc.upstream_status  # the endpoint's own error status says the most
    return next((status for kind, status in _MODEL_ERROR_STATUS if isinstance(exc, kind)), 502)


def model_error_body(exc: ModelError) -> JsonObject:
    kind = "rate_limit_error" if status_for(exc) == 429 else "model_error"
    return error_body(f"GLM: {exc.message}", kind, exc.code)


def elicit_calls(paused: T.InputRequiredResult) -> list[JsonObject]:
    """The `glm__elicit` calls that hand a paused run's questions to the client."""
    calls: list[JsonObject] = []
    for key, request in (paused.input_requests or {}).items():
        if not isinstance(request, T.ElicitRequest):
            continue
        arguments = request.params.model_dump(by_alias=True, mode="json", exclude_none=True)
        call_id = f"{ELICIT_TOOL}-{paused.request_state}.{key}"
        calls.append(
            {"id": call_id, "type": "function", "function": {"name": ELICIT_TOOL, "arguments": dumps(arguments)}}
        )
    return calls


def completion_body(
    result: AgentResult, model: str, request_id: str, created: int, offer: ToolOffer | None = None
) -> JsonObject:
    message: JsonObject = {"role": "assistant", "content": result.turn.content.lstrip(LEADING_NEWLINES) or None}
    if result.turn.reasoning_content:
        message["reasoning_content"] = result.turn.reasoning_content
    if result.client_calls:
        message["tool_calls"] = [call.to_wire() for call in result.client_calls]
    body: JsonObject = {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason}],
    }
    if result.usage is not None:
        body["usage"] = result.usage
    if (extra := run_facts(result, offer)) is not None:
        body["glm_mcp"] = extra
    return body


def paused_completion_body(paused: T.InputRequiredResult, model: str, request_id: str, created: int) -> JsonObject:
    """A response handing a paused run's questions to the client as `glm__elicit` calls."""
    message: JsonObject = {"role": "assistant", "content": None, "tool_calls": elicit_calls(paused)}
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "glm_mcp": {"paused": True},
    }


class Sink:
    """Where a run's events go: the response now serving it (a paused run moves to the one that resumes it)."""

    def __init__(self) -> None:
        self.target: EventFnT | None = None

    async def on_event(self, event: AgentEvent) -> None:
        if self.target is not None:
            await self.target(event)


def run_facts(result: AgentResult, offer: ToolOffer | None = None) -> JsonObject | None:
    """The response's `glm_mcp` object: what was offered, why the run stopped early, how it ended."""
    facts: JsonObject = {}
    if offer is not None and offer.facts:
        facts["offer"] = offer.facts
    if result.stopped_by:
        facts.update(stopped_by=result.stopped_by, steps=result.steps)
    if result.note:
        facts["note"] = result.note
    return facts or None


_TEXT_KINDS = ("content", "reasoning_content")
_MARK = "\x00glm-mcp text\x00"
"""Stands for a text chunk's text while its frame is made."""


class ChunkStream:
    """Writes one streamed run as `chat.completion.chunk`s; the response starts with the first chunk."""

    def __init__(self, send: Send, model: str, request_id: str, created: int, *, events: bool = True) -> None:
        self.send = send
        self.events = events
        self.started = False
        self.pending: list[str] = []
        """Frames written as soon as the response starts."""
        self.base = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model}
        self._text_frames: dict[str, tuple[str, str]] = {}
        """A text chunk's frame as `_frame` writes it, cut where its text goes (the delta comes after every other
        field): made once, each chunk only encodes its text between the two."""
        for kind in _TEXT_KINDS:
            head, _, tail = self._frame({kind: _MARK}).rpartition(dumps(_MARK))
            self._text_frames[kind] = (head, tail)

    async def write(self, text: str) -> None:
        if not self.started:  # the role chunk, the events waiting and the first text go out as one write
            self.started = True
            await start_event_stream(self.send)
            text = "".join([self._frame({"role": "assistant", "content": ""}), *self.pending, text])
        await self.send({"type": "http.response.body", "body": text.encode(), "more_body": True})

    async def chunk(self, delta: JsonObject | None, finish: str | None = None, **extra: Any) -> None:
        # Only the usage chunk has no choice (as OpenAI's own); an event rides on an empty delta, which the
        # common `chunk.choices[0].delta.content` loop reads safely.
        await self.write(self._frame(delta, finish, **extra))

    def _frame(self, delta: JsonObject | None, finish: str | None = None, **extra: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return f"data: {dumps({**self.base, 'choices': choices, **extra})}\n\n"

    async def on_event(self, event: AgentEvent) -> None:
        if (frame := self._text_frames.get(event.kind)) is not None:  # most of a stream: one JSON string each
            await self.write(f"{frame[0]}{dumps(event.text)}{frame[1]}")
        elif event.kind == "offer" and self.events and not self.started:
            # Said before anything else, but without starting the response: a model error can still get its status.
            self.pending.append(self._frame({}, None, glm_mcp={"event": "offer", **event.data}))
        elif event.kind in ("tool_call", "tool_result", "retry", "offer") and self.events:
            data = dict(event.data)
            if isinstance(data.get("content"), str) and len(data["content"]) > _TOOL_EVENT_CHARS:
                data["content"] = data["content"][:_TOOL_EVENT_CHARS] + "…"
            await self.chunk({}, glm_mcp={"event": event.kind, **data})


async def send_json(send: Send, status: int, body: JsonObject, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    payload = encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
