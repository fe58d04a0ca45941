"""Reading a server's listings item by item, over the session's raw request path.

Contract:
- every page of `tools/list`, `resources/list`, `resources/templates/list` and `prompts/list` is read;
  a repeated cursor ends the walk instead of looping;
- each item is validated on its own: a tool the SDK or the gateway cannot accept is left out with its reason
  (a schema that only lacks `"type": "object"` is repaired), never the whole server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import mcp.types as T
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import find_invalid_x_mcp_header, x_mcp_header_map
from pydantic import BaseModel, ValidationError

from glm_mcp._json import as_object
from glm_mcp.upstream.wire import Wire

logger = logging.getLogger(__name__)

LISTING_TIMEOUT_SECONDS = 30.0
MAX_PAGES = 1_000

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Listing:
    """What one server offers, as last listed."""

    tools: tuple[T.Tool, ...] = ()
    quarantined: tuple[tuple[str, str], ...] = ()
    """(name, reason) of every tool left out."""
    resources: tuple[T.Resource, ...] = ()
    templates: tuple[T.ResourceTemplate, ...] = ()
    prompts: tuple[T.Prompt, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()
    """(method, why) of every optional listing that failed and counts as empty."""
    header_maps: Mapping[str, dict[tuple[str, ...], str]] = field(default_factory=dict[str, dict[tuple[str, ...], str]])
    """On the 2026-07-28 wire: per tool with `x-mcp-header` annotations, the arguments its calls mirror as
    `Mcp-Param-*` headers (read once per listing, not per call)."""
    only_in: Mapping[tuple[str, str], str] = field(default_factory=dict[tuple[str, str], str])
    """For a server of both eras: the ("tool" | "resource" | "prompt", name) offered in one era only, and that era
    (`"2026-07-28"` or `"handshake"`)."""


def accept_tool(raw: Any, seen: set[str], *, modern: bool = False) -> tuple[T.Tool | None, str, str | None]:
    """Validate one raw tool definition: (tool, name, None) or (None, name, reason). On the 2026-07-28 wire a tool
    whose `x-mcp-header` annotations are invalid is refused too: its calls could not carry their headers."""
    given = as_object(raw)
    name = given.get("name") if given is not None else None
    label = name if isinstance(name, str) and name else "<unnamed>"
    if given is None:
        return None, label, "the definition is not a JSON object"
    definition = dict(given)
    schema = as_object(definition.get("inputSchema"))
    if schema is None:
        return None, label, "inputSchema is missing or not a JSON object"
    if "type" not in schema:
        # A schema that only forgot to say it describes an object is repaired, not refused.
        definition["inputSchema"] = {"type": "object", **schema}
    elif schema.get("type") != "object":
        return None, label, f'inputSchema must have "type": "object" (got {schema.get("type")!r})'
    try:
        tool = T.Tool.model_validate(definition, by_name=False)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return None, label, f"invalid tool definition at {where}: {first['msg']}"
    if modern and (wrong := find_invalid_x_mcp_header(tool.input_schema)) is not None:
        return None, label, f"invalid x-mcp-header annotation: {wrong}"
    if tool.name in seen:
        return None, label, "listed twice by the server; the first definition is kept"
    seen.add(tool.name)
    return tool, label, None


async def list_everything(wire: Wire, server: str) -> Listing:
    """Read every page of every listing the server advertises; bad entries are left out with a reason."""
    caps = wire.server_capabilities
    with anyio.fail_after(LISTING_TIMEOUT_SECONDS):
        tools: list[T.Tool] = []
        quarantined: list[tuple[str, str]] = []
        if caps.tools is not None:
            seen: set[str] = set()
            for raw in await _pages(wire, "tools/list", "tools"):
                tool, label, reason = accept_tool(raw, seen, modern=wire.modern)
                if tool is None:
                    assert reason is not None
                    quarantined.append((label, reason))
                    logger.warning("server '%s': tool '%s' quarantined: %s", server, label, reason)
                else:
                    tools.append(tool)
        # Only tools/list is essential: a server whose other listings fail still serves its tools
        # (mcp-server-sqlite advertises resources and answers resources/templates/list with -32601).
        notes: list[tuple[str, str]] = []
        resources: list[T.Resource] = []
        templates: list[T.ResourceTemplate] = []
        if caps.resources is not None:
            resources = await _optional(wire, server, "resources/list", "resources", T.Resource, notes)
            templates = await _optional(
                wire, server, "resources/templates/list", "resourceTemplates", T.ResourceTemplate, notes
            )
        prompts: list[T.Prompt] = []
        if caps.prompts is not None:
            prompts = await _optional(wire, server, "prompts/list", "prompts", T.Prompt, notes)
    header_maps = {tool.name: found for tool in tools if (found := x_mcp_header_map(tool.input_schema))}
    return Listing(
        tuple(tools),
        tuple(quarantined),
        tuple(resources),
        tuple(templates),
        tuple(prompts),
        tuple(notes),
        header_maps if wire.modern else {},
    )


async def _optional(
    wire: Wire, server: str, method: str, key: str, model: type[M], notes: list[tuple[str, str]]
) -> list[M]:
    try:
        return await _valid_items(wire, server, method, key, model)
    except MCPError as exc:
        reason = f"error {exc.code}: {exc.message}"
        notes.append((method, reason))
        logger.warning("server '%s': %s failed (%s); counted as empty", server, method, reason)
        return []


async def _valid_items(wire: Wire, server: str, method: str, key: str, model: type[M]) -> list[M]:
    items: list[M] = []
    for raw in await _pages(wire, method, key):
        try:
            items.append(model.model_validate(raw, by_name=False))
        except ValidationError:
            logger.warning("server '%s': left out an invalid entry of %s", server, method)
    return items


async def _pages(wire: Wire, method: str, key: str) -> list[Any]:
    """Every item of every page; a repeated cursor ends the walk instead of looping."""
    items: list[Any] = []
    cursor: str | None = None
    seen_cursors: set[str] = set()
    for _ in range(MAX_PAGES):
        result = await wire.request(method, {"cursor": cursor} if cursor else None)
        page = result.get(key)
        if isinstance(page, list):
            items.extend(page)  # pyright: ignore[reportUnknownArgumentType] JSON array
        next_cursor = result.get("nextCursor")
        if not isinstance(next_cursor, str) or not next_cursor or next_cursor in seen_cursors:
            break
        seen_cursors.add(next_cursor)
        cursor = next_cursor
    return items
