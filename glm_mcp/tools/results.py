"""A tool's `CallToolResult` → the text of a GLM tool message. No I/O.

Contract: text blocks as they are; structured content as compact JSON unless it carries nothing beyond the
text (JSON equal to a text block parsed, or one key holding the text itself, as server-filesystem and
server-memory send it: said once, not twice); images, audio and blobs as a short note (GLM's text models
cannot take them); resource links as their URI; an `isError` result starts with "Error: "; text longer than
the limit is cut, with a note saying how many characters of how many the model did not get.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import mcp.types as T

from glm_mcp._json import as_object

DEFAULT_MAX_CHARS = 20_000


def _size(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except ValueError:
        return len(data) * 3 // 4


def flatten_result(result: T.CallToolResult, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The text GLM sees for a tool result."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, T.TextContent):
            parts.append(block.text)
        elif isinstance(block, T.ImageContent | T.AudioContent):
            parts.append(f"[{block.type} {block.mime_type}, {_size(block.data)} bytes, not shown to the model]")
        elif isinstance(block, T.ResourceLink):
            parts.append(f"[resource {block.uri}{f' ({block.name})' if block.name else ''}]")
        else:
            resource = block.resource
            if isinstance(resource, T.TextResourceContents):
                parts.append(resource.text)
            else:
                mime = resource.mime_type or "binary"
                parts.append(f"[resource {resource.uri}: {mime}, {_size(resource.blob)} bytes, not shown]")
    if result.structured_content is not None:
        compact = json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)
        texts = [block.text for block in result.content if isinstance(block, T.TextContent)]
        if not texts or not repeats_text(texts, result.structured_content):
            parts.append(compact)
    text = "\n".join(parts) if parts else "(the tool returned nothing)"
    if result.is_error:
        text = f"Error: {text}"
    if len(text) > max_chars:
        cut = len(text) - max_chars
        text = (
            f"{text[:max_chars]}\n[glm-mcp: the result has {len(text):,} characters; the last {cut:,} were cut "
            "here. Ask the tool for a smaller part if you need them.]"
        )
    return text


def repeats_text(texts: list[str], structured: dict[str, Any]) -> bool:
    """Whether structured content only repeats the text: then it is said once."""
    # One key holding the text itself, or the data the text holds as JSON, at any depth: {"content": "<the
    # file>"} (server-filesystem), {"entities": [...]} beside the list as JSON text (server-memory).
    layers: list[Any] = [structured]
    while (members := as_object(layers[-1])) is not None and len(members) == 1:
        layers.append(next(iter(members.values())))
    inner = layers[-1]
    if isinstance(inner, str) and (inner in texts or inner in ("\n".join(texts), "".join(texts))):
        return True
    # Servers built on the SDK send structured content and the same data as JSON text.
    wrapped = structured.get("result")
    for text in texts:
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if parsed == wrapped or any(parsed == layer for layer in layers):
            return True
    return len(texts) == 1 and wrapped == texts[0]
