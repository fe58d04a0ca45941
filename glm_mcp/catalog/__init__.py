"""The merged catalog: every connected server's tools, resources, templates and prompts under exposed names.

Contract:
- a `Catalog` is an immutable snapshot, rebuilt whenever a server's listing or state changes;
- tool and prompt names are `<prefix>__<name>` made legal by `naming`; resource URIs are kept, and the
  owning server is recorded; the first server in config order keeps a URI two servers share;
- allow and deny globs apply to each server's own tool names; denied tools are reported, not exposed.
No I/O.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import mcp.types as T

from glm_mcp.catalog.search import ToolIndex, tool_text
from glm_mcp.config import GatewayConfig, ToolFilterConfig
from glm_mcp.errors import ToolNotFoundError
from glm_mcp.naming import assign_names, comparable_name, raw_name
from glm_mcp.upstream.connection import Upstream

logger = logging.getLogger(__name__)

RESERVED_PREFIX = "glm__"
"""Exposed names the gateway keeps for its own tools (`glm__agent`, …)."""


@dataclass(frozen=True)
class Entry:
    """One exposed tool or prompt and where it comes from."""

    server: str
    original: str
    exposed: str


@dataclass(frozen=True)
class NameClash:
    """A name a passthrough server (`"prefix": ""`) could not expose as it is."""

    server: str
    kind: str
    """"tool" or "prompt"."""
    name: str
    other: str
    """The server that already exposes the name, or "" for a name the gateway keeps for itself (`glm__…`)."""

    @property
    def reason(self) -> str:
        if not self.other:
            own = f"{self.kind} names starting '{RESERVED_PREFIX}' are the gateway's own"
            return f"{own}; give '{self.server}' a \"prefix\""
        return (
            f"server '{self.other}' exposes a {self.kind} named '{self.name}' too; give '{self.server}' or "
            f"'{self.other}' a \"prefix\""
        )

    def __str__(self) -> str:
        return f"server '{self.server}': {self.kind} '{self.name}' is not exposed: {self.reason}"


def new_clashes(old: Catalog, new: Catalog) -> list[NameClash]:
    """The passthrough names `new` leaves out that `old` did not."""
    return [
        clash
        for server, clashes in new.conflicts.items()
        for clash in clashes
        if clash not in old.conflicts.get(server, ())
    ]


def describe_clashes(catalog: Catalog) -> list[str]:
    """Each passthrough server's clashes as config errors: one per other server, naming both and the fix."""
    described: list[str] = []
    for server, clashes in catalog.conflicts.items():
        by_other: dict[str, list[str]] = {}
        for clash in clashes:
            by_other.setdefault(clash.other, []).append(f"{clash.kind} '{clash.name}'")
        for other, names in by_other.items():
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            exposed = f'mcpServers.{server}.prefix: with "prefix": "" server \'{server}\' would expose {shown}'
            if other:
                fix = f"give '{server}' or '{other}' a \"prefix\" (any name but \"\") so both are kept"
                described.append(f"{exposed} under names server '{other}' already exposes; {fix}")
            else:
                fix = f"give '{server}' a \"prefix\""
                described.append(f"{exposed}, but names starting '{RESERVED_PREFIX}' are the gateway's own; {fix}")
    return described


