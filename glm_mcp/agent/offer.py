"""Which tools GLM is offered for one request, and how the offer grows while the run goes on.

Contract:
- the gateway's tools are compiled for GLM once per catalog snapshot (`agent.registry.CompiledTools`); an offer
  keeps the snapshot it was built from (`compiled`), and its calls run against that snapshot;
- a request's candidates are the gateway's tools left after narrowing (`glm_mcp.servers` / `glm_mcp.tools`),
  minus the client's own names, minus tools the loop would refuse (destructive under `deny`): those take no slot;
- when the client's tools and the candidates fit `max_offered_tools` (GLM takes 128) and the token budget, all
  are offered (destructive ones too when everything fits; without them when only the rest fits); past either
  limit the offer is the client's tools, the pinned tools (`tools.pin`), the candidates most relevant to the
  conversation (BM25, the latest user message first), then the others round-robin by server until the slots are
  full, and `glm__find_tools`, with room left for the tools it finds;
- the offer only grows, by appending (`promote`): what was offered keeps its place, so GLM's prompt cache keeps
  its prefix; `facts` says how many tools were candidates, offered and left out, and why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from glm_mcp._json import as_list, as_object
from glm_mcp.agent.registry import CompiledTools
from glm_mcp.catalog import is_pinned
from glm_mcp.config import GatewayConfig
from glm_mcp.model.messages import JsonObject
from glm_mcp.model.profile import MAX_TOOLS

logger = logging.getLogger(__name__)

GLM_MAX_TOOLS = MAX_TOOLS
"""GLM's cap on functions per request (`model.profile`)."""

FIND_TOOLS = "glm__find_tools"
FIND_RESULTS = 8
"""Matches `glm__find_tools` returns (and promotes)."""

FIND_TOOLS_DEFINITION: JsonObject = {
    "type": "function",
    "function": {
        "name": FIND_TOOLS,
        "description": (
            "Search the gateway's other tools by what they do, when none of the offered tools fits the task. "
            "The tools found are offered from the next step on; you may also call one directly by its name."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What the tool should do, in a few words."},
                "server": {"type": "string", "description": "Only tools of this configured server."},
            },
            "required": ["query"],
        },
    },
}


def definition_tokens(definition: JsonObject) -> int:
    """A tool definition's size in prompt tokens, estimated as characters / 4 (no GLM tokenizer offline)."""
    return len(json.dumps(definition, ensure_ascii=False, separators=(",", ":"))) // 4


@dataclass
class ToolOffer:
    """The tools of one request: what GLM is shown, and which names the gateway runs."""

    definitions: list[JsonObject]
    gateway_tools: dict[str, JsonObject]
    """Exposed name → the tool's original input schema (what arguments are validated against)."""
    left_out: dict[str, str]
    """Exposed name → why it is not offered."""
    client_tools: frozenset[str] = frozenset()
    """Names of the client's own tools: a call to one of them ends the run for the client to make."""
    candidates: frozenset[str] = frozenset()
    """Gateway tools this request may use: offered or not, a call to one of them runs (and offers it)."""
    searchable: bool = False
    """`glm__find_tools` is offered."""
    capacity: int = GLM_MAX_TOOLS
    facts: JsonObject = field(default_factory=dict[str, Any])
    """How many tools were candidates, offered and left out, and why (the response's `glm_mcp.offer`)."""
    compiled: CompiledTools | None = None
    """The catalog snapshot the offer was built from; the run's calls go where it says."""

    def client_schemas(self) -> dict[str, Any]:
        """The client's own tools' input schemas, by name (what their calls' arguments are fitted to)."""
        schemas: dict[str, Any] = {}
        for definition in self.definitions:
            function = as_object(definition.get("function")) or {}
            if function.get("name") in self.client_tools:
                schemas[str(function["name"])] = function.get("parameters")
        return schemas

    def names(self) -> frozenset[str]:
        """Every name offered to the model."""
        own: set[str] = {FIND_TOOLS} if self.searchable else set()
        return frozenset({*self.client_tools, *self.gateway_tools, *own})

    def promote(self, names: Sequence[str], compiled: CompiledTools) -> list[str]:
        """Append tools to the offer (never reordering it); returns those added."""
        added: list[str] = []
        for name in names:
            if name in self.gateway_tools or name not in self.candidates or len(self.definitions) >= self.capacity:
                continue
            self.definitions.append(compiled.definitions[name])
            self.gateway_tools[name] = compiled.schemas[name]
            self.left_out.pop(name, None)
            added.append(name)
        if added:
            self.facts["offered"] = len(self.gateway_tools)
            self.facts["promoted"] = [*(as_list(self.facts.get("promoted")) or []), *added]
        return added


def user_texts(messages: Sequence[Any]) -> list[str]:
    """The text of every user message, oldest first."""
    texts: list[str] = []
    for item in messages:
        message = as_object(item)
        if message is None or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif (parts := as_list(content)) is not None:
            texts.append(" ".join(str(part.get("text", "")) for p in parts if (part := as_object(p)) is not None))
    return texts


def _round_robin(names: Sequence[str], servers: Mapping[str, str]) -> list[str]:
    """`names` taken one per server in turn (each server's in their order), servers in order of first appearance."""
    queues: dict[str, list[str]] = {}
    for name in names:
        queues.setdefault(servers[name], []).append(name)
    ordered: list[str] = []
    while queues:
        for server in list(queues):
            ordered.append(queues[server].pop(0))
            if not queues[server]:
                del queues[server]
    return ordered


