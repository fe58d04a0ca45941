"""The gateway's own tools on the MCP face: `glm__agent` (a GLM run over the catalog), in search mode
`glm__find_tools` and `glm__call_tool` (a destructive tool found by search runs only where its policy allows), and
`glm__login` while a server behind OAuth waits for a person."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import mcp.types as T
from mcp.server import ServerRequestContext

from glm_mcp._json import as_list
from glm_mcp.agent.calls import confirm_destructive
from glm_mcp.agent.loop import Agent
from glm_mcp.agent.offer import FIND_RESULTS, FIND_TOOLS, FIND_TOOLS_DEFINITION
from glm_mcp.agent.results import AgentEvent
from glm_mcp.catalog import is_destructive
from glm_mcp.errors import ModelError, UpstreamError
from glm_mcp.gateway.core import Gateway, error_result
from glm_mcp.gateway.logins import login_over, login_url
from glm_mcp.oauth.vault import how_to_log_in
from glm_mcp.relay.asking import Asker

logger = logging.getLogger(__name__)


AGENT_TOOL_NAME = "glm__agent"
AGENT_TOOL = T.Tool(
    name=AGENT_TOOL_NAME,
    title="Ask GLM",
    description=(
        "Hand a task to GLM, which may use the gateway's tools to do it, and get its answer. "
        "Use for multi-step work that needs several tools."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "task": {"type": "string", "description": "What GLM should do, with everything it needs to know."},
            "servers": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only offer the tools of these configured servers (default: all).",
            },
            "max_steps": {
                "type": "integer",
                "minimum": 1,
                "description": "Model turns at most; never more than the gateway's own max_steps.",
            },
        },
        "required": ["task"],
    },
    annotations=T.ToolAnnotations(read_only_hint=False, open_world_hint=True),
)


async def run_agent(
    gateway: Gateway, agent: Agent, ctx: ServerRequestContext[Any], arguments: dict[str, Any], asker: Asker
) -> T.CallToolResult:
    task = arguments.get("task")
    if not isinstance(task, str) or not task.strip():
        return error_result("'task' is required: say what GLM should do")
    if (missing := agent.model.config.missing_key) is not None:
        return error_result(f"glm__agent cannot run: {missing}")
    raw_servers = arguments.get("servers")
    servers = as_list(raw_servers)
    known = set(gateway.servers)
    if raw_servers is not None and (servers is None or not {str(server) for server in servers} <= known):
        return error_result(f"'servers' must name configured servers: {sorted(known)}")
    max_steps = arguments.get("max_steps")
    steps_limit = max_steps if isinstance(max_steps, int) and max_steps > 0 else agent.limits.max_steps
    tool_calls = 0

    async def on_event(event: AgentEvent) -> None:
        nonlocal tool_calls
        if event.kind == "tool_call":
            tool_calls += 1
            try:
                await ctx.session.report_progress(tool_calls, None, f"calling {event.data['name']}")
            except Exception:  # boundary: a 2026 run resumed in a later round has no stream for progress
                logger.debug("progress could not reach the editor", exc_info=True)

    body = {"model": agent.model.config.name, "messages": [{"role": "user", "content": task}]}
    offer = agent.offer((), None if servers is None else [str(server) for server in servers], messages=body["messages"])
    try:
        result = await agent.run(body, offer, stream=False, on_event=on_event, max_steps=steps_limit, asker=asker)
    except ModelError as exc:
        return error_result(f"GLM failed: {exc.message}")
    answer = result.turn.content.strip() or "(GLM gave an empty answer)"
    return T.CallToolResult(content=[T.TextContent(text=answer)], is_error=result.stopped_by is not None)


FIND_TOOLS_TOOL = T.Tool(
    name=FIND_TOOLS,
    title="Find tools",
    description=(
        "Search the gateway's tools by what they do; returns the best matches with their input schemas. "
        "Call one with glm__call_tool."
    ),
    input_schema=FIND_TOOLS_DEFINITION["function"]["parameters"],  # the same parameters GLM's version takes
    annotations=T.ToolAnnotations(read_only_hint=True, open_world_hint=False),
)
CALL_TOOL_TOOL = T.Tool(
    name="glm__call_tool",
    title="Call a tool",
    description="Call any tool of the gateway by its name (as glm__find_tools gives it), with its arguments.",
    input_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The tool's name."},
            "arguments": {"type": "object", "description": "The tool's arguments."},
        },
        "required": ["name"],
    },
)


def find(gateway: Gateway, arguments: dict[str, Any]) -> T.CallToolResult:
    """`glm__find_tools` on the MCP face: the best matches of the catalog, with their input schemas."""
    query, server = arguments.get("query"), arguments.get("server")
    if not isinstance(query, str) or not query.strip():
        return error_result("give 'query': what the tool should do, in a few words")
    catalog = gateway.catalog
    only = {name for name, (entry, _) in catalog.tools.items() if server is None or entry.server == server}
    found = catalog.search_index.search(query, FIND_RESULTS, only)
    matches = [
        {
            "name": name,
            "description": catalog.tools[name][1].description or "",
            "inputSchema": catalog.tools[name][1].input_schema,
        }
        for name in found
    ]
    text = json.dumps(matches, ensure_ascii=False) if matches else f"no tool matches '{query}'"
    return T.CallToolResult(content=[T.TextContent(text=text)], structured_content={"tools": matches})


async def destructive_refusal(
    gateway: Gateway, name: str, arguments: dict[str, Any] | None, asker: Asker
) -> str | None:
    """Why `glm__call_tool` must not run `name` now, or None. A tool found by search is run on a model's word, as in
    the chat loop: a destructive one runs where its server allows it, else only after the editor's person confirms
    it; where nobody can confirm, the server's policy decides, and the refusal names it."""
    found = gateway.catalog.tools.get(name)
    if found is None:
        return None  # the call itself says the tool is unknown
    entry, tool = found
    server = gateway.config.servers.get(entry.server)
    policy = server.destructive if server is not None else "deny"
    if not is_destructive(tool) or policy == "allow":
        return None
    said = await confirm_destructive(asker, name, entry.server, dict(arguments or {}), "Your assistant")
    if said == "accept":
        return None
    if said is not None:
        return f"glm-mcp did not run {name}: the user did not allow it ({said})."
    return (
        f"glm-mcp did not run {name} through glm__call_tool: it may change or delete data (it is not annotated "
        f'read-only or non-destructive), \'{entry.server}\' is set to "destructive": "{policy}", and this client '
        f'cannot ask its user to confirm. Call {name} directly, or set "destructive": "allow" on '
        f"'{entry.server}' in the gateway config."
    )