@dataclass(frozen=True)
class Catalog:
    """A snapshot of everything the gateway exposes."""

    tools: dict[str, tuple[Entry, T.Tool]] = field(default_factory=dict[str, tuple[Entry, T.Tool]])
    """Exposed name → (entry, tool definition carrying the exposed name)."""
    prompts: dict[str, tuple[Entry, T.Prompt]] = field(default_factory=dict[str, tuple[Entry, T.Prompt]])
    resources: dict[str, tuple[str, T.Resource]] = field(default_factory=dict[str, tuple[str, T.Resource]])
    """URI → (server, resource)."""
    templates: tuple[tuple[str, re.Pattern[str], T.ResourceTemplate], ...] = ()
    """(server, matcher, template) in config order."""
    filtered: dict[str, tuple[str, ...]] = field(default_factory=dict[str, tuple[str, ...]])
    """Server → its tools left out by allow/deny."""
    conflicts: dict[str, tuple[NameClash, ...]] = field(default_factory=dict[str, tuple[NameClash, ...]])
    """Server → the names that passthrough server could not expose as they are (left out, never shadowing)."""
    needs_login: tuple[str, ...] = ()
    """The servers behind OAuth that wait for a person to log in (their tools come once one has)."""

    @cached_property
    def search_index(self) -> ToolIndex:
        """The BM25 index of this snapshot's tools: built on first use, once per snapshot."""
        return ToolIndex(
            (name, tool_text(name, entry.original, tool.title, tool.description, tool.input_schema))
            for name, (entry, tool) in self.tools.items()
        )

    def tool(self, name: str) -> Entry:
        """The entry of an exposed tool.

        Raises:
            ToolNotFoundError: No exposed tool has that name.
        """
        try:
            return self.tools[name][0]
        except KeyError:
            raise ToolNotFoundError(f"unknown tool '{name}'{closest(name, self.tools)}") from None

    def prompt(self, name: str) -> Entry:
        """The entry of an exposed prompt.

        Raises:
            ToolNotFoundError: No exposed prompt has that name.
        """
        try:
            return self.prompts[name][0]
        except KeyError:
            raise ToolNotFoundError(f"unknown prompt '{name}'") from None

    def resource_owner(self, uri: str) -> str:
        """The server that serves `uri`: a listed resource first, then the first matching template.

        Raises:
            ToolNotFoundError: No server lists the URI or a template that matches it.
        """
        if uri in self.resources:
            return self.resources[uri][0]
        for server, matcher, _ in self.templates:
            if matcher.fullmatch(uri):
                return server
        raise ToolNotFoundError(f"no server offers the resource '{uri}'")


def closest(name: str, names: Iterable[str], limit: int = 5) -> str:
    """ " (did you mean a, b?)" for the names most like `name`, or nothing."""
    near = difflib.get_close_matches(name, list(names), n=limit, cutoff=0.5)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def is_pinned(entry: Entry, config: GatewayConfig) -> bool:
    """Whether the config pins this tool (`tools.pin` of its server): offered to GLM and listed in search mode."""
    upstream = config.servers.get(entry.server)
    return upstream is not None and any(fnmatch.fnmatchcase(entry.original, p) for p in upstream.tools.pin)


def is_destructive(tool: T.Tool) -> bool:
    """Whether a tool may destroy data, by the MCP spec's defaults: yes, unless annotated read-only or not
    destructive."""
    hints = tool.annotations
    return not (hints is not None and (hints.read_only_hint is True or hints.destructive_hint is False))


def loop_policy(tool: T.Tool, destructive: str) -> str:
    """What the chat loop does with a call to `tool` under the server's `destructive` setting."""
    if not is_destructive(tool):
        return "runs (read-only or not destructive)"
    if destructive == "allow":
        return 'runs (destructive, allowed by "destructive": "allow")'
    if destructive == "ask":
        return 'runs once the editor confirms it (destructive, "destructive": "ask"; refused where nobody can confirm)'
    return 'refused in the chat loop (destructive by its annotations or their absence; "destructive": "allow" runs it)'


def template_matcher(template: str) -> re.Pattern[str]:
    """A regex for the URIs an RFC 6570 template can expand to (simple and reserved expansions)."""
    pattern = ""
    position = 0
    for match in re.finditer(r"\{([^}]*)\}", template):
        pattern += re.escape(template[position : match.start()])
        expression = match.group(1)
        pattern += ".*" if expression[:1] in "+#/" or expression.endswith("*") else "[^/?#]*"
        position = match.end()
    pattern += re.escape(template[position:])
    return re.compile(pattern)


def is_exposed(name: str, rules: ToolFilterConfig) -> bool:
    """Whether a server's own tool passes its allow and deny globs."""
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in rules.deny):
        return False
    return rules.allow is None or any(fnmatch.fnmatchcase(name, pattern) for pattern in rules.allow)


