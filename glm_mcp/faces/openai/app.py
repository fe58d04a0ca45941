"""The OpenAI face: `/v1/chat/completions` (JSON and SSE) and `/v1/models`, turning requests into agent runs.

Contract:
- a request is the OpenAI chat-completions body; `glm_mcp: {"servers", "tools", "max_steps"}` narrows the
  run, `"events": false` leaves the `glm_mcp` events out of a stream; fields the gateway does not own
  (`thinking`, `tool_stream`, `temperature`, …) go to GLM unchanged;
- `tool_choice` "auto" (or absent) offers every tool, "none" offers none; anything else is refused with 400,
  because GLM only supports "auto";
- a streamed run sends standard `chat.completion.chunk`s: content and `reasoning_content` deltas of every step
  as they arrive, tool activity and retries as `glm_mcp` events, one final `finish_reason`, then `data: [DONE]`;
  the response starts with the first thing to send, so a model error before it gets its own status;
- a GLM error is never answered with a 2xx status (an error inside a 200 body is 502, or 429 for rate limits);
- `finish_reason: "sensitive"` becomes `content_filter`; a final answer cut by `length` or the context window
  keeps its finish reason and carries a note in `glm_mcp.note`;
- a client that disconnects cancels the model request and the running tool calls;
- errors are OpenAI-style bodies (`{"error": {"message", "type", "code", "param"}}`), GLM's code kept.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import mcp.types as T
from mcp import MCPError
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from glm_mcp import activity
from glm_mcp._json import as_list, as_object
from glm_mcp.agent.loop import Agent, AgentEvent, AgentResult, EventFnT, function_name
from glm_mcp.agent.offer import ToolOffer
from glm_mcp.catalog import closest
from glm_mcp.errors import ModelError, ModelHTTPError, ModelResponseError, ModelTimeout, ModelUnreachable, RequestError
from glm_mcp.faces.caller import client_key
from glm_mcp.gateway.core import Gateway
from glm_mcp.model.messages import JsonObject
from glm_mcp.model.profile import (
    LEADING_NEWLINES,
    MAX_TOOLS,
    TEMPERATURE_RANGE,
    TEXT_MODELS,
    TOOL_CHOICES,
    TOP_P_RANGE,
    is_rate_limit,
)
from glm_mcp.relay.asking import Asker
from glm_mcp.relay.rounds import Rounds

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 2**20
MAX_MESSAGES = 10_000
MAX_CLIENT_TOOLS = MAX_TOOLS
MAX_DEPTH = 100
"""JSON nesting a chat request may have: messages, tool schemas and arguments stay far below it."""
_GATEWAY_FIELDS = {"glm_mcp", "tools", "tool_choice", "stream", "stream_options", "n", "model"}
_TOOL_EVENT_CHARS = 2_000


def dumps(value: Any) -> str:
    """Compact JSON for the wire."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> JsonObject:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def text_of(content: Any, where: str, kinds: tuple[str, ...] = ("text",)) -> str:
    """The text of a string, or of a list of parts whose `type` is one of `kinds` (`refusal` parts too), one part
    a line.

    Raises:
        RequestError: A part that is not text (an image, a file): GLM's text models read text only; it is named.
    """
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for number, part in enumerate(as_list(content) or []):
        fields = as_object(part) or {}
        kind = fields.get("type")
        if kind in kinds and isinstance(fields.get("text"), str):
            texts.append(fields["text"])
        elif kind == "refusal" and isinstance(fields.get("refusal"), str):
            texts.append(fields["refusal"])
        else:
            shown = kind if isinstance(kind, str) else "untyped"
            raise RequestError(
                f"{where}[{number}] is a '{shown}' part, and GLM's text models take text only: send text parts (or "
                "a string), or name a GLM vision model (glm-4.5v) for images",
                f"{where}[{number}]",
            )
    return "\n".join(texts)


