"""The MCP face, seen by an MCP client connected in memory: what an editor notices."""

from __future__ import annotations

from typing import Any

import anyio
import mcp.types as T
import pytest
from mcp import Client, MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus

from glm_mcp.config import GatewayConfig, StdioUpstreamConfig
from glm_mcp.faces.mcp.editors import MAX_PENDING_LOGS, Editors, Notifier
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from glm_mcp.relay.asking import EVERYONE
from tests.helpers import growing_server, inproc


def _worker() -> tuple[MCPServer, dict[str, anyio.Event]]:
    events = {"started": anyio.Event(), "cancelled": anyio.Event()}
    server = MCPServer("worker")

    @server.tool()
    async def count(to: int, ctx: Context) -> str:
        """Count with progress."""
        for step in range(1, to + 1):
            await ctx.report_progress(step, to, f"at {step}")
        return f"counted to {to}"

    @server.tool()
    async def hang() -> str:
        """Wait until cancelled."""
        events["started"].set()
        try:
            await anyio.sleep_forever()
        finally:
            events["cancelled"].set()
        return "never"

    @server.tool()
    async def chatty(ctx: Context) -> str:
        """Log a line, then answer."""
        await ctx.warning("disk almost full")  # pyright: ignore[reportDeprecated]  # the 2025-era logging editors use
        return "said it"

    return server, events