def build_catalog(upstreams: Iterable[Upstream]) -> Catalog:
    """Merge the listings of the given servers, in their order."""
    servers = list(upstreams)
    tool_pairs: dict[tuple[str, str], tuple[str, T.Tool]] = {}
    prompt_pairs: dict[tuple[str, str], tuple[str, T.Prompt]] = {}
    filtered: dict[str, tuple[str, ...]] = {}
    conflicts: dict[str, list[NameClash]] = {}
    # Names a prefixed server exposes are taken first; passthrough servers then claim theirs in config order.
    owner: dict[str, str] = {}
    for upstream in servers:
        if upstream.config.prefix != "":
            prefix = upstream.config.prefix or upstream.name
            owner.update((comparable_name(prefix, tool.name), upstream.name) for tool in upstream.listing.tools)
            owner.update((comparable_name(prefix, prompt.name), upstream.name) for prompt in upstream.listing.prompts)
    for upstream in servers:
        prefix = "" if upstream.config.prefix == "" else upstream.config.prefix or upstream.name
        left_out: list[str] = []
        for tool in upstream.listing.tools:
            if not is_exposed(tool.name, upstream.config.tools):
                left_out.append(tool.name)
            elif prefix or _claim("tool", tool.name, upstream.name, owner, conflicts):
                tool_pairs[(prefix, tool.name)] = (upstream.name, tool)
        if left_out:
            filtered[upstream.name] = tuple(left_out)
        for prompt in upstream.listing.prompts:
            if prefix or _claim("prompt", prompt.name, upstream.name, owner, conflicts):
                prompt_pairs[(prefix, prompt.name)] = (upstream.name, prompt)

    tools: dict[str, tuple[Entry, T.Tool]] = {}
    for pair, exposed in sorted(assign_names(tool_pairs).items(), key=lambda item: item[1]):
        server, tool = tool_pairs[pair]
        tools[exposed] = (Entry(server, tool.name, exposed), tool.model_copy(update={"name": exposed}))
    prompts: dict[str, tuple[Entry, T.Prompt]] = {}
    for pair, exposed in sorted(assign_names(prompt_pairs).items(), key=lambda item: item[1]):
        server, prompt = prompt_pairs[pair]
        prompts[exposed] = (Entry(server, prompt.name, exposed), prompt.model_copy(update={"name": exposed}))

    resources: dict[str, tuple[str, T.Resource]] = {}
    templates: list[tuple[str, re.Pattern[str], T.ResourceTemplate]] = []
    for upstream in servers:
        prefix = "" if upstream.config.prefix == "" else upstream.config.prefix or upstream.name
        for resource in upstream.listing.resources:
            if resource.uri not in resources:
                renamed = resource.model_copy(update={"name": raw_name(prefix, resource.name)})
                resources[resource.uri] = (upstream.name, renamed)
        for template in upstream.listing.templates:
            renamed_template = template.model_copy(update={"name": raw_name(prefix, template.name)})
            templates.append((upstream.name, template_matcher(template.uri_template), renamed_template))
    frozen = {server: tuple(items) for server, items in conflicts.items()}
    waiting = tuple(upstream.name for upstream in servers if upstream.needs_login)
    return Catalog(tools, prompts, resources, tuple(templates), filtered, frozen, waiting)


def _claim(kind: str, name: str, server: str, owner: dict[str, str], conflicts: dict[str, list[NameClash]]) -> bool:
    """Whether a passthrough server may expose `name` as it is; a refusal is recorded with the other server.

    Judged on the name as it would be exposed (mapped, NFKC-normalised, lower case): a name that only looks
    different (`glm＿＿agent`, `GLM__agent`, `glm..agent`) can neither take the gateway's own nor shadow another's."""
    key = comparable_name("", name)
    if key.startswith(RESERVED_PREFIX):
        other = ""
    elif (other := owner.setdefault(key, server)) == server:
        return True
    conflicts.setdefault(server, []).append(NameClash(server, kind, name, other))
    return False
