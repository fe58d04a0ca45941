"""The OpenAI face: `/v1/chat/completions` (JSON and SSE) and `/v1/models`, turning requests into agent runs; the host
of the Anthropic and Responses faces too, whose admission and runs it shares.

Contract:
- a request is admitted after its body arrives, within `max_concurrent_runs` and `max_queued_runs` (else 429,
  with `Retry-After`); it is parsed by `request` and answered by `writer` (JSON, or a stream that starts with the
  first thing to send, so a model error before it gets its own status);
- a run may pause on a server's question as a `glm__elicit` call (`"glm_mcp": {"elicitation": "client"}`), bound
  to its caller, and goes on with the client's answer;
- a client that disconnects cancels the model request and the running tool calls (the host tells of it, or a
  listener on `receive` does).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import mcp.types as T
from mcp import MCPError
from starlette.types import Receive, Scope, Send

from glm_mcp import activity
from glm_mcp._json import dumps
from glm_mcp.agent.results import AgentResult, EventFnT
from glm_mcp.errors import ModelError, OverLimit, RequestError
from glm_mcp.faces.caller import client_key, person_of
from glm_mcp.faces.openai.leaving import until_client_leaves
from glm_mcp.faces.openai.request import (
    ELICIT_CAPABILITIES,
    ELICIT_TOOL,
    ChatRequest,
    error_body,
    request_body,
)
from glm_mcp.faces.openai.writer import (
    ChunkStream,
    Sink,
    completion_body,
    elicit_calls,
    model_error_body,
    openai_error,
    paused_completion_body,
    run_facts,
    send_json,
    status_for,
)
from glm_mcp.gateway.core import Gateway
from glm_mcp.model.messages import JsonObject
from glm_mcp.people import acting_as, current_person
from glm_mcp.relay.asking import Asker
from glm_mcp.relay.rounds import Rounds
from glm_mcp.replicas.budgets import Budgets, used_tokens

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 2**20


ErrorShapeFnT = Callable[[int, str], JsonObject] | None
"""A face's error body for (status, message); None for the OpenAI face's own."""

FaceFnT = Callable[["ChatCompletionsApp", bytes, bool, Send, str], Awaitable[str]]
"""Answers one request of another API face: (the app, the body, whether it was too big, send, the caller) →
the outcome for the metrics."""


@dataclass(frozen=True)
class Face:
    """Another API on the chat face's loop: its label in the metrics, its handler, its error bodies."""

    label: str
    handle: FaceFnT
    error_shape: Callable[[int, str], JsonObject]
    """Its error bodies: every refusal on its path is written in this shape, never rewritten afterwards."""


TOO_BIG = b"too big"
"""Stands for a body past `MAX_BODY_BYTES` (its bytes are not kept)."""


class _OverBudget(Exception):
    """A body would take the bytes of waiting bodies past their budget."""


