"""`POST /v1/messages`: the Anthropic Messages API, a translation layer over the chat face's loop.

Contract:
- a request is translated into the chat face's request (system, messages with text, `tool_use`, `tool_result` and
  `thinking` blocks, client `tools`, `tool_choice`, `max_tokens`, `temperature`, `top_p`, `stop_sequences`,
  `thinking`, the `glm_mcp` extension) and runs on the same loop, offer, policies, admission and limits;
- the answer is a `message`: `thinking` (GLM's reasoning), `text` and `tool_use` blocks (client tools, and
  `glm__elicit` when a run pauses on a server's question), `stop_reason` (`end_turn`, `tool_use`, `max_tokens`,
  `refusal` for GLM's content filter) and `usage`; streamed, Anthropic's event sequence (`message_start`,
  `content_block_start`/`_delta`/`_stop`, `message_delta`, `message_stop`, `ping`), each step as it happens, and
  the gateway's own activity as `glm_mcp` events a stock client skips;
- every error has Anthropic's shape, `{"type": "error", "error": {"type", "message"}}`, with the matching status;
- `count_tokens` answers an estimate (characters / 4), and says it is one.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import mcp.types as T
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Send

from glm_mcp._json import JsonObject, as_list, as_object, dumps
from glm_mcp.agent.results import AgentEvent, AgentResult
from glm_mcp.errors import ModelError, RequestError
from glm_mcp.faces.openai.app import ChatCompletionsApp
from glm_mcp.faces.openai.request import ELICIT_TOOL, ask_for_a_call, client_tools, request_body, text_of
from glm_mcp.faces.openai.writer import elicit_calls, model_error_body, send_json, start_event_stream, status_for
from glm_mcp.model.profile import LEADING_NEWLINES

PATH = "/v1/messages"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}
_PASSED = ("model", "max_tokens", "temperature", "top_p", "stream", "glm_mcp")
_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}
_SIGNATURE = "glm-mcp"
"""The `signature` of a thinking block: Anthropic's clients require one; GLM's reasoning carries none."""


def error_shape(status: int, message: str) -> JsonObject:
    """An error body as Anthropic's API writes it."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _messages(data: JsonObject) -> list[JsonObject]:
    """The conversation as chat messages.

    Raises:
        RequestError: A message or block that cannot be read, named by its place.
    """
    out: list[JsonObject] = []
    system: list[str] = []
    if data.get("system") is not None:
        system.append(text_of(data["system"], "system"))
    for index, raw in enumerate(as_list(data.get("messages")) or []):
        message = as_object(raw)
        if message is not None and message.get("role") == "system":
            # Claude Code may send system text as a message of its own: it joins the system prompt, first.
            system.append(text_of(message.get("content") or "", f"messages[{index}]"))
            continue
        if message is None or message.get("role") not in ("user", "assistant"):
            raise RequestError(f"messages[{index}] must be an object with role 'user' or 'assistant'", "messages")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else as_list(content)
        if blocks is None:
            raise RequestError(f"messages[{index}].content must be a string or an array of blocks", "messages")
        texts: list[str] = []
        reasoning: list[str] = []
        calls: list[JsonObject] = []
        results: list[JsonObject] = []
        for number, raw_block in enumerate(blocks):
            block = as_object(raw_block) or {}
            kind = block.get("type")
            where = f"messages[{index}].content[{number}]"
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind in ("thinking", "redacted_thinking"):
                reasoning.append(str(block.get("thinking", "")))
            elif kind == "tool_use" and message["role"] == "assistant":
                arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
                call = {"name": str(block.get("name", "")), "arguments": arguments}
                calls.append({"id": str(block.get("id", "")), "type": "function", "function": call})
            elif kind == "tool_result" and message["role"] == "user":
                text = text_of(block.get("content") or "", f"{where}.content")
                if block.get("is_error"):
                    text = f"Error: {text}"
                results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text})
            else:
                raise RequestError(
                    f"{where} is a '{kind}' block; glm-mcp passes text, tool_use, tool_result and thinking blocks "
                    "to GLM's text models",
                    where,
                )
        out.extend(results)  # tool results answer the previous assistant turn, before this turn's text
        if texts or calls or reasoning or not results:
            turn: JsonObject = {"role": message["role"], "content": "\n".join(texts)}
            if calls:
                turn["tool_calls"] = calls
            if reasoning:
                turn["reasoning_content"] = "\n".join(reasoning)
            out.append(turn)
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + out