def client_tools(raw: Any, schema_key: str, kinds: tuple[object, ...], refused: str) -> list[JsonObject]:
    """Another API's client tools (`name`, `description`, the schema under `schema_key`, a `type` among `kinds`) as
    chat functions.

    Raises:
        RequestError: A tool of another kind or without a name, named by its place, with `refused` saying why.
    """
    tools: list[JsonObject] = []
    for index, item in enumerate(as_list(raw) or []):
        tool = as_object(item) or {}
        if tool.get("type") not in kinds or not isinstance(tool.get("name"), str):
            raise RequestError(f"tools[{index}] is a '{tool.get('type')}' tool: {refused}", f"tools[{index}]")
        function: JsonObject = {"name": tool["name"], "parameters": tool.get(schema_key) or {"type": "object"}}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def ask_for_a_call(messages: list[JsonObject], name: str | None) -> None:
    """What GLM cannot be forced to do (a call of `name`, or of any tool), asked for in words it follows: a line
    of the system prompt (the first message), added to it or as one of its own."""
    what = f"the tool {name}" if name else "one of the tools"
    line = f"Answer by calling {what}; do not answer in text."
    if messages and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{line}"}
    else:
        messages.insert(0, {"role": "system", "content": line})


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


ELICIT_TOOL = "glm__elicit"
"""The client tool a paused run calls when a server asks for a person's input
(`"glm_mcp": {"elicitation": "client"}`)."""

_ELICIT_CAPABILITIES = T.ClientCapabilities(
    elicitation=T.ElicitationCapability(form=T.FormElicitationCapability(), url=T.UrlElicitationCapability())
)


def _resumed(messages: list[Any]) -> tuple[str, str, T.ElicitResult] | None:
    """The paused run a request resumes: its last message is the tool answer to a `glm__elicit` call.

    Raises:
        RequestError: The answer is not an elicitation result.
    """
    last = as_object(messages[-1]) or {}
    call_id = last.get("tool_call_id")
    if last.get("role") != "tool" or not isinstance(call_id, str) or not call_id.startswith(f"{ELICIT_TOOL}-"):
        return None
    state, _, key = call_id.removeprefix(f"{ELICIT_TOOL}-").rpartition(".")
    content = last.get("content")
    text = content if isinstance(content, str) else json.dumps(content)
    try:
        answer = T.ElicitResult.model_validate_json(text)
    except ValidationError:
        raise RequestError(
            f'the answer to {ELICIT_TOOL} must be JSON like {{"action": "accept", "content": {{...}}}}, or '
            '{"action": "decline"} / {"action": "cancel"}',
            "messages",
        ) from None
    return state, key, answer


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


