"""`POST /v1/responses`: the OpenAI Responses API, a translation layer over the chat face's loop.

Contract:
- a request is translated into the chat face's request (`instructions`, `input` as a string or items: messages,
  `function_call`, `function_call_output`; function `tools`, `tool_choice`, `max_output_tokens`, `reasoning`
  as GLM's thinking switch, `temperature`, `top_p`, the `glm_mcp` extension) and runs on the same loop;
- the answer is a `response` whose `output` holds a `reasoning` item (GLM's reasoning as a summary), a `message`
  with `output_text`, and `function_call` items for client tools (and `glm__elicit` when a run pauses); streamed,
  the Responses event sequence (`response.created`, `response.output_item.added`, `response.output_text.delta`,
  `response.function_call_arguments.delta`, `response.reasoning_summary_text.delta`, `response.completed`…);
- responses are kept (unless `store: false`) for `previous_response_id`: in memory, at most `MAX_STORED`, for
  `STORED_SECONDS`, each readable only by the caller that made it;
- errors keep the OpenAI shape, as the chat face's.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import mcp.types as T
from starlette.types import Send

from glm_mcp._json import JsonObject, as_list, as_object, dumps
from glm_mcp.agent.results import AgentEvent, AgentResult
from glm_mcp.errors import ModelError, RequestError
from glm_mcp.faces.openai.app import ChatCompletionsApp
from glm_mcp.faces.openai.request import (
    ELICIT_TOOL,
    ChatRequest,
    ask_for_a_call,
    client_tools,
    error_body,
    request_body,
    text_of,
)
from glm_mcp.faces.openai.writer import elicit_calls, model_error_body, send_json, start_event_stream, status_for
from glm_mcp.faces.response_store import ResponseStore
from glm_mcp.model.profile import LEADING_NEWLINES

PATH = "/v1/responses"
_PASSED = ("model", "temperature", "top_p", "stream", "glm_mcp")
_TEXT_PARTS = ("input_text", "output_text", "text")


def _input_messages(data: JsonObject) -> list[JsonObject]:
    """`input` as chat messages.

    Raises:
        RequestError: An item that cannot be read, named by its place.
    """
    raw = data.get("input", [])
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    items = as_list(raw)
    if items is None:
        raise RequestError("'input' must be a string or an array of items", "input")
    out: list[JsonObject] = []
    for index, item in enumerate(items):
        fields = as_object(item) or {}
        kind = fields.get("type", "message")
        where = f"input[{index}]"
        if kind == "message":
            role = fields.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise RequestError(f"{where}.role must be user, assistant, system or developer", where)
            out.append(
                {
                    "role": "system" if role == "developer" else role,
                    "content": text_of(fields.get("content"), f"{where}.content", _TEXT_PARTS),
                }
            )
        elif kind == "function_call":
            call = {"name": str(fields.get("name", "")), "arguments": str(fields.get("arguments", "{}"))}
            entry = {"id": str(fields.get("call_id", "")), "type": "function", "function": call}
            previous = out[-1] if out else None
            if previous is not None and previous.get("role") == "assistant" and "tool_calls" in previous:
                previous["tool_calls"].append(entry)
            else:
                out.append({"role": "assistant", "content": "", "tool_calls": [entry]})
        elif kind == "function_call_output":
            output = fields.get("output")
            text = output if isinstance(output, str) else text_of(output, f"{where}.output", _TEXT_PARTS)
            out.append({"role": "tool", "tool_call_id": str(fields.get("call_id", "")), "content": text})
        elif kind == "reasoning":
            continue  # GLM's reasoning of an earlier turn: the answer that followed it is what counts
        else:
            raise RequestError(f"{where} is a '{kind}' item, which glm-mcp cannot pass to GLM", where)
    return out


def to_chat_body(data: JsonObject, history: list[JsonObject]) -> JsonObject:
    """The chat face's request for a Responses API request, after the stored `history` (if any).

    Raises:
        RequestError: What cannot be translated, saying what to change.
    """
    body: JsonObject = {key: data[key] for key in _PASSED if key in data}
    messages: list[JsonObject] = []
    if isinstance(data.get("instructions"), str):
        messages.append({"role": "system", "content": data["instructions"]})
    messages += [message for message in history if message.get("role") != "system"] + _input_messages(data)
    refused = "glm-mcp takes function tools (OpenAI's built-in tools do not run on GLM; the gateway's are offered)"
    if tools := client_tools(data.get("tools"), "parameters", ("function",), refused):
        body["tools"] = tools
    choice: object = data.get("tool_choice")
    forced = as_object(choice)
    if choice == "none":
        body["tool_choice"] = "none"
    elif choice == "required" or forced is not None:
        named = (forced or {}).get("name")
        ask_for_a_call(messages, str(named) if named else None)
    if isinstance(data.get("max_output_tokens"), int):
        body["max_tokens"] = data["max_output_tokens"]
    reasoning = as_object(data.get("reasoning"))
    if reasoning is not None:
        body["thinking"] = {"type": "disabled" if reasoning.get("effort") in ("none", "minimal") else "enabled"}
    body["messages"] = messages
    return body


def _usage(usage: JsonObject | None) -> JsonObject:
    fields = usage or {}
    given, taken = int(fields.get("prompt_tokens") or 0), int(fields.get("completion_tokens") or 0)
    cached = (as_object(fields.get("prompt_tokens_details")) or {}).get("cached_tokens")
    reasoning = (as_object(fields.get("completion_tokens_details")) or {}).get("reasoning_tokens")
    return {
        "input_tokens": given,
        "input_tokens_details": {"cached_tokens": cached if isinstance(cached, int) else 0},
        "output_tokens": taken,
        "output_tokens_details": {"reasoning_tokens": reasoning if isinstance(reasoning, int) else 0},
        "total_tokens": given + taken,
    }


def _item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _output(result: AgentResult | T.InputRequiredResult) -> list[JsonObject]:
    if isinstance(result, T.InputRequiredResult):
        return [_function_call(call["id"], ELICIT_TOOL, call["function"]["arguments"]) for call in elicit_calls(result)]
    items: list[JsonObject] = []
    if result.turn.reasoning_content:
        summary = [{"type": "summary_text", "text": result.turn.reasoning_content}]
        items.append({"type": "reasoning", "id": _item_id("rs"), "summary": summary})
    if text := result.turn.content.lstrip(LEADING_NEWLINES):
        items.append(_message(_item_id("msg"), text))
    items += [_function_call(call.id, call.name, call.arguments) for call in result.client_calls]
    return items


def _message(item_id: str, text: str, status: str = "completed") -> JsonObject:
    content: list[JsonObject] = (
        [{"type": "output_text", "text": text, "annotations": []}] if text or status == "completed" else []
    )
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _function_call(call_id: str, name: str, arguments: str) -> JsonObject:
    return {
        "type": "function_call",
        "id": _item_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def _response(
    response_id: str, model: str, data: JsonObject, output: list[JsonObject], usage: JsonObject | None, status: str
) -> JsonObject:
    body: JsonObject = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": data.get("tool_choice", "auto"),
        "tools": data.get("tools", []),
        "instructions": data.get("instructions"),
        "previous_response_id": data.get("previous_response_id"),
        "store": data.get("store", True) is not False,
        "error": None,
        "incomplete_details": None,
    }
    if usage is not None:
        body["usage"] = usage
    return body


class _ResponseStream:
    """Writes one streamed run as the Responses API's events."""

    def __init__(self, send: Send, shell: JsonObject, *, events: bool) -> None:
        self.send = send
        self.shell = shell
        self.events = events
        self.started = False
        self.sequence = 0
        self.output: list[JsonObject] = []
        self.open: JsonObject | None = None
        """The message or reasoning item being written."""

    async def event(self, name: str, data: JsonObject) -> None:
        if not self.started:
            self.started = True
            await start_event_stream(self.send)
            for first in ("response.created", "response.in_progress"):
                await self._frame(first, {"type": first, "response": {**self.shell, "status": "in_progress"}})
        await self._frame(name, {"type": name, **data})

    async def _frame(self, name: str, data: JsonObject) -> None:
        data["sequence_number"] = self.sequence
        self.sequence += 1
        frame = f"event: {name}\ndata: {dumps(data)}\n\n".encode()
        await self.send({"type": "http.response.body", "body": frame, "more_body": True})

    async def _open(self, kind: str) -> JsonObject:
        if self.open is not None and self.open["type"] == kind:
            return self.open
        await self.close()
        index = len(self.output)
        item: JsonObject
        if kind == "message":
            item = _message(_item_id("msg"), "", "in_progress")
            await self.event("response.output_item.added", {"output_index": index, "item": item})
            part: JsonObject = {"type": "output_text", "text": "", "annotations": []}
            await self.event(
                "response.content_part.added",
                {"item_id": item["id"], "output_index": index, "content_index": 0, "part": part},
            )
            item["content"] = [part]
        else:
            item = {"type": "reasoning", "id": _item_id("rs"), "summary": []}
            await self.event("response.output_item.added", {"output_index": index, "item": item})
            part = {"type": "summary_text", "text": ""}
            await self.event(
                "response.reasoning_summary_part.added",
                {"item_id": item["id"], "output_index": index, "summary_index": 0, "part": part},
            )
            item["summary"] = [part]
        self.output.append(item)
        self.open = item
        return item

    async def close(self) -> None:
        item, self.open = self.open, None
        if item is None:
            return
        index = self.output.index(item)
        if item["type"] == "message":
            part = item["content"][0]
            ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
            await self.event("response.output_text.done", {**ids, "text": part["text"]})
            await self.event("response.content_part.done", {**ids, "part": part})
            item["status"] = "completed"
        else:
            part = item["summary"][0]
            ids = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            await self.event("response.reasoning_summary_text.done", {**ids, "text": part["text"]})
            await self.event("response.reasoning_summary_part.done", {**ids, "part": part})
        await self.event("response.output_item.done", {"output_index": index, "item": item})

    async def text(self, text: str) -> None:
        if not text:
            return
        item = await self._open("message")
        item["content"][0]["text"] += text
        ids = {"item_id": item["id"], "output_index": self.output.index(item), "content_index": 0}
        await self.event("response.output_text.delta", {**ids, "delta": text})

    async def function_call(self, call_id: str, name: str, arguments: str) -> None:
        await self.close()
        index = len(self.output)
        item = {**_function_call(call_id, name, ""), "status": "in_progress"}
        await self.event("response.output_item.added", {"output_index": index, "item": item})
        ids = {"item_id": item["id"], "output_index": index}
        await self.event("response.function_call_arguments.delta", {**ids, "delta": arguments})
        await self.event("response.function_call_arguments.done", {**ids, "arguments": arguments})
        item.update(arguments=arguments, status="completed")
        self.output.append(item)
        await self.event("response.output_item.done", {"output_index": index, "item": item})

    async def on_event(self, event: AgentEvent) -> None:
        if event.kind == "content":
            await self.text(event.text)
        elif event.kind == "reasoning_content":
            item = await self._open("reasoning")
            item["summary"][0]["text"] += event.text
            ids = {"item_id": item["id"], "output_index": self.output.index(item), "summary_index": 0}
            await self.event("response.reasoning_summary_text.delta", {**ids, "delta": event.text})
        elif self.events:
            # The gateway's own tool activity: an event type of its own, which the SDKs pass over.
            await self.event("glm_mcp", {"event": event.kind, "text": event.text, **event.data})

    async def finish(self, usage: JsonObject | None) -> None:
        await self.close()
        final = {**self.shell, "status": "completed", "output": self.output}
        if usage is not None:
            final["usage"] = usage
        await self.event("response.completed", {"response": final})
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})