LOGIN_TOOL_NAME = "glm__login"


def login_tool(servers: tuple[str, ...]) -> T.Tool:
    """`glm__login`, listed while some server waits for a person to log in."""
    return T.Tool(
        name=LOGIN_TOOL_NAME,
        title="Log in to a server",
        description=(
            f"Log in to a remote MCP server behind OAuth; its tools appear once the login completes. Needing a "
            f"login now: {', '.join(servers)}."
        ),
        input_schema={
            "type": "object",
            "properties": {"server": {"type": "string", "enum": list(servers), "description": "The server."}},
            "required": ["server"],
        },
        annotations=T.ToolAnnotations(read_only_hint=True, open_world_hint=True),
    )


async def log_in(gateway: Gateway, arguments: dict[str, Any], asker: Asker) -> T.CallToolResult:
    """`glm__login`: the server's login URL, shown to the editor's person (URL-mode elicitation where the editor
    offers it, else in the result); with the elicitation, the call returns once the server is ready."""
    name = arguments.get("server")
    if not isinstance(name, str) or name not in gateway.servers:
        return error_result(f"'server' must be one of: {', '.join(gateway.routes.waiting_for_login()) or '(none)'}")
    try:
        upstream = gateway.routes.upstream_for(name, start=True)  # the caller's own, where logins are each person's
    except UpstreamError as exc:
        return error_result(str(exc))
    if upstream.connected and not upstream.needs_login:
        return T.CallToolResult(content=[T.TextContent(text=f"'{name}' needs no login now ({upstream.state.value}).")])
    url = await login_url(gateway, name)
    how = how_to_log_in(upstream.signin.name)
    if url is None:
        return error_result(f"'{name}' did not start a login: {upstream.error}; {how}")
    said = "accept" if url in gateway.logins.opened else None  # the gateway opened a browser: no second prompt
    if said is None and asker.elicit is not None:
        message = f"Log in to '{name}' in your browser; glm-mcp connects once you have."
        answer = await asker.elicit(
            T.ElicitRequestURLParams(mode="url", message=message, url=url, elicitation_id=secrets.token_urlsafe(12))
        )
        said = answer.action if isinstance(answer, T.ElicitResult) else None
    if said != "accept":
        text = f"Open this URL to log in to '{name}': {url}; its tools appear then."
        return T.CallToolResult(content=[T.TextContent(text=text)])
    await login_over(gateway, name, gateway.config.gateway.login_timeout)
    if not upstream.connected:
        return error_result(f"'{name}' is not logged in yet ({upstream.error or upstream.state.value})")
    return T.CallToolResult(
        content=[T.TextContent(text=f"Logged in to '{name}': {len(upstream.listing.tools)} tools.")]
    )