class ChatRequest:
    """A validated chat request."""

    def __init__(self, data: Any, gateway: Gateway) -> None:
        agent = gateway.agent
        body = as_object(data)
        if body is None:
            raise RequestError("the body must be a JSON object")
        messages = as_list(body.get("messages"))
        if not messages or not all(as_object(m) is not None for m in messages):
            raise RequestError("'messages' must be a non-empty array of message objects", "messages")
        if len(messages) > MAX_MESSAGES:
            raise RequestError(f"'messages' has more than {MAX_MESSAGES} messages", "messages")
        requested_model = body.get("model")
        vision = isinstance(requested_model, str) and _VISION_MODEL.fullmatch(requested_model.lower()) is not None
        messages = [_as_glm_message(as_object(message) or {}, index, vision) for index, message in enumerate(messages)]
        body = {**body, "messages": messages}
        tools = as_list(body.get("tools") or [])
        if tools is None or not all(function_name(tool) for tool in tools):
            raise RequestError("'tools' must be an array of function tools with names", "tools")
        if len(tools) > MAX_CLIENT_TOOLS:
            raise RequestError(f"'tools' has more than {MAX_CLIENT_TOOLS} tools, GLM's limit", "tools")
        choice = body.get("tool_choice", "auto")
        if choice not in (*TOOL_CHOICES, "none", None):
            raise RequestError(
                "GLM supports only tool_choice 'auto' (the gateway also accepts 'none'); "
                "it cannot force a tool: ask for it in the prompt instead",
                "tool_choice",
            )
        if body.get("n", 1) not in (1, None):
            raise RequestError("'n' must be 1: GLM returns one choice", "n")
        self.stream = bool(body.get("stream", False))
        options = as_object(body.get("stream_options")) or {}
        self.include_usage = bool(options.get("include_usage"))
        narrow = as_object(body.get("glm_mcp") or {})
        if narrow is None:
            raise RequestError(
                "'glm_mcp' must be an object with 'servers', 'tools', 'max_steps' or 'events'", "glm_mcp"
            )
        servers = _strings(narrow.get("servers"), "glm_mcp.servers", "an array of server names")
        known = set(gateway.servers)
        if servers is not None and (unknown := sorted(set(servers) - known)):
            raise RequestError(f"unknown servers {unknown}; configured: {sorted(known)}", "glm_mcp.servers")
        names = _strings(narrow.get("tools"), "glm_mcp.tools", "an array of exposed tool names")
        catalog = gateway.catalog.tools
        if names is not None and (unknown_tools := [name for name in names if name not in catalog]):
            first = unknown_tools[0]
            raise RequestError(
                f"unknown tools {unknown_tools}{closest(first, catalog)}; GET the gateway's tools with tools/list on "
                "/mcp or `glm-mcp tools`",
                "glm_mcp.tools",
            )
        max_steps = narrow.get("max_steps")
        if max_steps is not None and (not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1):
            raise RequestError("'glm_mcp.max_steps' must be a positive integer", "glm_mcp.max_steps")
        self.max_steps: int | None = max_steps
        events = narrow.get("events", True)
        if not isinstance(events, bool):
            raise RequestError("'glm_mcp.events' must be true or false", "glm_mcp.events")
        self.events = events
        elicitation = narrow.get("elicitation", "decline")
        if elicitation not in ("client", "decline"):
            raise RequestError('\'glm_mcp.elicitation\' must be "client" or "decline"', "glm_mcp.elicitation")
        self.elicitation = elicitation == "client"
        """The client answers servers' questions for a person, as calls of the tool `glm__elicit`."""
        self.caller = "local"
        """Who sent the request (the token it matched, or its address); set by the app."""
        self.resume = _resumed(messages)
        """(request_state, question key, answer) when the last message answers a `glm__elicit` call."""
        self.model = self._model(body.get("model"), agent)
        self.forwarded: JsonObject = {k: v for k, v in body.items() if k not in _GATEWAY_FIELDS}
        self.forwarded["model"] = self.model
        for key, (low, high) in (("temperature", TEMPERATURE_RANGE), ("top_p", TOP_P_RANGE)):
            value = self.forwarded.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and not low <= value <= high:
                # OpenAI allows temperature up to 2; GLM refuses what is outside its range.
                self.forwarded[key] = min(high, max(low, value))
                logger.info(
                    "%s %s is outside GLM's range [%s, %s]; sent %s", key, value, low, high, self.forwarded[key]
                )
        if self.stream:
            self.forwarded["stream_options"] = {"include_usage": True}
        if choice == "none":
            self.offer = ToolOffer(definitions=[], gateway_tools={}, left_out={})
        else:
            client_tools = [tool for tool in map(as_object, tools) if tool is not None]
            self.offer = agent.offer(client_tools, servers, names, messages)

    @property
    def binding(self) -> str:
        """What a paused run's state is bound to: a run is resumed only by the client that started it."""
        return json.dumps([self.caller, "v1/chat/completions"])

    @property
    def paused_params(self) -> T.InputResponseRequestParams:
        """The run to start (no state) or the paused one to resume, with the client's answer."""
        if self.resume is None:
            return T.InputResponseRequestParams()
        state, key, answer = self.resume
        return T.InputResponseRequestParams(request_state=state, input_responses={key: answer})

    @staticmethod
    def _model(requested: Any, agent: Agent) -> str:
        configured = agent.model.config.name
        # Clients built for OpenAI often send their own default model; only GLM names are passed on.
        if isinstance(requested, str) and requested.lower().startswith("glm"):
            return requested
        return configured


_TEXT_PARTS = ("text", "input_text", "output_text")
_VISION_MODEL = re.compile(r"glm-[0-9.]+v(-.*)?")
"""GLM's vision models (glm-4.5v, glm-4.6v-flash…), which take content parts; text models take a string."""


def _as_glm_message(message: JsonObject, index: int, vision: bool) -> JsonObject:
    """A message as GLM takes it: `developer` (OpenAI's newer name) as `system`, and content given as an array of
    text parts (as the OpenAI SDKs and the Agents SDK send it, in any role) as one string.

    Raises:
        RequestError: A part GLM's text models cannot take (an image, audio, a file), naming the message and part.
    """
    if message.get("role") == "developer":
        message = {**message, "role": "system"}
    if as_list(message.get("content")) is None or (vision and message.get("role") == "user"):
        return message
    return {**message, "content": text_of(message["content"], f"messages[{index}].content", _TEXT_PARTS)}


def _strings(value: Any, param: str, what: str) -> list[str] | None:
    if value is None:
        return None
    items = as_list(value)
    if items is None or not all(isinstance(item, str) for item in items):
        raise RequestError(f"'{param}' must be {what}", param)
    return [str(item) for item in items]


