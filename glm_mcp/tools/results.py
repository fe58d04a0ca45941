"""A tool's `CallToolResult` → the text of a GLM tool message. No I/O.

Contract: text blocks as they are; structured content as compact JSON when no text says the same; images,
audio and blobs as a short note (GLM's text models cannot take them); resource links as their URI; an
`isError` result starts with "Error: "; text longer than the limit is cut with a note of how much was cut.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import mcp.types as T

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
        if not texts or not _same_json(texts, result.structured_content):
            parts.append(compact)
    text = "\n".join(parts) if parts else "(the tool returned nothing)"
    if result.is_error:
        text = f"Error: {text}"
    if len(text) > max_chars:
        cut = len(text) - max_chars
        text = f"{text[:max_chars]}\n[... {cut} of {len(text)} characters cut]"
    return text


def _same_json(texts: list[str], structured: dict[str, Any]) -> bool:
    # Servers built on the SDK send structured content and the same data as JSON text: say it once.
    wrapped = structured.get("result")
    for text in texts:
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if parsed in (structured, wrapped):
            return True
    return len(texts) == 1 and wrapped == texts[0]