def _conversation(request: ChatRequest, output: list[JsonObject]) -> list[JsonObject]:
    """The chat messages of a finished response, for a later `previous_response_id`."""
    messages = [message for message in request.forwarded.get("messages", []) if message.get("role") != "system"]
    text = "".join(part["text"] for item in output if item["type"] == "message" for part in item["content"])
    calls = [
        {"id": item["call_id"], "type": "function", "function": {"name": item["name"], "arguments": item["arguments"]}}
        for item in output
        if item["type"] == "function_call"
    ]
    answer: JsonObject = {"role": "assistant", "content": text}
    if calls:
        answer["tool_calls"] = calls
    return [*messages, answer]


def handler(store: ResponseStore) -> Any:
    """The `/v1/responses` face over the chat face's loop, keeping its responses in `store`."""

    async def handle(app: ChatCompletionsApp, raw: bytes, too_big: bool, send: Send, caller: str) -> str:
        if too_big:
            return await app.refuse(send, 413, "the body is larger than the gateway takes (8 MiB)")
        try:
            data = request_body(raw, "Responses API request")
        except RequestError as exc:
            return await app.refuse(send, 400, str(exc))
        try:
            previous = data.get("previous_response_id")
            history = store.get(str(previous), caller) if previous is not None else []
            request = app.parse(to_chat_body(data, history))
        except RequestError as exc:
            await send_json(send, 400, error_body(str(exc), "invalid_request_error", param=exc.param))
            return "invalid_request"
        request.caller = caller
        refused = await app.admit(request, send)
        if refused is not None:
            return refused
        response_id = _item_id("resp")
        model = str(data.get("model") or request.model)
        shell = _response(response_id, model, data, [], None, "in_progress")
        stream = _ResponseStream(send, shell, events=request.events) if request.stream else None
        try:
            result = await app.run_request(request, stream.on_event if stream is not None else None)
        except ModelError as exc:
            if stream is None or not stream.started:
                await send_json(send, status_for(exc), model_error_body(exc))  # as the chat face answers it
                return "model_error"
            failed = {**shell, "status": "failed", "error": {"code": exc.code or "model_error", "message": exc.message}}
            await stream.event("response.failed", {"response": failed})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return "model_error"
        usage = _usage(result.usage) if isinstance(result, AgentResult) else None
        if stream is not None:
            if isinstance(result, AgentResult) and result.stopped_by:
                await stream.text(result.turn.content)
            for item in _output(result):
                if item["type"] == "function_call":
                    await stream.function_call(item["call_id"], item["name"], item["arguments"])
            await stream.finish(usage)
            output = stream.output
        else:
            output = _output(result)
            await send_json(send, 200, _response(response_id, model, data, output, usage, "completed"))
        if data.get("store", True) is not False:
            conversation = _conversation(request, output)
            store.put(response_id, caller, conversation, len(raw) + len(conversation[-1]["content"]))
        if isinstance(result, T.InputRequiredResult):
            return "paused"
        return result.stopped_by or "ok"

    return handle
