"""How `glm-mcp call` shows a tool's result to a person at a terminal. Writes files only into the folder given.

Contract:
- text blocks as they are, structured content as indented JSON unless it only repeats the text;
- images, audio and binary resources as a line saying what they are and how large; with an output folder they
  are written there (`<tool>-<n>.<ext>`, never over an existing file) and the line names the file;
- `as_json` is the whole result as the protocol carries it (binary data as base64).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from pathlib import Path

import mcp.types as T

from glm_mcp.tools.results import repeats_text


def as_json(result: T.CallToolResult) -> str:
    """The whole result as JSON, binary data as the base64 the server sent."""
    return json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2, ensure_ascii=False)


def shown(result: T.CallToolResult, tool: str, out: Path | None) -> str:
    """The result as text for a person; binary parts written to `out` when given."""
    parts: list[str] = []
    saved = 0
    for block in result.content:
        data: str | None = None
        mime = "application/octet-stream"
        label = ""
        if isinstance(block, T.TextContent):
            parts.append(block.text)
            continue
        if isinstance(block, T.ResourceLink):
            parts.append(f"[resource {block.uri}{f' ({block.name})' if block.name else ''}]")
            continue
        if isinstance(block, T.ImageContent | T.AudioContent):
            data, mime, label = block.data, block.mime_type, block.type
        else:
            resource = block.resource
            if isinstance(resource, T.TextResourceContents):
                parts.append(resource.text)
                continue
            data, mime, label = resource.blob, resource.mime_type or mime, f"resource {resource.uri}"
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            parts.append(f"[{label}: {mime}, not valid base64]")
            continue
        if out is None:
            parts.append(f"[{label}: {mime}, {len(raw):,} bytes; --out DIR saves it, --json shows it as base64]")
            continue
        saved += 1
        path = _free_path(out, tool, saved, mime)
        with path.open("xb") as file:
            file.write(raw)
        parts.append(f"[{label}: {mime}, {len(raw):,} bytes, saved to {path}]")
    if result.structured_content is not None:
        texts = [block.text for block in result.content if isinstance(block, T.TextContent)]
        if not texts or not repeats_text(texts, result.structured_content):
            parts.append(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
    return "\n".join(parts) if parts else "(the tool returned nothing)"


def _free_path(out: Path, tool: str, number: int, mime: str) -> Path:
    extension = mimetypes.guess_extension(mime.split(";")[0].strip()) or ".bin"
    path = out / f"{tool}-{number}{extension}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = out / f"{tool}-{number}-{suffix}{extension}"
    return path