def build_offer(
    compiled: CompiledTools,
    config: GatewayConfig,
    client_tools: Sequence[JsonObject],
    client_names: frozenset[str],
    messages: Sequence[Any] = (),
    servers: Sequence[str] | None = None,
    tools: Sequence[str] | None = None,
) -> ToolOffer:
    """The offer of one request (see the module docstring)."""
    left_out = dict(compiled.left_out)
    why: dict[str, int] = {"policy": 0, "narrowing": 0, "name_clash": 0, "schema": len(compiled.left_out)}
    narrowed: list[str] = []
    for name in compiled.definitions:  # in name order: the catalog is built sorted
        if (servers is not None and compiled.servers[name] not in servers) or (tools is not None and name not in tools):
            why["narrowing"] += 1
        elif name in client_names:
            left_out[name] = "the client sent a tool of the same name"
            why["name_clash"] += 1
        else:
            narrowed.append(name)
    cap = max(0, min(config.gateway.max_offered_tools, GLM_MAX_TOOLS) - len(client_tools))
    budget = config.gateway.max_tool_tokens
    sizes = {name: definition_tokens(compiled.definitions[name]) for name in narrowed}

    def fit(names: Sequence[str]) -> bool:
        return len(names) <= cap and (budget is None or sum(sizes[name] for name in names) <= budget)

    fits = fit(narrowed)
    # Under the limits every tool is offered (a destructive one is refused when called, saying why); past them,
    # tools the loop would refuse take no slot, and when the rest fit they are all offered.
    candidates = narrowed if fits else [name for name in narrowed if name not in compiled.destructive]
    fits = fits or fit(candidates)
    for name in sorted(set(narrowed) - set(candidates)):
        server = compiled.servers[name]
        left_out[name] = f'destructive, and the chat loop does not run them for \'{server}\' ("destructive": "deny")'
        why["policy"] += 1
    chosen: list[str] = []
    if fits:
        chosen, searchable = candidates, False
    else:
        searchable = cap > 0
        reserve = min(FIND_RESULTS * 2, cap // 8)
        slots = max(0, cap - 1 - reserve)
        pinned = [name for name in candidates if is_pinned(compiled.catalog.tools[name][0], config)]
        ranked = compiled.index.rank_for(user_texts(messages), slots, set(candidates) - set(pinned))
        spent = definition_tokens(FIND_TOOLS_DEFINITION)
        # Slots the ranking leaves free (a conversation that names few tools) go round-robin by server, so GLM
        # gets as many tools as the limit allows, from every server, never a handful of lexical hits.
        rest = [name for name in candidates if name not in ranked and name not in pinned]
        for name in [*pinned, *ranked, *_round_robin(rest, compiled.servers)]:
            if len(chosen) >= slots:
                break
            if budget is not None and spent + sizes[name] > budget:
                continue  # a smaller tool further on may still fit
            chosen.append(name)
            spent += sizes[name]
        for name in candidates:
            if name not in chosen:
                left_out[name] = "not among the tools most relevant to this conversation: glm__find_tools finds it"
        why["budget"] = len(candidates) - len(chosen)
    definitions = [*client_tools, *(compiled.definitions[name] for name in chosen)]
    if searchable:
        definitions.append(FIND_TOOLS_DEFINITION)
    facts: JsonObject = {
        "candidates": len(compiled.definitions) + len(compiled.left_out),
        "offered": len(chosen),
        "left_out": {reason: count for reason, count in why.items() if count},
    }
    if searchable:
        facts["find_tools"] = True
        logger.debug(
            "offered %d of %d tools; left out: %s", len(chosen), len(candidates), sorted(set(candidates) - set(chosen))
        )
    return ToolOffer(
        definitions=definitions,
        gateway_tools={name: compiled.schemas[name] for name in chosen},
        left_out=left_out,
        client_tools=client_names,
        candidates=frozenset(candidates),
        searchable=searchable,
        capacity=cap + len(client_tools) + (1 if searchable else 0),
        facts=facts,
        compiled=compiled,
    )


def find_tools(compiled: CompiledTools, offer: ToolOffer, arguments: JsonObject) -> str:
    """Run `glm__find_tools`: the best matches, promoted into the offer; the text the model reads."""
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        return "Error: give 'query': what the tool should do, in a few words."
    server = arguments.get("server")
    only = {name for name in offer.candidates if server is None or compiled.servers[name] == server}
    found = compiled.index.search(query, FIND_RESULTS, only)
    if not found:
        return f"No tool matches '{query}'" + (f" on the server '{server}'." if server else ".")
    added = offer.promote(found, compiled)
    lines: list[str] = []
    for name in found:
        function = as_object(compiled.definitions[name].get("function")) or {}
        parameters = as_object(function.get("parameters")) or {}
        required = [str(item) for item in as_list(parameters.get("required")) or []]
        description = str(function.get("description", "")).strip().split("\n")[0][:160]
        lines.append(f"- {name}({', '.join(required)}): {description}")
    note = "They are offered from the next step on." if added else "Call them by name."
    return "Tools found:\n" + "\n".join(lines) + f"\n{note}"
