"""Servers of the 2026-07-28 era: connected (with or without a handshake they cannot use), listed, called with the
era's headers, followed and relayed."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import mcp.types as T
import pytest
from mcp import Client, MCPError
from mcp.client import ClientRequestContext
from mcp.server import Server, ServerRequestContext

from glm_mcp.catalog import Catalog
from glm_mcp.config import GatewayConfig, HttpUpstreamConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from tests.helpers import UpdatesHeard, call_changing_the_catalog, logged, python_server, serve_asgi, text_of

pytestmark = pytest.mark.slow  # the server runs as a subprocess


async def test_a_2026_only_server_is_connected_in_auto_mode_listed_called_and_its_changes_followed() -> None:
    async with Gateway(GatewayConfig(servers={"new": python_server("modern_only.py")})).running() as gateway:
        assert gateway.status()["servers"]["new"]["state"] == "ready"
        assert gateway.servers["new"].protocol_version == "2026-07-28"
        assert set(gateway.catalog.tools) == {
            "new__echo",
            "new__ask_name",
            "new__ask_both",
            "new__summarize",
            "new__grow",
            "new__tick",
        }
        assert text_of(await gateway.call_tool("new__echo", {"text": "modern"})) == "modern"
        grown = anyio.Event()

        async def heard(old: Catalog, new: Catalog) -> None:
            if "new__fresh" in new.tools:
                grown.set()

        gateway.on_catalog_change(heard)
        await gateway.call_tool("new__grow", {})
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await grown.wait()


async def test_a_handshake_answered_in_a_version_the_client_cannot_use_is_a_refusal_and_discover_follows() -> None:
    config = GatewayConfig(servers={"new": python_server("modern_only.py", "--answer-initialize")})
    async with Gateway(config).running() as gateway:
        upstream = gateway.servers["new"]
        assert upstream.state.value == "ready" and upstream.restarts == 0  # no reconnect loop
        assert upstream.protocol_version == "2026-07-28"
        assert text_of(await gateway.call_tool("new__echo", {"text": "both ways"})) == "both ways"


async def test_a_2026_servers_questions_reach_a_2025_editor_and_a_2026_editor() -> None:
    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        return T.ElicitResult(action="accept", content={"name": "Ada"})

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="short"), model="editor-llm")

    gateway = Gateway(GatewayConfig(servers={"new": python_server("modern_only.py", protocol="2026-07-28")}))
    async with gateway.running():
        for mode in ("legacy", "2026-07-28"):
            editor = Client(build_server(gateway), mode=mode, elicitation_callback=elicit, sampling_callback=sample)
            async with editor:
                assert text_of(await editor.call_tool("new__ask_name", {})) == "hello Ada", mode
                assert text_of(await editor.call_tool("new__summarize", {"text": "x"})) == "editor-llm said: short", (
                    mode
                )


async def test_an_era_pinned_in_the_config_is_the_only_one_tried_and_a_refusal_says_how_to_fix_it() -> None:
    config = GatewayConfig(servers={"new": python_server("modern_only.py", protocol="legacy")})
    async with Gateway(config).running() as gateway:
        status = gateway.status()["servers"]["new"]
    assert status["state"] == "failed" and gateway.servers["new"].protocol_version is None
    error = status.get("error", "")
    assert "speaks only 2026-07-28" in error and '"protocol": "legacy"' in error and '"auto" tries both' in error


async def test_an_editor_subscribed_to_a_2026_servers_resource_hears_it_change_and_unsubscribing_stops_it_upstream() -> (
    None
):
    updates = UpdatesHeard()
    followed: list[str] = []  # what the gateway itself still hears from the server

    async def heard(uri: str) -> None:
        followed.append(uri)

    gateway = Gateway(GatewayConfig(servers={"new": python_server("modern_only.py")}))
    gateway.on_resource_updated(heard)
    async with gateway.running(), Client(build_server(gateway), mode="legacy", message_handler=updates) as editor:
        await editor.subscribe_resource("modern://clock")  # pyright: ignore[reportDeprecated]  # 2025-era editors
        assert text_of(await editor.call_tool("new__tick", {})) == "tick 1"
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await updates.arrived.wait()
        await editor.unsubscribe_resource("modern://clock")  # pyright: ignore[reportDeprecated]  # 2025-era editors
        assert text_of(await editor.call_tool("new__tick", {})) == "tick 2"
        # The server's listen stream is ordered: had the gateway still followed the clock, the second tick's update
        # would have been handled before the tool list change `grow` announces after it.
        await call_changing_the_catalog(gateway, "new__grow", {})
    assert updates.uris == ["modern://clock"] and followed == ["modern://clock"]


async def test_subscriptions_to_a_2026_server_made_at_once_all_complete() -> None:
    gateway = Gateway(GatewayConfig(servers={"new": python_server("modern_only.py", timeout=5)}))
    async with gateway.running():
        with anyio.fail_after(4):  # each waits for the listen stream that names its resource, not for a timeout
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(gateway.subscribe, "modern://clock")


async def test_a_2026_call_over_http_names_its_tool_and_mirrors_its_designated_arguments_in_headers() -> None:
    tools = [
        T.Tool(
            name="deploy",
            input_schema={
                "type": "object",
                "properties": {
                    "region": {"type": "string", "x-mcp-header": "Region"},
                    "note": {"type": "string", "x-mcp-header": "Note"},
                    "size": {"type": "integer"},
                },
            },
        ),
        T.Tool(
            name="broken", input_schema={"type": "object", "properties": {"x": {"type": "object", "x-mcp-header": "X"}}}
        ),
    ]
    seen: list[dict[str, str]] = []

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        return T.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        return T.CallToolResult(content=[T.TextContent(text="deployed")])

    server = Server("cloud", on_list_tools=list_tools, on_call_tool=call_tool)
    app = server.streamable_http_app()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append({name.decode(): value.decode() for name, value in scope["headers"]})
        await app(scope, receive, send)

    async with serve_asgi(recording) as url:  # its lifespan runs the session manager
        config = GatewayConfig(servers={"cloud": HttpUpstreamConfig(url=f"{url}/mcp", protocol="2026-07-28")})
        async with Gateway(config).running() as gateway:
            status = gateway.status()["servers"]["cloud"]
            result = await gateway.call_tool("cloud__deploy", {"region": "eu-west", "note": " Grüße ", "size": 3})
    assert text_of(result) == "deployed" and gateway.servers["cloud"].protocol_version == "2026-07-28"
    assert [item["tool"] for item in status.get("quarantined", [])] == ["broken"]
    assert "x-mcp-header" in status.get("quarantined", [])[0]["reason"]
    call = next(headers for headers in seen if headers.get("mcp-method") == "tools/call")
    assert call["mcp-name"] == "deploy" and call["mcp-protocol-version"] == "2026-07-28"
    assert call["mcp-param-region"] == "eu-west"
    assert call["mcp-param-note"].startswith("=?base64?")  # not ASCII, and padded: sent encoded


class _Asker:
    """A caller that can sample (an editor whose model answers), and nothing else."""

    label = "a sampling editor"
    in_glm_loop = False
    identity = object()
    elicit = None
    roots = None

    async def sample(self, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="ok"), model="m")


async def test_a_2026_request_declares_what_its_caller_can_answer_not_what_the_gateway_could() -> None:
    declared: list[dict[str, Any]] = []

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[T.Tool(name="think", input_schema={"type": "object"})])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        meta: Any = params.meta or {}
        declared.append(dict(meta.get("io.modelcontextprotocol/clientCapabilities") or {}))
        return T.CallToolResult(content=[T.TextContent(text="thought")])

    server = Server("mind", on_list_tools=list_tools, on_call_tool=call_tool)
    async with serve_asgi(server.streamable_http_app()) as url:
        config = GatewayConfig(servers={"mind": HttpUpstreamConfig(url=f"{url}/mcp", protocol="2026-07-28")})
        async with Gateway(config).running() as gateway:
            await gateway.call_tool("mind__think", {})  # nobody to ask: `glm-mcp call`, say
            await gateway.call_tool("mind__think", {}, asker=_Asker())
    alone, sampling_editor = declared
    assert "sampling" not in alone and "elicitation" not in alone and "roots" in alone
    assert "sampling" in sampling_editor and "elicitation" not in sampling_editor


async def test_questions_a_2026_server_asks_together_reach_a_2026_editor_together_under_the_servers_keys() -> None:
    gateway = Gateway(GatewayConfig(servers={"new": python_server("modern_only.py", protocol="2026-07-28")}))
    async with (
        gateway.running(),
        Client(build_server(gateway), mode="2026-07-28", elicitation_callback=_never) as editor,
    ):
        paused = await editor.session.call_tool("new__ask_both", {}, allow_input_required=True)
        assert isinstance(paused, T.InputRequiredResult) and paused.request_state is not None
        assert sorted((paused.input_requests or {}).keys()) == ["color", "name"]  # one round, the server's keys
        answers: dict[str, T.InputResponse] = {
            "name": T.ElicitResult(action="accept", content={"name": "Ada"}),
            "color": T.ElicitResult(action="accept", content={"color": "blue"}),
        }
        done = await editor.session.call_tool(
            "new__ask_both", {}, input_responses=answers, request_state=paused.request_state
        )
    assert isinstance(done, T.CallToolResult) and text_of(done) == "Ada likes blue"


async def _never(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
    raise AssertionError("a 2026-07-28 editor is asked in rounds, not by requests")


async def test_a_2026_server_without_listen_is_served_and_its_silence_is_no_warning() -> None:
    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[T.Tool(name="ping", input_schema={"type": "object"})])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        return T.CallToolResult(content=[T.TextContent(text="pong")])

    server = Server("quiet", on_list_tools=list_tools, on_call_tool=call_tool)  # registers no subscriptions/listen
    with logged("glm_mcp.upstream", "offers no subscriptions/listen") as said:
        async with serve_asgi(server.streamable_http_app()) as url:
            config = GatewayConfig(servers={"quiet": HttpUpstreamConfig(url=f"{url}/mcp", protocol="2026-07-28")})
            async with Gateway(config).running() as gateway:
                assert text_of(await gateway.call_tool("quiet__ping", {})) == "pong"
                with anyio.fail_after(10):  # hang guard: the stream is opened as soon as the server is ready
                    await said.seen.wait()
    assert not [record.getMessage() for record in said.records if record.levelno >= logging.WARNING]


async def test_answers_a_2026_editor_sends_with_its_first_request_answer_the_servers_question_without_a_round() -> None:
    asked: list[str] = []

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        asked.append("elicitation")
        return T.ElicitResult(action="accept", content={"name": "asked"})

    gateway = Gateway(GatewayConfig(servers={"new": python_server("modern_only.py", protocol="2026-07-28")}))
    seeded: T.InputResponses = {
        "name": T.ElicitResult(action="accept", content={"name": "Ada"}),
        "unknown": T.ElicitResult(action="decline"),
    }
    async with (
        gateway.running(),
        Client(build_server(gateway), mode="2026-07-28", elicitation_callback=elicit) as editor,
    ):
        result = await editor.call_tool("new__ask_name", {}, input_responses=seeded)
    assert text_of(result) == "hello Ada" and asked == []  # the unknown key is ignored, as the revision asks


async def test_a_servers_missing_capability_error_reaches_the_2026_editor_as_the_servers_own_error() -> None:
    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[T.Tool(name="think", input_schema={"type": "object"})])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        caps = ctx.session.client_capabilities
        if caps is None or caps.sampling is None:
            data: dict[str, Any] = {"requiredCapabilities": {"sampling": {}}}
            raise MCPError(T.MISSING_REQUIRED_CLIENT_CAPABILITY, "thinking needs your model", data)
        return T.CallToolResult(content=[T.TextContent(text="thought")])

    server = Server("mind", on_list_tools=list_tools, on_call_tool=call_tool)
    async with serve_asgi(server.streamable_http_app()) as url:
        gateway = Gateway(GatewayConfig(servers={"mind": HttpUpstreamConfig(url=f"{url}/mcp")}))
        async with gateway.running(), Client(build_server(gateway), mode="2026-07-28") as editor:
            with pytest.raises(MCPError) as refused:
                await editor.call_tool("mind__think", {})
    assert refused.value.code == T.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert refused.value.error.data == {"requiredCapabilities": {"sampling": {}}}
    assert "thinking needs your model" in refused.value.message
