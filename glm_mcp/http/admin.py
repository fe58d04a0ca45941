"""The operator's face of `glm-mcp serve`: the status page at `/` and the `/admin/*` API it and `glm-mcp restart` use.

Contract:
- `/` is the status page, one self-contained HTML file (no build step, no CDN, works offline); it holds no data
  itself and asks for the token, kept in the page's session storage, never in a URL; its Content-Security-Policy
  lets only its own inline script and style run (by hash); it asks before calling a destructive tool;
- `/admin/*` needs the gateway's token like `/mcp` (the app's `BearerAuth`) and is refused to other origins;
- `GET /admin/status`: servers, tools with their policy, the last calls and model requests, a refused reload;
- `GET /admin/events`: the same activity live, as server-sent events (read with `fetch`, which can send the token),
  at most `max_event_streams` (64) at once;
- `POST /admin/reload`, `POST /admin/servers/{name}/{restart|disable|enable|login}` (`login` answers the URL of
  the server's login, starting one), `POST /admin/call` (a tool, with
  JSON arguments: the form on the page).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from importlib import resources
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from glm_mcp._json import as_object
from glm_mcp.activity import as_json
from glm_mcp.catalog import is_destructive, loop_policy
from glm_mcp.errors import ToolNotFoundError, UpstreamError
from glm_mcp.gateway.core import Gateway
from glm_mcp.gateway.logins import login_url
from glm_mcp.tools.results import flatten_result

HEARTBEAT_SECONDS = 15.0
"""A comment line on the event stream this often, so proxies and the page see it alive."""


def _inline_hash(html: str, tag: str) -> str:
    """The CSP source of the one inline `<tag>` block of `html`: its SHA-256, so only that exact text runs."""
    body = html.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


def page_policy(html: str) -> str:
    """The status page's Content-Security-Policy: its own inline script and style only (by hash), requests to this
    origin only, no frames, no plugins, no other page's scripts, even if a server's text ever reached the page."""
    return (
        f"default-src 'none'; script-src {_inline_hash(html, 'script')}; style-src {_inline_hash(html, 'style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


def status_body(gateway: Gateway) -> dict[str, Any]:
    """Everything the status page shows at load time."""
    agent = gateway.agent
    compiled = agent.compiled()
    tools: list[dict[str, Any]] = []
    for name, (entry, tool) in gateway.catalog.tools.items():
        offered = name in compiled.definitions and name not in compiled.destructive
        why = compiled.left_out.get(name)
        server_config = gateway.config.servers.get(entry.server)
        policy = loop_policy(tool, server_config.destructive) if server_config is not None else ""
        tools.append(
            {
                "name": name,
                "server": entry.server,
                "description": (tool.description or "").strip().split("\n")[0][:200],
                "destructive": is_destructive(tool),
                "offered": offered,
                "policy": why or policy,
            }
        )
    for server, upstream in gateway.servers.items():
        left_out = [(tool, f"quarantined: {why}") for tool, why in upstream.listing.quarantined]
        left_out += [
            (clash.name, f"not exposed: {clash.reason}")
            for clash in gateway.catalog.conflicts.get(server, ())
            if clash.kind == "tool"
        ]
        for tool_name, policy in left_out:
            tools.append(
                {
                    "name": tool_name,
                    "server": server,
                    "description": "",
                    "destructive": None,
                    "offered": False,
                    "policy": policy,
                }
            )
    return {
        **gateway.status(),
        "model": agent.model.config.name,
        "tool_list": tools,
        "calls": [as_json(event) for event in gateway.activity.calls],
        "model_requests": [as_json(event) for event in gateway.activity.model_requests],
        "sampling": [as_json(event) for event in gateway.activity.sampling],
    }


def admin_routes(gateway: Gateway, shared: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> list[Route]:
    """The routes of the status page and the admin API; `shared` adds the callers' usage and the replicas."""

    html = resources.files("glm_mcp.http").joinpath("status_page.html").read_text(encoding="utf-8")
    headers = {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": page_policy(html),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    async def page(request: Request) -> Response:
        return HTMLResponse(html, headers=headers)

    async def status(request: Request) -> Response:
        extra = await shared() if shared is not None else {}
        return JSONResponse({**status_body(gateway), **extra})

    async def events(request: Request) -> Response:
        limit = gateway.config.gateway.max_event_streams
        if gateway.activity.subscribers >= limit:
            message = f"{limit} event streams are open already (gateway.max_event_streams); close one and retry"
            return JSONResponse(
                {"error": {"message": message, "type": "server_error"}}, status_code=503, headers={"Retry-After": "5"}
            )

        async def stream() -> AsyncGenerator[str, None]:
            yield ": glm-mcp events\n\n"
            async with gateway.activity.subscribe() as feed:
                while True:
                    with anyio.move_on_after(HEARTBEAT_SECONDS):
                        event = await feed.receive()
                        yield f"data: {json.dumps(as_json(event), default=str)}\n\n"
                        continue
                    yield ": alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def reload(request: Request) -> Response:
        report = await gateway.reload()
        return JSONResponse(report, status_code=200 if report["ok"] else 400)

    async def server_action(request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        try:
            if action == "login":
                if name not in gateway.servers:
                    raise ToolNotFoundError(f"no server '{name}' in the config")
                try:
                    url = await login_url(gateway, name)
                except UpstreamError as exc:  # a server whose logins are each person's: theirs to start
                    return _error(str(exc), 409)
                if url is None:
                    return _error(f"'{name}' started no login ({gateway.servers[name].state.value})", 409)
                return JSONResponse({"ok": True, "server": name, "action": action, "url": url})
            if action == "restart":
                await gateway.restart_server(name)
            elif action in ("disable", "enable"):
                await gateway.set_enabled(name, action == "enable")
            else:
                return _error(f"unknown action '{action}': restart, disable, enable or login", 404)
        except ToolNotFoundError as exc:
            return _error(str(exc), 404)
        return JSONResponse({"ok": True, "server": name, "action": action})

    async def call(request: Request) -> Response:
        try:
            body = as_object(await request.json()) or {}
        except ValueError:
            return _error('the body must be JSON: {"name": ..., "arguments": {...}}', 400)
        name = body.get("name")
        arguments = as_object(body.get("arguments", {}))
        if not isinstance(name, str) or arguments is None:
            return _error("give 'name' (a tool) and 'arguments' (a JSON object)", 400)
        result = await gateway.call_tool(name, arguments, source="admin")
        return JSONResponse(
            {
                "is_error": bool(result.is_error),
                "text": flatten_result(result, 100_000),
                "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
            }
        )

    return [
        Route("/", page),
        Route("/admin/status", status),
        Route("/admin/events", events),
        Route("/admin/reload", reload, methods=["POST"]),
        Route("/admin/servers/{name}/{action}", server_action, methods=["POST"]),
        Route("/admin/call", call, methods=["POST"]),
    ]
