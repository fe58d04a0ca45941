"""One upstream session: listing every page, quarantine, refresh, progress-reset timeouts, failures."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import mcp.types as T
import pytest
from mcp.server import Server, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer

from glm_mcp.config import GatewayConfig, StdioUpstreamConfig, UpstreamConfig
from glm_mcp.errors import UpstreamTimeout, UpstreamUnavailable
from glm_mcp.gateway.core import Gateway
from glm_mcp.upstream.connection import ServerState, Upstream
from tests.helpers import growing_server, inproc, python_server


@asynccontextmanager
async def running_upstream(name: str, config: UpstreamConfig) -> AsyncGenerator[Upstream, None]:
    """One supervised upstream, started and connected, stopped on exit."""
    upstream = Upstream(name, config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(upstream.run)
        with anyio.fail_after(5):
            await upstream.first_outcome.wait()
        yield upstream
        tg.cancel_scope.cancel()


async def test_every_page_is_read_and_bad_tools_are_quarantined_not_the_server() -> None:
    config = GatewayConfig(servers={"raw": python_server("raw_server.py")})
    async with Gateway(config).running() as gateway:
        status = gateway.status()["servers"]["raw"]
        assert status["state"] == "ready"
        assert sorted(gateway.catalog.tools) == [
            "raw__crash",
            "raw__dotted_name_with_spaces",
            "raw__echo",
            "raw__huge",
            "raw__slow",
            "raw__untyped",
        ]
        reasons = {item["tool"]: item["reason"] for item in status.get("quarantined", [])}
        assert set(reasons) == {"bad_type", "no_schema", "echo", "<unnamed>"}
        assert 'must have "type": "object"' in reasons["bad_type"]
        assert "listed twice" in reasons["echo"]
        # The tool whose schema only lacked its type is repaired and callable.
        untyped = gateway.catalog.tools["raw__untyped"][1]
        assert untyped.input_schema == {"type": "object", "properties": {}}
        # The original, illegal name is what the server receives.
        assert gateway.catalog.tool("raw__dotted_name_with_spaces").original == "dotted.name/with spaces"
        result = await gateway.call_tool("raw__echo", {"text": "hi"})
        assert result.content == [T.TextContent(text='{"text": "hi"}')]


async def test_list_changed_from_a_server_refreshes_its_part_of_the_catalog() -> None:
    server = growing_server()
    changed = anyio.Event()
    gateway = Gateway(GatewayConfig(servers={"dyn": inproc(server)}))

    async def listener(old: object, new: object) -> None:
        if "dyn__fresh" in gateway.catalog.tools:
            changed.set()

    gateway.on_catalog_change(listener)
    async with gateway.running():
        assert list(gateway.catalog.tools) == ["dyn__grow"]
        await gateway.call_tool("dyn__grow", {})
        with anyio.fail_after(5):
            await changed.wait()
        assert list(gateway.catalog.tools) == ["dyn__fresh", "dyn__grow"]


@pytest.mark.slow  # lets real time pass beyond a timeout
async def test_a_call_outlives_its_timeout_while_progress_keeps_coming() -> None:
    """The timeout restarts at every progress notification, so a long but lively tool is not cut off."""
    gate = anyio.Event()
    server = MCPServer("slowpoke")

    @server.tool()
    async def lively(ctx: Context) -> str:
        """Report progress until released."""
        step = 0
        while not gate.is_set():
            step += 1
            await ctx.report_progress(step)
            with anyio.move_on_after(0.02):
                await gate.wait()
        return "finished"

    # A step every 0.02 s against a 2 s timeout: only a stall of 2 s on a loaded machine could fail it, while the
    # call still runs one and a half timeouts, by the clock (not by a count of steps).
    async with running_upstream("slowpoke", inproc(server, timeout=2.0)) as upstream:
        started = anyio.current_time()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if anyio.current_time() - started > 3.0:
                gate.set()

        result = await upstream.call_tool("lively", {}, on_progress=on_progress)
        assert result.structured_content == {"result": "finished"}


async def test_a_silent_call_times_out_with_an_error_naming_the_server_and_is_cancelled_upstream() -> None:
    cancelled = anyio.Event()
    server = MCPServer("mute")

    @server.tool()
    async def silent() -> str:
        """Never answers."""
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return "never"

    @server.tool()
    def quick() -> str:
        """Answers at once."""
        return "still here"

    async with running_upstream("mute", inproc(server, timeout=0.1)) as upstream:
        with pytest.raises(UpstreamTimeout) as caught:
            await upstream.call_tool("silent", {})
        assert caught.value.server == "mute"
        assert "timed out after 0.1 s" in str(caught.value)
        with anyio.fail_after(5):
            await cancelled.wait()
        # The session is still usable afterwards.
        assert (await upstream.call_tool("quick", {})).structured_content == {"result": "still here"}


async def test_a_silent_resource_or_prompt_is_an_upstream_timeout_not_a_protocol_error() -> None:
    server = MCPServer("mute")

    @server.resource("mute://silence")
    async def silence() -> str:
        await anyio.sleep_forever()
        return "never"

    @server.prompt()
    async def hush() -> str:
        await anyio.sleep_forever()
        return "never"

    async with running_upstream("mute", inproc(server, timeout=0.1)) as upstream:
        with pytest.raises(UpstreamTimeout, match="resource 'mute://silence': no answer after 0.1 s"):
            await upstream.read_resource("mute://silence")
        with pytest.raises(UpstreamTimeout, match="prompt 'hush': no answer after 0.1 s"):
            await upstream.get_prompt("hush", None)


async def test_a_command_that_does_not_exist_fails_alone_and_says_why() -> None:
    healthy = MCPServer("ok")

    @healthy.tool()
    def ping() -> str:
        """Pong."""
        return "pong"

    config = GatewayConfig(
        servers={
            "missing": StdioUpstreamConfig(command="/nonexistent/mcp-server"),
            "ok": inproc(healthy),
        }
    )
    async with Gateway(config).running() as gateway:
        status = gateway.status()
        assert status["ready"] is False
        assert status["servers"]["missing"]["state"] == "failed"
        assert "command not found" in status["servers"]["missing"].get("error", "")
        assert list(gateway.catalog.tools) == ["ok__ping"]
        with pytest.raises(UpstreamUnavailable):
            await gateway.servers["missing"].call_tool("anything", {})


async def test_a_server_that_exits_at_start_is_reported_with_its_last_stderr_line() -> None:
    config = GatewayConfig(servers={"broken": python_server("fails_to_start.py")})
    async with Gateway(config).running() as gateway:
        status = gateway.status()["servers"]["broken"]
        assert status["state"] == "failed"
        assert "fatal: the database file is missing" in status.get("error", "")


@pytest.mark.slow  # waits out a start timeout
async def test_a_server_slower_than_its_start_timeout_is_failed_with_that_reason() -> None:
    config = GatewayConfig(
        servers={
            "sleepy": StdioUpstreamConfig(
                command=sys.executable, args=("-c", "import time; time.sleep(60)"), start_timeout=0.5
            )
        }
    )
    async with Gateway(config).running() as gateway:
        status = gateway.status()["servers"]["sleepy"]
        assert status["state"] == "failed"
        assert status.get("error", "") == (
            f"no answer to initialize after 0.5 s (start_timeout); command: {sys.executable} -c "
            "'import time; time.sleep(60)'"
        )


async def test_a_disabled_server_is_listed_as_disabled_and_never_started() -> None:
    config = GatewayConfig(servers={"off": StdioUpstreamConfig(command="/nonexistent", disabled=True)})
    async with Gateway(config).running() as gateway:
        assert gateway.servers["off"].state is ServerState.DISABLED
        assert gateway.status() == {
            "ready": True,
            "servers": {
                "off": {
                    "state": "disabled",
                    "transport": "stdio",
                    "tools": 0,
                    "resources": 0,
                    "prompts": 0,
                    "restarts": 0,
                    "uptime_seconds": None,
                }
            },
            "tools": 0,
        }


async def test_an_error_response_becomes_an_upstream_protocol_error() -> None:
    async def call_tool(ctx: ServerRequestContext[object], params: T.CallToolRequestParams) -> T.CallToolResult:
        raise ValueError("kaput")

    async def list_tools(ctx: ServerRequestContext[object], params: object) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[T.Tool(name="t", input_schema={"type": "object"})])

    server = Server[object]("err", on_list_tools=list_tools, on_call_tool=call_tool)
    async with Gateway(GatewayConfig(servers={"err": inproc(server)})).running() as gateway:
        result = await gateway.call_tool("err__t", {})
        assert result.is_error
        text = result.content[0]
        assert isinstance(text, T.TextContent)
        assert text.text.startswith("The call failed at server 'err': error ")
        assert "kaput" in text.text