def _completion(
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
    if (extra := _run_facts(result, offer)) is not None:
        body["glm_mcp"] = extra
    return body


def _paused_completion(paused: T.InputRequiredResult, model: str, request_id: str, created: int) -> JsonObject:
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


class _Sink:
    """Where a run's events go: the response now serving it (a paused run moves to the one that resumes it)."""

    def __init__(self) -> None:
        self.target: EventFnT | None = None

    async def on_event(self, event: AgentEvent) -> None:
        if self.target is not None:
            await self.target(event)


def _run_facts(result: AgentResult, offer: ToolOffer | None = None) -> JsonObject | None:
    """The response's `glm_mcp` object: what was offered, why the run stopped early, how it ended."""
    facts: JsonObject = {}
    if offer is not None and offer.facts:
        facts["offer"] = offer.facts
    if result.stopped_by:
        facts.update(stopped_by=result.stopped_by, steps=result.steps)
    if result.note:
        facts["note"] = result.note
    return facts or None


class _Stream:
    """Writes one streamed run as `chat.completion.chunk`s; the response starts with the first chunk."""

    def __init__(self, send: Send, model: str, request_id: str, created: int, *, events: bool = True) -> None:
        self.send = send
        self.events = events
        self.started = False
        self.pending: list[str] = []
        """Frames written as soon as the response starts."""
        self.base = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model}

    async def write(self, text: str) -> None:
        if not self.started:
            self.started = True
            await start_event_stream(self.send)
            await self.chunk({"role": "assistant", "content": ""})
            for frame in self.pending:
                await self.send({"type": "http.response.body", "body": frame.encode(), "more_body": True})
        await self.send({"type": "http.response.body", "body": text.encode(), "more_body": True})

    async def chunk(self, delta: JsonObject | None, finish: str | None = None, **extra: Any) -> None:
        # Only the usage chunk has no choice (as OpenAI's own); an event rides on an empty delta, which the
        # common `chunk.choices[0].delta.content` loop reads safely.
        await self.write(self._frame(delta, finish, **extra))

    def _frame(self, delta: JsonObject | None, finish: str | None = None, **extra: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return f"data: {dumps({**self.base, 'choices': choices, **extra})}\n\n"

    async def on_event(self, event: AgentEvent) -> None:
        if event.kind == "content":
            await self.chunk({"content": event.text})
        elif event.kind == "reasoning_content":
            await self.chunk({"reasoning_content": event.text})
        elif event.kind == "offer" and self.events and not self.started:
            # Said before anything else, but without starting the response: a model error can still get its status.
            self.pending.append(self._frame({}, None, glm_mcp={"event": "offer", **event.data}))
        elif event.kind in ("tool_call", "tool_result", "retry", "offer") and self.events:
            data = dict(event.data)
            if isinstance(data.get("content"), str) and len(data["content"]) > _TOOL_EVENT_CHARS:
                data["content"] = data["content"][:_TOOL_EVENT_CHARS] + "…"
            await self.chunk({}, glm_mcp={"event": event.kind, **data})


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

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.agent = gateway.agent
        self.rounds = Rounds()
        """Runs paused on a server's question for the client (`glm__elicit`); run by the app's lifespan."""
        self._sinks: dict[str, _Sink] = {}
        limits = gateway.config.gateway
        self._runs = anyio.CapacityLimiter(limits.max_concurrent_runs)
        self._max_queued = limits.max_queued_runs
        self._queued = 0
        self.faces: dict[str, Face] = {}
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
            self._queued += 1
            try:
                await self._runs.acquire()
            finally:
                self._queued -= 1
        finally:
            self._held -= held[0]
        try:
            await self._serve(scope, receive, send, body)
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

    async def _serve(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        async with anyio.create_task_group() as tg:

            async def listen() -> None:
                # The body has arrived; a disconnect from now on cancels the whole run.
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(listen)
            started = [False]

            async def tracked(message: Any) -> None:
                started[0] = started[0] or message["type"] == "http.response.start"
                await send(message)

            face = self.faces.get(scope["path"])
            label = face.label if face is not None else "openai"
            activity.face.set(label)  # this request's task: its model requests are shown with their face
            try:
                caller = client_key(scope)
                if face is not None:
                    outcome = await face.handle(self, body, body is TOO_BIG, tracked, caller)
                else:
                    outcome = await self._handle(body, body is TOO_BIG, tracked, caller)
            except Exception:  # boundary: a bug in one request must not take the service down
                logger.exception("chat request failed")
                outcome = "internal_error"
                if not started[0]:
                    message = "internal error in glm-mcp; see its log"
                    shape = face.error_shape if face is not None else openai_error
                    await send_json(send, 500, shape(500, message))
            self.gateway.metrics.chat_completion(outcome, label)
            tg.cancel_scope.cancel()

    async def _handle(self, raw: bytes, too_big: bool, send: Send, caller: str) -> str:
        """Answer one request; returns its outcome for the metrics."""
        if too_big:
            await send_json(
                send, 413, error_body(f"the body is larger than {MAX_BODY_BYTES} bytes", "invalid_request_error")
            )
            return "invalid_request"
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except ValueError as exc:
            await send_json(send, 400, error_body(f"the body is not valid JSON: {exc}", "invalid_request_error"))
            return "invalid_request"
        except RecursionError:
            data = None
        if data is None or _too_deep(data):
            message = f"the body is nested more than {MAX_DEPTH} levels deep; no chat request is"
            await send_json(send, 400, error_body(message, "invalid_request_error"))
            return "invalid_request"
        try:
            request = ChatRequest(data, self.gateway)
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
            await send_json(send, 200, _paused_completion(result, request.model, request_id, created))
            return "paused"
        await send_json(send, 200, _completion(result, request.model, request_id, created, request.offer))
        return result.stopped_by or "ok"

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
        """The run's result; or, when the client answers servers' questions, the question it paused on."""
        if not request.elicitation and request.resume is None:
            return await self.agent.run(
                request.forwarded, request.offer, stream=request.stream, on_event=target, max_steps=request.max_steps
            )
        params = request.paused_params
        sink = self._sinks.get(params.request_state) if params.request_state is not None else None
        if sink is None:
            sink = _Sink()
        sink.target = target  # a resumed run's events go to the response that resumed it

        async def start(asker: Asker) -> AgentResult:
            return await self.agent.run(
                request.forwarded,
                request.offer,
                stream=request.stream,
                on_event=sink.on_event,
                max_steps=request.max_steps,
                asker=asker,
            )

        outcome = await self.rounds.run(params, _ELICIT_CAPABILITIES, start, request.binding)
        if isinstance(outcome, T.InputRequiredResult) and outcome.request_state is not None:
            self._sinks[outcome.request_state] = sink
        return outcome

    async def _stream(self, request: ChatRequest, request_id: str, created: int, send: Send) -> str:
        out = _Stream(send, request.model, request_id, created, events=request.events)
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
            if (facts := _run_facts(result, request.offer)) is not None:
                extra["glm_mcp"] = facts
            await out.chunk({}, result.finish_reason, **extra)
            if request.include_usage and result.usage is not None:
                await out.chunk(None, usage=result.usage)
        await out.write("data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return outcome


def _too_deep(value: Any) -> bool:
    """Whether JSON nests deeper than `MAX_DEPTH` (checked without recursion)."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        children: list[Any] = []
        for item in level:
            if (members := as_object(item)) is not None:
                children.extend(members.values())
            elif (elements := as_list(item)) is not None:
                children.extend(elements)
        level = children
        if not level:
            return False
    return True


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON, GLM and the encoder of the outgoing request do not.
    raise ValueError(f"{name} is not a JSON number")


async def send_json(send: Send, status: int, body: JsonObject, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    payload = dumps(body).encode()
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


def model_ids(agent: Agent) -> list[str]:
    """Every model a client may name: the configured one first, then GLM's text models (passed on as named)."""
    configured = agent.model.config.name
    return [configured, *(name for name in TEXT_MODELS if name != configured)]


def _model_object(name: str) -> JsonObject:
    return {"id": name, "object": "model", "created": 0, "owned_by": "glm-mcp"}


def models_body(agent: Agent) -> JsonObject:
    """The `/v1/models` list."""
    return {"object": "list", "data": [_model_object(name) for name in model_ids(agent)]}


def model_body(agent: Agent, name: str) -> tuple[int, JsonObject]:
    """(status, body) of `/v1/models/{name}`."""
    if name in model_ids(agent):
        return 200, _model_object(name)
    message = f"the model '{name}' does not exist here; /v1/models lists the models this gateway serves"
    return 404, error_body(message, "invalid_request_error", "model_not_found", "model")
