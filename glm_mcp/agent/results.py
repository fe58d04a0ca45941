"""What a run of the tool loop takes and gives: its limits, the events a client may watch, and how it ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from glm_mcp.model.messages import JsonObject, ToolCall, Turn


@dataclass(frozen=True)
class AgentLimits:
    """How far one run may go."""

    max_steps: int = 10
    """Model turns."""
    max_tool_calls: int = 64
    """Tool calls, all steps together."""
    max_seconds: float = 600.0
    """Wall time of the whole run."""
    max_result_chars: int = 20_000
    """Characters of one tool result shown to the model."""


@dataclass
class AgentEvent:
    """Something the client may want to see as it happens."""

    kind: str
    """"content", "reasoning_content", "tool_call", "tool_result", "retry", "offer" or "step"."""
    text: str = ""
    data: JsonObject = field(default_factory=dict[str, Any])


EventFnT = Callable[[AgentEvent], Awaitable[None]]


@dataclass
class AgentResult:
    """How a run ended."""

    turn: Turn
    finish_reason: str
    usage: JsonObject | None
    steps: int
    stopped_by: str | None = None
    client_calls: list[ToolCall] = field(default_factory=list[ToolCall])
    note: str | None = None
    """What the client should know about how the answer ended (a filter, a token limit)."""


def filtered_result(turn: Turn, usage: JsonObject | None, steps: int) -> AgentResult:
    note = 'GLM\'s content safety filter stopped this answer (finish_reason "sensitive").'
    final = Turn(content=turn.content, reasoning_content=turn.reasoning_content, id=turn.id, model=turn.model)
    final.content = (final.content.rstrip() + "\n\n" if final.content.strip() else "") + f"[glm-mcp] {note}"
    return AgentResult(final, "content_filter", usage, steps, note=note)


_FINAL_NOTES = {
    "length": 'The answer hit the token limit (finish_reason "length"): it may be incomplete. Raise max_tokens '
    "or ask for a shorter answer.",
    "model_context_window_exceeded": "The conversation filled the model's context window "
    '(finish_reason "model_context_window_exceeded"): the answer may be incomplete. Shorten the conversation.',
}


def final_result(turn: Turn, usage: JsonObject | None, steps: int) -> AgentResult:
    finish = turn.finish_reason or "stop"
    return AgentResult(turn, finish, usage, steps, note=_FINAL_NOTES.get(finish))
