"""The model's tool calls as the loop reads them: leaked `<tool_call>` blocks recovered, arguments read (or why they
cannot be), the assistant message GLM accepts back, and a person's consent to a call that may change data."""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp.types as T

from glm_mcp._json import as_object
from glm_mcp.errors import ArgumentsError, TruncatedArgumentsError
from glm_mcp.model.messages import JsonObject, ToolCall, Turn
from glm_mcp.model.xml_calls import LeakedCall, clean_name, take_calls
from glm_mcp.relay.asking import Asker
from glm_mcp.tools.arguments import prepare_arguments, read_arguments

logger = logging.getLogger(__name__)

_SHOWN_ARGUMENTS = 500
"""Characters of a call's arguments shown to the person asked to allow it."""


async def confirm_destructive(
    asker: Asker | None, name: str, server: str, arguments: JsonObject, who: str
) -> str | None:
    """Ask the person behind `asker` to allow a call that may change or delete data, showing its arguments: their
    answer (`"accept"`, `"decline"`, `"cancel"`, or `"no answer"` when asking failed), or None when nobody can be
    asked. Only `"accept"` allows the call."""
    if asker is None or asker.elicit is None:
        return None
    shown = json.dumps(arguments, ensure_ascii=False)
    if len(shown) > _SHOWN_ARGUMENTS:
        shown = shown[:_SHOWN_ARGUMENTS] + "…"
    question = T.ElicitRequestFormParams(
        message=f"{who} wants to run {name} on '{server}', which may change or delete data, with {shown}. Allow it?",
        requested_schema={"type": "object", "properties": {}},
    )
    try:
        answer = await asker.elicit(question)
    except Exception as exc:  # boundary: no answer is a refusal, never a run
        logger.warning("confirming %s failed: %s", name, exc)
        return "no answer"
    return answer.action if isinstance(answer, T.ElicitResult) else "no answer"


def recover_calls(turn: Turn, offered: frozenset[str]) -> None:
    """Leaked `<tool_call>` blocks become calls; leaked tags leave structured calls' names."""
    for call in turn.tool_calls:
        if call.name not in offered:
            call.name = clean_name(call.name)
    if not offered:
        return
    found: list[LeakedCall] = []
    for kind in ("reasoning_content", "content"):
        text, calls = take_calls(getattr(turn, kind), offered)
        setattr(turn, kind, text)
        found.extend(calls)
    for leaked in found:
        position = len(turn.tool_calls)
        arguments = json.dumps(leaked.arguments, ensure_ascii=False)
        call = ToolCall(id=f"call_glm_mcp_{position}", name=leaked.name, arguments=arguments, cut_off=leaked.cut_off)
        turn.tool_calls.append(call)
    seen: set[str] = set()
    for call in turn.tool_calls:  # every call must be answered by its own id
        if call.id in seen:
            call.id = f"{call.id}_{len(seen)}"
        seen.add(call.id)
    if found:
        logger.info("recovered %d tool calls GLM wrote as text", len(found))
        if turn.finish_reason in (None, "stop"):
            turn.finish_reason = "tool_calls"


Reading = JsonObject | ArgumentsError
"""A call's arguments as read (see `tools.arguments.read_arguments`), or why they cannot be read."""


def read_call(call: ToolCall) -> Reading:
    if call.cut_off:
        return TruncatedArgumentsError("the answer ended inside the <tool_call> block")
    try:
        return read_arguments(call.arguments)
    except ArgumentsError as exc:
        return exc


def fit_for_the_client(calls: list[ToolCall], readings: dict[str, Reading], schemas: dict[str, Any]) -> bool:
    """Whether `calls` (to the client's own tools, whose input schemas are `schemas`) can go to the client: every
    one's arguments were read and, decoded and converted as for a gateway tool, fit its schema. Each then goes with
    them as strict JSON, so the client's parser reads what the gateway read, never nothing. A call that cannot go
    has why in `readings`."""
    for call in calls:
        reading = readings[call.id]
        if isinstance(reading, ArgumentsError):
            continue
        try:
            readings[call.id] = prepare_arguments(reading, as_object(schemas.get(call.name)) or {"type": "object"})
        except ArgumentsError as exc:
            readings[call.id] = exc
    if any(isinstance(readings[call.id], ArgumentsError) for call in calls):
        return False
    for call in calls:
        call.arguments = json.dumps(readings[call.id], ensure_ascii=False)
    return True


def not_handed_message(call: ToolCall, reading: Reading) -> str:
    """What GLM is told of a call to a client's tool that was not handed to the client."""
    if isinstance(reading, ArgumentsError):
        return (
            f"Error: this call to {call.name} was not handed to the client: {reading}. Call {call.name} again with "
            "arguments that fit its parameters, as a JSON object."
        )
    return (
        f"Error: {call.name} was not handed to the client: another call of the same answer was cut off or could not "
        "be used. Make this call again together with the repeated one."
    )


def cut_off_message(call: ToolCall, problem: TruncatedArgumentsError, token_limit: bool) -> str:
    why = ' Your answer hit the token limit (finish_reason "length").' if token_limit else ""
    advice = " Keep each call short enough: split long content over several calls." if token_limit else ""
    return (
        f"Error: the arguments of this call to {call.name} were cut off ({problem}), so it was not run.{why} "
        f"Call {call.name} again with complete arguments.{advice}"
    )


def for_the_model(turn: Turn, readings: dict[str, Reading]) -> JsonObject:
    """The assistant message for the next request: every call's arguments as a JSON string GLM accepts (what was
    read, or `{}` for a call that could not be read)."""
    message = turn.to_message()
    for wire in message.get("tool_calls", []):
        reading = readings[wire["id"]]
        wire["function"]["arguments"] = (
            "{}" if isinstance(reading, ArgumentsError) else json.dumps(reading, ensure_ascii=False)
        )
    return message