def to_chat_body(data: JsonObject) -> JsonObject:
    """The chat face's request for a Messages API request.

    Raises:
        RequestError: What cannot be translated, saying what to change.
    """
    body: JsonObject = {key: data[key] for key in _PASSED if key in data}
    messages = _messages(data)
    refused = "glm-mcp takes client tools with a name and an input_schema (Anthropic's server tools do not run on GLM)"
    if tools := client_tools(data.get("tools"), "input_schema", (None, "custom"), refused):
        body["tools"] = tools
    choice = as_object(data.get("tool_choice")) or {}
    kind = choice.get("type", "auto")
    if kind == "none":
        body["tool_choice"] = "none"
    elif kind in ("any", "tool"):
        ask_for_a_call(messages, str(choice.get("name")) if kind == "tool" else None)
    elif kind != "auto":
        raise RequestError("tool_choice.type must be auto, any, tool or none", "tool_choice")
    if isinstance(data.get("stop_sequences"), list):
        body["stop"] = data["stop_sequences"]
    thinking = as_object(data.get("thinking"))
    if thinking is not None:
        enabled = thinking.get("type") in ("enabled", "adaptive")
        body["thinking"] = {"type": "enabled" if enabled else "disabled"}
    body["messages"] = messages
    return body


def _usage(usage: JsonObject | None) -> JsonObject:
    fields = usage or {}
    shown: JsonObject = {
        "input_tokens": int(fields.get("prompt_tokens") or 0),
        "output_tokens": int(fields.get("completion_tokens") or 0),
    }
    cached = (as_object(fields.get("prompt_tokens_details")) or {}).get("cached_tokens")
    if isinstance(cached, int):
        shown["cache_read_input_tokens"] = cached
    return shown


def _input(arguments: str) -> JsonObject:
    try:
        return as_object(json.loads(arguments)) or {}
    except ValueError:
        return {}


def _stop_reason(result: AgentResult) -> str:
    if result.client_calls:
        return "tool_use"
    return _STOP_REASONS.get(result.finish_reason, "end_turn")


def message_body(result: AgentResult, model: str, message_id: str) -> JsonObject:
    """The `message` for a finished run."""
    content: list[JsonObject] = []
    if result.turn.reasoning_content:
        content.append({"type": "thinking", "thinking": result.turn.reasoning_content, "signature": _SIGNATURE})
    if text := result.turn.content.lstrip(LEADING_NEWLINES):
        content.append({"type": "text", "text": text})
    for call in result.client_calls:
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call.arguments)})
    body: JsonObject = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(result),
        "stop_sequence": None,
        "usage": _usage(result.usage),
    }
    if result.stopped_by or result.note:
        body["glm_mcp"] = {
            key: value for key, value in (("stopped_by", result.stopped_by), ("note", result.note)) if value
        }
    return body


def _paused_blocks(paused: T.InputRequiredResult) -> list[JsonObject]:
    return [
        {"type": "tool_use", "id": call["id"], "name": ELICIT_TOOL, "input": _input(call["function"]["arguments"])}
        for call in elicit_calls(paused)
    ]