class ChatCompletionsApp:
    """The ASGI endpoint for `POST /v1/chat/completions`."""

    def __init__(self, gateway: Gateway, budgets: Budgets, faces: Mapping[str, Face] | None = None) -> None:
        self.gateway = gateway
        self.budgets = budgets
        """Each caller's runs at once and GLM tokens a day."""
        self.agent = gateway.agent
        self.rounds = Rounds()
        """Runs paused on a server's question for the client (`glm__elicit`); run by the app's lifespan."""
        self._sinks: dict[str, Sink] = {}
        limits = gateway.config.gateway
        self._runs = anyio.CapacityLimiter(limits.max_concurrent_runs)
        self._max_queued = limits.max_queued_runs
        self._queued = 0
        self.faces: dict[str, Face] = dict(faces or {})
        """Other APIs served on the same loop, admission and paused runs, by path (`/v1/messages`)."""
        self._held_budget = limits.max_waiting_body_bytes
        self._held = 0
        """Bytes of bodies arriving or waiting for a run slot."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A request takes a run slot only once its body has arrived: bodies trickling in hold no slot and no place
        # in the queue, only bytes of their own budget (and their connection, which the body deadline bounds).
        if self._full():
            await self._busy(scope, send, self._full_message())
            return
        held = [0]
        try:
            try:
                body = await self._read_body(receive, held)
            except _OverBudget:
                message = (
                    f"request bodies of {self._held_budget} bytes are already arriving or waiting for a run "
                    "(gateway.max_waiting_body_bytes); try again shortly"
                )
                await self._busy(scope, send, message)
                return
            if body is None:
                return  # the client went away before its body arrived
            if self._full():
                await self._busy(scope, send, self._full_message())
                return
            try:  # a free slot is taken without anyio's checkpoints (each costs a turn of the loop)
                self._runs.acquire_nowait()
            except anyio.WouldBlock:
                self._queued += 1
                try:
                    await self._runs.acquire()
                finally:
                    self._queued -= 1
        finally:
            self._held -= held[0]
        try:
            await until_client_leaves(scope, receive, send, lambda tracked: self._answer(scope, tracked, body))
        finally:
            self._runs.release()

    def _full(self) -> bool:
        return self._runs.available_tokens == 0 and self._queued >= self._max_queued

    def _full_message(self) -> str:
        return (
            f"the gateway is running {self._runs.total_tokens:g} chat completions and {self._queued} more wait; "
            "try again shortly"
        )

    async def _busy(self, scope: Scope, send: Send, message: str) -> None:
        face = self.faces.get(scope["path"])
        body = face.error_shape(429, message) if face is not None else error_body(message, "rate_limit_error")
        await send_json(send, 429, body, headers=((b"retry-after", b"2"),))
        self.gateway.metrics.chat_completion("busy", face.label if face is not None else "openai")

    async def _read_body(self, receive: Receive, held: list[int]) -> bytes | None:
        """The whole body (`TOO_BIG` past `MAX_BODY_BYTES`), or None when the client left first; its bytes count
        in `held` and in the budget while they are kept.

        Raises:
            _OverBudget: The body would take the bytes held past `max_waiting_body_bytes`.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_BODY_BYTES and chunk:
                if self._held + len(chunk) > self._held_budget:
                    raise _OverBudget
                self._held += len(chunk)
                held[0] += len(chunk)
                chunks.append(chunk)
            if not message.get("more_body", False):
                return TOO_BIG if size > MAX_BODY_BYTES else b"".join(chunks)

    async def _answer(self, scope: Scope, send: Send, body: bytes) -> None:
        """Run the request's face, mapping what escapes it to an answer, and count the outcome."""
        started = [False]

        async def tracked(message: Any) -> None:
            started[0] = started[0] or message["type"] == "http.response.start"
            await send(message)  # `serve`'s host sends an answer's last bytes as it completes (`http/coalescing.py`)

        face = self.faces.get(scope["path"])
        label = face.label if face is not None else "openai"
        activity.face.set(label)  # this request's task: its model requests are shown with their face
        try:
            caller, person = client_key(scope), person_of(scope)
            async with self.budgets.run(caller, person):
                with acting_as(person):  # the person's own sessions, where a server's logins are
                    if face is not None:
                        outcome = await face.handle(self, body, body is TOO_BIG, tracked, caller)
                    else:
                        outcome = await self._handle(body, body is TOO_BIG, tracked, caller)
        except OverLimit as exc:
            shape = face.error_shape if face is not None else openai_error
            headers = ((b"retry-after", str(exc.retry_after).encode()),)
            await send_json(tracked, 429, shape(429, str(exc)), headers=headers)
            outcome = "over_limit"
        except Exception:  # boundary: a bug in one request must not take the service down
            logger.exception("chat request failed")
            outcome = "internal_error"
            if not started[0]:
                message = "internal error in glm-mcp; see its log"
                shape = face.error_shape if face is not None else openai_error
                await send_json(tracked, 500, shape(500, message))
        self.gateway.metrics.chat_completion(outcome, label)

    async def _handle(self, raw: bytes, too_big: bool, send: Send, caller: str) -> str:
        """Answer one request; returns its outcome for the metrics."""
        if too_big:
            await send_json(
                send, 413, error_body(f"the body is larger than {MAX_BODY_BYTES} bytes", "invalid_request_error")
            )
            return "invalid_request"
        try:
            request = self.parse(request_body(raw, "chat request"))
            request.caller = caller
        except RequestError as exc:
            await send_json(send, 400, error_body(str(exc), "invalid_request_error", param=exc.param))
            return "invalid_request"
        refused = await self.admit(request, send)
        if refused is not None:
            return refused
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if request.stream:
            return await self._stream(request, request_id, created, send)
        try:
            result = await self._run(request, None)
        except ModelError as exc:
            await send_json(send, status_for(exc), model_error_body(exc))
            return "model_error"
        if isinstance(result, T.InputRequiredResult):
            await send_json(send, 200, paused_completion_body(result, request.model, request_id, created))
            return "paused"
        await send_json(send, 200, completion_body(result, request.model, request_id, created, request.offer))
        return result.stopped_by or "ok"

    def parse(self, data: Any) -> ChatRequest:
        """`data` validated as a chat request to this gateway.

        Raises:
            RequestError: What is wrong with it, naming the field.
        """
        return ChatRequest(data, self.gateway.agent, self.gateway.servers, self.gateway.catalog.tools)

    async def refuse(self, send: Send, status: int, message: str, shape: ErrorShapeFnT = None) -> str:
        """Answer an error in the face's own shape (`shape`; the OpenAI face's by default); the outcome for the
        metrics."""
        await send_json(send, status, (shape or openai_error)(status, message))
        return "invalid_request" if status < 500 and status != 429 else "model_error"

    async def admit(self, request: ChatRequest, send: Send, shape: ErrorShapeFnT = None) -> str | None:
        """None when the request may run now; else its refusal was sent (in the face's `shape`, by default the
        OpenAI face's, with its codes and params), and this is the outcome."""

        async def refused(status: int, body: JsonObject) -> None:
            await send_json(send, status, body if shape is None else shape(status, body["error"]["message"]))

        if (missing := self.agent.model.config.missing_key) is not None:
            await refused(503, error_body(missing, "model_error", "no_model_key"))
            return "model_error"
        self._sinks = {token: sink for token, sink in self._sinks.items() if self.rounds.is_waiting(token)}
        if request.resume is not None and request.resume[0] not in self._sinks:
            message = f"the run this {ELICIT_TOOL} answer belongs to is unknown or expired: send the request again"
            await refused(400, error_body(message, "invalid_request_error", param="messages"))
            return "invalid_request"
        if request.resume is not None:
            try:
                self.rounds.check(request.resume[0], request.binding)
            except MCPError as exc:
                await refused(400, error_body(exc.message, "invalid_request_error", param="messages"))
                return "invalid_request"
        return None

    async def run_request(self, request: ChatRequest, target: EventFnT | None) -> AgentResult | T.InputRequiredResult:
        """Run a request of any face on the loop (see `_run`)."""
        return await self._run(request, target)

    async def _run(self, request: ChatRequest, target: EventFnT | None) -> AgentResult | T.InputRequiredResult:
        """The run's result; or, when the client answers servers' questions, the question it paused on. The GLM
        tokens of a finished run count against its caller's budget."""
        outcome = await self._outcome(request, target)
        if isinstance(outcome, AgentResult) and outcome.usage is not None:
            await self.budgets.spend(request.caller, current_person(), used_tokens(outcome.usage))
        return outcome

    async def _outcome(self, request: ChatRequest, target: EventFnT | None) -> AgentResult | T.InputRequiredResult:
        if not request.elicitation and request.resume is None:
            return await self.agent.run(
                request.forwarded, request.offer, stream=request.stream, on_event=target, max_steps=request.max_steps
            )
        params = request.paused_params
        sink = self._sinks.get(params.request_state) if params.request_state is not None else None
        if sink is None:
            sink = Sink()
        sink.target = target  # a resumed run's events go to the response that resumed it

        person = current_person()

        async def start(asker: Asker) -> AgentResult:
            with acting_as(person):  # the run goes on in a task of the rounds', not the request's
                return await self.agent.run(
                    request.forwarded,
                    request.offer,
                    stream=request.stream,
                    on_event=sink.on_event,
                    max_steps=request.max_steps,
                    asker=asker,
                )

        outcome = await self.rounds.run(params, ELICIT_CAPABILITIES, start, request.binding)
        if isinstance(outcome, T.InputRequiredResult) and outcome.request_state is not None:
            self._sinks[outcome.request_state] = sink
        return outcome

    async def _stream(self, request: ChatRequest, request_id: str, created: int, send: Send) -> str:
        out = ChunkStream(send, request.model, request_id, created, events=request.events)
        try:
            result = await self._run(request, out.on_event)
        except ModelError as exc:
            if not out.started:
                await send_json(send, status_for(exc), model_error_body(exc))
                return "model_error"
            await out.write(f"data: {dumps(model_error_body(exc))}\n\n")
            outcome = "model_error"
        else:
            if isinstance(result, T.InputRequiredResult):
                calls = [{"index": i, **call} for i, call in enumerate(elicit_calls(result))]
                await out.chunk({"tool_calls": calls})
                await out.chunk({}, "tool_calls")
                await out.write("data: [DONE]\n\n")
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return "paused"
            outcome = result.stopped_by or "ok"
            if result.stopped_by:
                await out.chunk({"content": result.turn.content})
            elif result.finish_reason == "content_filter" and result.note:
                # The model's text has been streamed already; the note the run appended to it has not.
                tail = f"[glm-mcp] {result.note}"
                await out.chunk({"content": tail if result.turn.content == tail else f"\n\n{tail}"})
            if result.client_calls:
                calls = [{"index": i, **call.to_wire()} for i, call in enumerate(result.client_calls)]
                await out.chunk({"tool_calls": calls})
            extra: JsonObject = {}
            if (facts := run_facts(result, request.offer)) is not None:
                extra["glm_mcp"] = facts
            await out.chunk({}, result.finish_reason, **extra)
            if request.include_usage and result.usage is not None:
                await out.chunk(None, usage=result.usage)
        await out.write("data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return outcome
