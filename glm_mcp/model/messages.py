"""The parts of the chat-completions format the gateway reads and writes; everything else passes through as JSON.

`Turn` is one assistant answer, assembled from a JSON response or from a stream of chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]


@dataclass
class ToolCall:
    """One function call requested by the model; `arguments` is the raw string the model wrote."""

    id: str
    name: str
    arguments: str
    index: int = 0
    cut_off: bool = False
    """The call was cut off before its arguments were written out (a leaked call the answer ended inside)."""

    def to_wire(self) -> JsonObject:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Turn:
    """One assistant answer."""

    content: str = ""
    reasoning_content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list[ToolCall])
    finish_reason: str | None = None
    usage: JsonObject | None = None
    id: str | None = None
    model: str | None = None

    def to_message(self) -> JsonObject:
        """The assistant message to append to the conversation, `reasoning_content` kept for GLM."""
        message: JsonObject = {"role": "assistant", "content": self.content}
        if self.reasoning_content:
            message["reasoning_content"] = self.reasoning_content
        if self.tool_calls:
            message["tool_calls"] = [call.to_wire() for call in self.tool_calls]
        return message


def add_usage(total: JsonObject | None, more: JsonObject | None) -> JsonObject | None:
    """Sum two `usage` objects, numbers and nested numbers alike."""
    if more is None:
        return total
    if total is None:
        return dict(more)
    merged = dict(total)
    for key, value in more.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            current = merged.get(key, 0)
            merged[key] = (current if isinstance(current, int | float) else 0) + value
        elif isinstance(value, dict):
            current = merged.get(key)
            merged[key] = add_usage(current if isinstance(current, dict) else None, value)  # pyright: ignore[reportUnknownArgumentType]  # JSON object from the wire
    return merged
