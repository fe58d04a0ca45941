"""A server's `sampling/createMessage`, answered by GLM: the request becomes a GLM chat body, the answer a result.

Contract:
- `sampling_body` keeps the messages (text, tool uses and tool results), the system prompt, `maxTokens`,
  `temperature` (brought into GLM's range), `stopSequences` and, from 2025-11-25, the request's tools (compiled by
  the same schema compiler as the gateway's) and `toolChoice` (`none` offers no tools; GLM knows no `required`);
- content GLM cannot read (images, audio) raises `SamplingError` with what to do, never a silent drop;
- `sampling_result` names the GLM model that answered and maps `finish_reason` to MCP's stop reasons; a tool
  call becomes `tool_use` content (`CreateMessageResultWithTools`).
"""

from __future__ import annotations

import json
from typing import Any

import mcp.types as T

from glm_mcp.errors import ArgumentsError, SamplingError, SchemaError
from glm_mcp.model.messages import JsonObject, Turn
from glm_mcp.model.profile import LEADING_NEWLINES, TEMPERATURE_RANGE
from glm_mcp.tools.arguments import read_arguments
from glm_mcp.tools.schema import compile_schema

_STOP_REASONS = {"stop": "endTurn", "length": "maxTokens", "tool_calls": "toolUse"}


def sampling_body(params: T.CreateMessageRequestParams, model: str) -> JsonObject:
    """The GLM chat body for a sampling request.

    Raises:
        SamplingError: The request holds content GLM cannot read, or a tool whose schema cannot be offered.
    """
    messages: list[JsonObject] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    for message in params.messages:
        messages.extend(_messages(message))
    body: JsonObject = {"model": model, "messages": messages, "max_tokens": params.max_tokens}
    if params.temperature is not None:
        low, high = TEMPERATURE_RANGE
        body["temperature"] = min(high, max(low, params.temperature))
    if params.stop_sequences:
        body["stop"] = list(params.stop_sequences)
    choice = params.tool_choice.mode if params.tool_choice is not None else None
    if params.tools and choice != "none":
        body["tools"] = [_function(tool) for tool in params.tools]
    return body


def _messages(message: T.SamplingMessage) -> list[JsonObject]:
    texts: list[str] = []
    calls: list[JsonObject] = []
    results: list[JsonObject] = []
    for block in message.content_as_list:
        if isinstance(block, T.TextContent):
            texts.append(block.text)
        elif isinstance(block, T.ToolUseContent):
            arguments = json.dumps(block.input, ensure_ascii=False)
            calls.append({"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}})
        elif isinstance(block, T.ToolResultContent):
            text = "\n".join(part.text for part in block.content if isinstance(part, T.TextContent))
            if block.structured_content is not None and not text:
                text = json.dumps(block.structured_content, ensure_ascii=False)
            results.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": text})
        else:
            raise SamplingError(
                f'GLM\'s text models cannot read {block.type} content; send text, or set "sampling": "editor" '
                "for this server so the editor answers"
            )
    out: list[JsonObject] = list(results)
    if texts or calls:
        entry: JsonObject = {"role": message.role, "content": "\n".join(texts)}
        if calls:
            entry["tool_calls"] = calls
        out.append(entry)
    return out


def _function(tool: T.Tool) -> JsonObject:
    try:
        parameters = compile_schema(tool.input_schema)
    except SchemaError as exc:
        raise SamplingError(f"the sampling tool '{tool.name}' cannot be offered to GLM: {exc}") from None
    description = tool.description or tool.title or tool.name
    return {"type": "function", "function": {"name": tool.name, "description": description, "parameters": parameters}}


def sampling_result(turn: Turn, model: str, with_tools: bool) -> T.CreateMessageResult | T.CreateMessageResultWithTools:
    """The sampling result for GLM's answer."""
    text = turn.content.lstrip(LEADING_NEWLINES)
    reason = _STOP_REASONS.get(turn.finish_reason or "", turn.finish_reason)
    name = turn.model or model
    if not with_tools:
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text=text), model=name, stop_reason=reason)
    blocks: list[T.SamplingMessageContentBlock] = [T.TextContent(text=text)] if text else []
    for call in turn.tool_calls:
        blocks.append(T.ToolUseContent(id=call.id, name=call.name, input=_input(call.arguments)))
    if turn.tool_calls:
        reason = "toolUse"
    return T.CreateMessageResultWithTools(role="assistant", content=blocks, model=name, stop_reason=reason)


def _input(arguments: str) -> dict[str, Any]:
    try:
        return read_arguments(arguments)
    except ArgumentsError as exc:
        raise SamplingError(f"GLM's tool call could not be read: {exc}") from None
