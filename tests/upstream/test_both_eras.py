"""Servers of both eras over streamable HTTP: each caller served in its own era, nothing either era offers lost, and
a server of 2026-07-28 only left alone by callers of that era."""

from __future__ import annotations

from typing import Any

import mcp.types as T
from mcp import Client
from mcp.server import Server, ServerRequestContext

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from tests.helpers import serve_asgi, text_of

ERA_TOOL = T.Tool(name="era", input_schema={"type": "object"})
NEW_TOOL = T.Tool(name="new_only", input_schema={"type": "object"})
OLD_TOOL = T.Tool(name="old_only", input_schema={"type": "object"})


def two_era_server() -> tuple[Server[Any], list[str]]:
    """A server of both eras whose listing differs per era, and the methods it was asked, each with its era."""
    asked: list[str] = []

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        modern = ctx.session.protocol_version == "2026-07-28"
        return T.ListToolsResult(tools=[ERA_TOOL, NEW_TOOL] if modern else [ERA_TOOL, OLD_TOOL])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        asked.append(f"{params.name} in {ctx.session.protocol_version}")
        return T.CallToolResult(content=[T.TextContent(text=str(ctx.session.protocol_version))])

    return Server("both", on_list_tools=list_tools, on_call_tool=call_tool), asked


async def test_a_server_of_both_eras_serves_each_editor_in_its_own_era_and_loses_nothing_either_offers() -> None:
    server, asked = two_era_server()
    async with serve_asgi(server.streamable_http_app()) as url:
        gateway = Gateway(GatewayConfig(servers={"both": HttpUpstreamConfig(url=f"{url}/mcp")}))
        async with (
            gateway.running(),
            Client(build_server(gateway), mode="2026-07-28") as new_editor,
            Client(build_server(gateway), mode="legacy") as old_editor,
        ):
            assert gateway.servers["both"].protocol_version == "2026-07-28"  # discovered first
            assert text_of(await new_editor.call_tool("both__era", {})) == "2026-07-28"
            assert text_of(await old_editor.call_tool("both__era", {})) == "2025-11-25"
            # With both sessions open the listings are merged: each era's own tool, called in its era by anyone.
            assert {"both__era", "both__new_only", "both__old_only"} <= set(gateway.catalog.tools)
            assert text_of(await old_editor.call_tool("both__new_only", {})) == "2026-07-28"
            assert text_of(await new_editor.call_tool("both__old_only", {})) == "2025-11-25"
            assert gateway.servers["both"].protocol_versions == ("2026-07-28", "2025-11-25")
    assert asked == [
        "era in 2026-07-28",
        "era in 2025-11-25",
        "new_only in 2026-07-28",
        "old_only in 2025-11-25",
    ]


async def test_a_server_of_2026_only_sees_no_handshake_from_2026_editors_and_refuses_the_one_another_brings() -> None:
    methods: list[str] = []

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[ERA_TOOL])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        return T.CallToolResult(content=[T.TextContent(text=str(ctx.session.protocol_version))])

    app = Server("new", on_list_tools=list_tools, on_call_tool=call_tool).streamable_http_app()

    async def only_2026(scope: Any, receive: Any, send: Any) -> None:
        """The server as one of 2026-07-28 only: a request without that era's header is refused."""
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and scope["method"] == "POST":
            methods.append(headers.get(b"mcp-method", b"initialize?").decode())
            if headers.get(b"mcp-protocol-version") != b"2026-07-28":
                body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"2026-07-28 only"}}'
                await send(
                    {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]}
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    async with serve_asgi(only_2026) as url:
        gateway = Gateway(GatewayConfig(servers={"new": HttpUpstreamConfig(url=f"{url}/mcp")}))
        async with gateway.running(), Client(build_server(gateway), mode="2026-07-28") as new_editor:
            assert text_of(await new_editor.call_tool("new__era", {})) == "2026-07-28"
            assert "initialize?" not in methods  # every request carried the era's headers
            async with Client(build_server(gateway), mode="legacy") as old_editor:
                assert text_of(await old_editor.call_tool("new__era", {})) == "2026-07-28"
                assert text_of(await old_editor.call_tool("new__era", {})) == "2026-07-28"
            assert gateway.servers["new"].state.value == "ready" and gateway.servers["new"].restarts == 0
    assert methods.count("initialize?") == 1  # tried once, when an editor of that era first needed it