async def test_an_editor_lists_and_calls_namespaced_tools_with_progress_relayed() -> None:
    worker, _ = _worker()
    async with Gateway(GatewayConfig(servers={"w": inproc(worker)})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            assert editor.server_capabilities.tools == T.ToolsCapability(list_changed=True)
            names = [tool.name for tool in (await editor.list_tools()).tools]
            assert names == ["w__chatty", "w__count", "w__hang"]
            seen: list[tuple[float, float | None, str | None]] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                seen.append((progress, total, message))

            result = await editor.call_tool("w__count", {"to": 3}, progress_callback=on_progress)
            assert result.structured_content == {"result": "counted to 3"}
            assert seen == [(1, 3, "at 1"), (2, 3, "at 2"), (3, 3, "at 3")]


async def test_cancelling_a_call_in_the_editor_cancels_the_upstream_handler() -> None:
    worker, events = _worker()
    async with Gateway(GatewayConfig(servers={"w": inproc(worker)})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await editor.call_tool("w__hang", {})

                tg.start_soon(call)
                with anyio.fail_after(5):
                    await events["started"].wait()
                tg.cancel_scope.cancel()
            # The editor is still connected: only its cancellation can have reached the server.
            with anyio.fail_after(5):
                await events["cancelled"].wait()
            assert [tool.name for tool in (await editor.list_tools()).tools]  # and the session goes on


async def test_a_tool_of_a_server_that_never_started_is_an_error_result_not_a_protocol_error() -> None:
    config = GatewayConfig(servers={"gone": StdioUpstreamConfig(command="/nonexistent/bin")})
    async with Gateway(config).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            assert (await editor.list_tools()).tools == []
            result = await editor.call_tool("gone__anything", {})
            assert result.is_error
            text = result.content[0]
            assert isinstance(text, T.TextContent)
            assert text.text == "unknown tool 'gone__anything'; the gateway's tools are listed by tools/list"


async def test_list_changed_reaches_every_connected_editor() -> None:
    server = growing_server()
    async with Gateway(GatewayConfig(servers={"dyn": inproc(server)})).running() as gateway:
        facade = build_server(gateway)
        heard = [anyio.Event(), anyio.Event()]

        def handler(index: int) -> Any:
            async def on_message(message: object) -> None:
                if isinstance(message, T.ToolListChangedNotification):
                    heard[index].set()

            return on_message

        async with (
            Client(facade, mode="legacy", message_handler=handler(0)) as first,
            Client(facade, mode="legacy", message_handler=handler(1)) as second,
        ):
            await first.list_tools()
            await second.list_tools()
            await first.call_tool("dyn__grow", {})
            with anyio.fail_after(5):
                await heard[0].wait()
                await heard[1].wait()
            assert [tool.name for tool in (await second.list_tools()).tools] == ["dyn__fresh", "dyn__grow"]


async def test_upstream_log_messages_are_forwarded_with_the_server_name() -> None:
    worker, _ = _worker()
    received: list[T.LoggingMessageNotificationParams] = []
    arrived = anyio.Event()

    async def on_log(params: T.LoggingMessageNotificationParams) -> None:
        received.append(params)
        arrived.set()

    async with Gateway(GatewayConfig(servers={"w": inproc(worker)})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy", logging_callback=on_log) as editor:
            await editor.list_tools()
            await editor.call_tool("w__chatty", {})
            with anyio.fail_after(5):
                await arrived.wait()
    assert [(p.level, p.logger, p.data) for p in received] == [("warning", "w", "disk almost full")]


async def test_each_editor_hears_upstream_logs_at_the_level_it_set() -> None:
    loud = MCPServer("loud")

    @loud.tool()
    async def warn(ctx: Context) -> str:
        """Log a warning."""
        await ctx.warning("a warning")  # pyright: ignore[reportDeprecated]  # the 2025-era logging editors use
        return "warned"

    @loud.tool()
    async def shout(ctx: Context) -> str:
        """Log an error."""
        await ctx.error("an error")  # pyright: ignore[reportDeprecated]  # the 2025-era logging editors use
        return "shouted"

    heard: dict[str, list[str]] = {"quiet": [], "default": []}
    got: dict[str, anyio.Event] = {"quiet": anyio.Event(), "default": anyio.Event()}

    def listener(name: str) -> Any:
        async def on_log(params: T.LoggingMessageNotificationParams) -> None:
            heard[name].append(str(params.data))
            if "an error" in heard[name]:  # the editor's own last log: every earlier one was handled
                got[name].set()

        return on_log

    async with Gateway(GatewayConfig(servers={"w": inproc(loud)})).running() as gateway:
        server = build_server(gateway)
        async with (
            Client(server, mode="legacy", logging_callback=listener("quiet")) as quiet,
            Client(server, mode="legacy", logging_callback=listener("default")) as default,
        ):
            await anyio.wait_all_tasks_blocked()  # both handshakes done: each editor hears logs before any request
            await quiet.set_logging_level("error")  # pyright: ignore[reportDeprecated]  # 2025-era logging
            for editor in (quiet, default):
                await editor.call_tool("w__warn", {})
                await editor.call_tool("w__shout", {})
            with anyio.fail_after(5):
                await got["quiet"].wait()
                await got["default"].wait()
    # Each hears what the server said during its own calls only, at its own level.
    assert heard["quiet"] == ["an error"]
    assert heard["default"] == ["a warning", "an error"]


async def test_resources_templates_and_prompts_are_served_through_the_face() -> None:
    server = MCPServer("docs")

    @server.resource("docs://intro", name="intro")
    def intro() -> str:
        return "Welcome."

    @server.resource("docs://pages/{slug}", name="page")
    def page(slug: str) -> str:
        return f"Page {slug}."

    @server.prompt()
    def explain(term: str) -> str:
        return f"Explain {term}."

    async with Gateway(GatewayConfig(servers={"docs": inproc(server)})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            resources = (await editor.list_resources()).resources
            assert [(r.uri, r.name) for r in resources] == [("docs://intro", "docs__intro")]
            templates = (await editor.list_resource_templates()).resource_templates
            assert [(t.uri_template, t.name) for t in templates] == [("docs://pages/{slug}", "docs__page")]
            page_result = await editor.read_resource("docs://pages/faq")
            assert page_result.contents[0].model_dump()["text"] == "Page faq."
            prompts = (await editor.list_prompts()).prompts
            assert [p.name for p in prompts] == ["docs__explain"]
            rendered = await editor.get_prompt("docs__explain", {"term": "MCP"})
            assert rendered.messages[0].content.model_dump()["text"] == "Explain MCP."


async def test_upstream_logs_never_wait_for_slow_editors_past_the_queue_they_are_dropped_and_counted() -> None:
    gateway = Gateway(GatewayConfig(servers={}))
    notifier = Notifier(gateway, Editors(), InMemorySubscriptionBus())
    params = T.LoggingMessageNotificationParams(level="info", data="line")
    async with gateway.running(), notifier.running():
        # No checkpoint between the calls: the delivery task cannot drain, as with an editor that stopped reading.
        for _ in range(MAX_PENDING_LOGS + 250):
            await notifier.log("chatty", params, EVERYONE)
        assert notifier.dropped_logs == 250


async def test_an_unknown_resource_or_prompt_is_a_json_rpc_invalid_params_error_naming_it() -> None:
    async with Gateway(GatewayConfig(servers={})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            with pytest.raises(MCPError) as resource:
                await editor.read_resource("docs://missing")
            with pytest.raises(MCPError) as prompt:
                await editor.get_prompt("docs__missing", {})
    assert resource.value.code == T.INVALID_PARAMS and "docs://missing" in resource.value.message
    assert resource.value.data == {"uri": "docs://missing"}
    assert prompt.value.code == T.INVALID_PARAMS and "docs__missing" in prompt.value.message


async def test_a_name_no_server_could_expose_is_the_protocols_unknown_tool_error() -> None:
    config = GatewayConfig(servers={"gone": StdioUpstreamConfig(command="/nonexistent/bin")})
    async with Gateway(config).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            with pytest.raises(MCPError) as unknown:
                await editor.call_tool("nobody_has_this", {})
            down = await editor.call_tool("gone__anything", {})  # a configured server's prefix: it may come back
    assert unknown.value.code == T.INVALID_PARAMS and "nobody_has_this" in unknown.value.message
    assert down.is_error
