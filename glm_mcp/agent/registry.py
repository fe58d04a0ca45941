"""The registry: one catalog snapshot's tools, compiled for GLM, that an offer is built from and its calls run
against.

Contract:
- a `CompiledTools` is built once per catalog snapshot and never changes; an offer keeps the one it was built
  from, so the tools GLM was shown, their schemas, the destructive policy and the server each call goes to all
  come from the same snapshot, even when the catalog changes while a run goes on;
- a tool whose schema cannot be compiled is left out with the reason, never the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable

from glm_mcp.catalog import Catalog, Entry, is_destructive
from glm_mcp.catalog.search import ToolIndex
from glm_mcp.errors import SchemaError
from glm_mcp.model.messages import JsonObject
from glm_mcp.tools.schema import compile_schema


class CompiledTools:
    """The gateway tools of one catalog snapshot, compiled for GLM, with their search index."""

    def __init__(self, catalog: Catalog, allow_destructive: Callable[[str], bool]) -> None:
        self.catalog = catalog
        self.definitions: dict[str, JsonObject] = {}
        self.schemas: dict[str, JsonObject] = {}
        self.servers: dict[str, str] = {}
        self.left_out: dict[str, str] = {}
        self.destructive: set[str] = set()
        """Destructive tools (by the MCP spec's defaults) of servers whose config does not allow them."""
        for name, (entry, tool) in catalog.tools.items():
            try:
                parameters = compile_schema(tool.input_schema)
            except SchemaError as exc:
                self.left_out[name] = str(exc)
                continue
            description = tool.description or tool.title or f"The tool {entry.original} of the server {entry.server}."
            self.definitions[name] = {
                "type": "function",
                "function": {"name": name, "description": description, "parameters": parameters},
            }
            self.schemas[name] = dict(tool.input_schema)
            self.servers[name] = entry.server
            if is_destructive(tool) and not allow_destructive(entry.server):
                self.destructive.add(name)

    @property
    def index(self) -> ToolIndex:
        """The snapshot's search index (the catalog's own, built on first use)."""
        return self.catalog.search_index

    def entry(self, name: str) -> Entry | None:
        """The server and original name a tool of this snapshot is called by, or None when it has none."""
        found = self.catalog.tools.get(name)
        return found[0] if found is not None else None