class _MessagesStream:
    """Writes one streamed run as Anthropic's events; the response starts with `message_start`."""

    def __init__(self, send: Send, model: str, message_id: str, *, events: bool) -> None:
        self.send = send
        self.model = model
        self.message_id = message_id
        self.events = events
        self.started = False
        self.index = -1
        self.open: str | None = None
        """The kind of the content block being written ("text", "thinking"), or None."""

    async def event(self, name: str, data: JsonObject) -> None:
        if not self.started:
            self.started = True
            await start_event_stream(self.send)
            message: JsonObject = {
                "id": self.message_id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            await self._frame("message_start", {"type": "message_start", "message": message})
            await self._frame("ping", {"type": "ping"})
        await self._frame(name, data)

    async def _frame(self, name: str, data: JsonObject) -> None:
        frame = f"event: {name}\ndata: {dumps(data)}\n\n".encode()
        await self.send({"type": "http.response.body", "body": frame, "more_body": True})

    async def _block(self, kind: str, block: JsonObject) -> None:
        """Open a content block of `kind` unless one is open already."""
        if self.open == kind:
            return
        await self.close_block()
        self.index += 1
        self.open = kind
        await self.event(
            "content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block}
        )

    async def close_block(self) -> None:
        if self.open is None:
            return
        if self.open == "thinking":
            delta = {"type": "signature_delta", "signature": _SIGNATURE}
            await self.event(
                "content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta}
            )
        await self.event("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.open = None

    async def text(self, text: str) -> None:
        if not text:
            return
        await self._block("text", {"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        await self.event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    async def tool_use(self, call_id: str, name: str, arguments: JsonObject) -> None:
        await self.close_block()
        await self._block("tool_use", {"type": "tool_use", "id": call_id, "name": name, "input": {}})
        delta = {"type": "input_json_delta", "partial_json": dumps(arguments)}
        await self.event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})
        await self.close_block()

    async def on_event(self, event: AgentEvent) -> None:
        if event.kind == "content":
            await self.text(event.text)
        elif event.kind == "reasoning_content":
            await self._block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            delta = {"type": "thinking_delta", "thinking": event.text}
            await self.event(
                "content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta}
            )
        elif self.events:
            # The gateway's own tool activity: an event of its own name, which Anthropic's clients pass over.
            await self.event("glm_mcp", {"type": "glm_mcp", "event": event.kind, "text": event.text, **event.data})

    async def finish(self, stop_reason: str, usage: JsonObject, extra: JsonObject | None = None) -> None:
        await self.close_block()
        delta: JsonObject = {"stop_reason": stop_reason, "stop_sequence": None}
        data: JsonObject = {"type": "message_delta", "delta": delta, "usage": usage}
        if extra:
            data["glm_mcp"] = extra
        await self.event("message_delta", data)
        await self.event("message_stop", {"type": "message_stop"})
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


async def handle_messages(app: ChatCompletionsApp, raw: bytes, too_big: bool, send: Send, caller: str) -> str:
    """Answer one `POST /v1/messages` on the chat face's loop; returns the outcome for the metrics."""
    if too_big:
        return await app.refuse(send, 413, "the body is larger than the gateway takes (8 MiB)", error_shape)
    try:
        data = request_body(raw, "Messages API request")
    except RequestError as exc:
        return await app.refuse(send, 400, str(exc), error_shape)
    if not isinstance(data.get("max_tokens"), int):
        return await app.refuse(
            send, 400, "max_tokens: Field required (an integer, as the Messages API asks)", error_shape
        )
    try:
        request = app.parse(to_chat_body(data))
    except RequestError as exc:
        return await app.refuse(send, 400, str(exc), error_shape)
    request.caller = caller
    refused = await app.admit(request, send, error_shape)
    if refused is not None:
        return refused
    message_id = f"msg_{uuid.uuid4().hex}"
    model = str(data.get("model") or request.model)
    if request.stream:
        out = _MessagesStream(send, model, message_id, events=request.events)
        try:
            result = await app.run_request(request, out.on_event)
        except ModelError as exc:
            if not out.started:
                return await app.refuse(send, status_for(exc), f"GLM: {exc.message}", error_shape)
            error = error_shape(status_for(exc), str(model_error_body(exc)["error"]["message"]))
            await out.event("error", error)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return "model_error"
        if isinstance(result, T.InputRequiredResult):
            for block in _paused_blocks(result):
                await out.tool_use(block["id"], block["name"], block["input"])
            await out.finish("tool_use", _usage(None), {"paused": True})
            return "paused"
        if result.stopped_by:
            await out.text(result.turn.content)
        for call in result.client_calls:
            await out.tool_use(call.id, call.name, _input(call.arguments))
        facts = {key: value for key, value in (("stopped_by", result.stopped_by), ("note", result.note)) if value}
        await out.finish(_stop_reason(result), _usage(result.usage), facts or None)
        return result.stopped_by or "ok"
    try:
        result = await app.run_request(request, None)
    except ModelError as exc:
        return await app.refuse(send, status_for(exc), f"GLM: {exc.message}", error_shape)
    if isinstance(result, T.InputRequiredResult):
        body = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _paused_blocks(result),
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": _usage(None),
            "glm_mcp": {"paused": True},
        }
        await send_json(send, 200, body)
        return "paused"
    await send_json(send, 200, message_body(result, model, message_id))
    return result.stopped_by or "ok"


def models_shape(names: list[str]) -> JsonObject:
    """`GET /v1/models` as Anthropic's API lists models."""
    data = [{"type": "model", "id": name, "display_name": name, "created_at": "1970-01-01T00:00:00Z"} for name in names]
    return {
        "data": data,
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }


def count_tokens_route(app: ChatCompletionsApp) -> Any:
    """`POST /v1/messages/count_tokens`: an estimate of the request's input tokens (characters / 4)."""

    async def count_tokens(request: Request) -> Response:
        try:
            data = as_object(await request.json())
            if data is None:
                raise RequestError("the body must be a JSON object: a Messages API request")
            chat = app.parse(to_chat_body({**data, "max_tokens": 1}))
        except (ValueError, RequestError) as exc:
            return JSONResponse(error_shape(400, str(exc)), status_code=400)
        sent = dumps(chat.forwarded.get("messages", [])) + dumps(chat.offer.definitions)
        return JSONResponse({"input_tokens": max(1, len(sent) // 4), "glm_mcp": {"estimate": True}})

    return count_tokens
