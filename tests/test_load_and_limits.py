"""Load and size faults: big results, huge listings, many concurrent calls and chats, nothing lost or mixed up.

The load is the issue's figure, cheap enough for CI (about 3 s each here): 200 concurrent chat requests
and 1,000 concurrent tool calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx2
import mcp.types as T
import pytest
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig, ModelConfig, ServeConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.fixture_servers.raw_http_server import raw_http_app
from tests.helpers import inproc, python_server, serve_asgi

pytestmark = pytest.mark.slow

CHATS = 200
CALLS = 1_000


def _rss_mb() -> float:
    """This process's resident memory now (not its peak, which earlier tests may have set higher)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_a_10_mb_result_reaches_the_editor_whole_and_the_model_cut() -> None:
    from mcp import Client

    async with Gateway(GatewayConfig(servers={"raw": python_server("raw_server.py")})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            result = await editor.call_tool("raw__huge", {})
        block = result.content[0]
        assert isinstance(block, T.TextContent) and len(block.text) == 10_000_000
        from glm_mcp.tools.results import flatten_result

        assert flatten_result(result).endswith(
            "the result has 10,000,000 characters; the last 9,980,000 were cut here. Ask the tool for a smaller part if you need them.]"
        )


def _big_server() -> MCPServer:
    server = MCPServer("big")

    @server.tool()
    def big(n: int) -> str:
        """n characters."""
        return "x" * n

    return server


@pytest.mark.parametrize("kind", ["http", "sse"])
async def test_a_result_past_a_mebibyte_from_an_http_server_reaches_the_editor_whole(kind: str) -> None:
    # The SDK takes SSE events of 1 MiB at most; SDK servers send a result twice (as text and as structured content),
    # so a 2 MB result is a 4 MB event, and one past 16 MiB fails saying so.
    from mcp import Client

    server = _big_server()
    app = server.streamable_http_app() if kind == "http" else server.sse_app()
    async with serve_asgi(app) as url:
        upstream = HttpUpstreamConfig(url=f"{url}/{'mcp' if kind == 'http' else 'sse'}", type=kind)  # pyright: ignore[reportArgumentType]  # a literal
        async with Gateway(GatewayConfig(servers={"b": upstream})).running() as gateway:
            async with Client(build_server(gateway), mode="legacy") as editor:
                whole = await editor.call_tool("b__big", {"n": 2_000_000})
                too_big = await editor.call_tool("b__big", {"n": 9_000_000})
                block = too_big.content[0]
                assert too_big.is_error and isinstance(block, T.TextContent)
                # Streamable HTTP fails the one request with the SDK's reason; legacy SSE loses its whole stream.
                said = "exceeded the 16777216 byte limit" if kind == "http" else "the connection closed"
                assert said in block.text
                after = await editor.call_tool("b__big", {"n": 2_000_000})  # the next call is answered
    assert [result.is_error for result in (whole, after)] == [False, False]
    block = whole.content[0]
    assert not whole.is_error and isinstance(block, T.TextContent) and block.text == "x" * 2_000_000


async def test_a_json_answer_past_16_mib_from_an_http_server_fails_that_call_and_the_session_goes_on() -> None:
    # A remote server's answer must not fill the gateway's memory: past the bound it is not read further.
    from mcp import Client

    async with serve_asgi(raw_http_app()) as url:
        upstream = HttpUpstreamConfig(url=f"{url}/mcp")
        async with Gateway(GatewayConfig(servers={"raw": upstream})).running() as gateway:
            async with Client(build_server(gateway), mode="legacy") as editor:
                refused = await editor.call_tool("raw__huge", {})
                after = await editor.call_tool("raw__cut", {})
    block = refused.content[0]
    assert refused.is_error and isinstance(block, T.TextContent)
    assert "The call failed at server 'raw'" in block.text and "answer is larger than 16 MiB" in block.text
    assert not after.is_error


async def test_a_server_listing_5000_tools_is_served_whole() -> None:
    from mcp import Client

    config = GatewayConfig(servers={"many": python_server("raw_server.py", "--many", "5000")})
    async with Gateway(config).running() as gateway:
        assert len(gateway.catalog.tools) == 5000
        async with Client(build_server(gateway), mode="legacy") as editor:
            assert len((await editor.list_tools()).tools) == 5000
            result = await editor.call_tool("many__tool_04999", {"text": "last"})
            block = result.content[0]
            assert isinstance(block, T.TextContent) and block.text == '{"text": "last"}'


async def test_concurrent_tool_calls_are_all_answered_and_never_mixed_up() -> None:
    from mcp import Client

    config = GatewayConfig(servers={"a": python_server("sdk_server.py"), "b": python_server("raw_server.py")})
    async with Gateway(config).running() as gateway, Client(build_server(gateway), mode="legacy") as editor:
        answers: dict[int, str] = {}

        async def call(i: int) -> None:
            if i % 2:
                result = await editor.call_tool("a__echo", {"text": f"call-{i}"})
            else:
                result = await editor.call_tool("b__echo", {"text": f"call-{i}"})
            block = result.content[0]
            assert isinstance(block, T.TextContent)
            answers[i] = block.text

        async with anyio.create_task_group() as tg:
            for i in range(CALLS):
                tg.start_soon(call, i)
    assert len(answers) == CALLS
    for i, text in answers.items():
        assert text == (f"call-{i}" if i % 2 else json.dumps({"text": f"call-{i}"}))


async def test_concurrent_chats_each_get_their_own_answer() -> None:
    server = MCPServer("calc")

    @server.tool()
    def square(n: int) -> int:
        """n squared."""
        return n * n

    def script(body: dict[str, object]) -> Reply:
        messages = body["messages"]
        assert isinstance(messages, list)
        question = int(str(messages[0]["content"]).split()[-1])  # pyright: ignore[reportUnknownArgumentType]  # JSON from the request
        tool_messages = [m for m in messages if m["role"] == "tool"]  # pyright: ignore[reportUnknownVariableType]  # JSON from the request
        if not tool_messages:
            return Reply(tool_calls=[("calc__square", json.dumps({"n": question}))])
        return Reply(content=f"{question} squared is {tool_messages[0]['content']}")

    fake = FakeGlm(script)
    before = _rss_mb()
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"), max_concurrency=64)
        serve = ServeConfig(max_concurrent_runs=64, max_queued_runs=1000)  # the queue is tested on its own
        config = GatewayConfig(servers={"calc": inproc(server, destructive="allow")}, model=model, gateway=serve)
        app = build_app(Gateway(config))
        async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url, timeout=60) as http:
            answers: dict[int, str] = {}

            async def chat(i: int) -> None:
                body = {"model": "glm-4.6", "messages": [{"role": "user", "content": f"square of {i}"}]}
                response = await http.post("/v1/chat/completions", json=body)
                assert response.status_code == 200, response.text
                answers[i] = response.json()["choices"][0]["message"]["content"]

            peak = [before]

            async def sample_memory() -> None:
                while True:  # sampling, not synchronisation: the peak while all chats are in flight
                    peak[0] = max(peak[0], _rss_mb())
                    await anyio.sleep(0.02)

            async with anyio.create_task_group() as sampler:
                sampler.start_soon(sample_memory)
                async with anyio.create_task_group() as tg:
                    for i in range(CHATS):
                        tg.start_soon(chat, i)
                sampler.cancel_scope.cancel()
    assert answers == {i: f"{i} squared is {i * i}" for i in range(CHATS)}
    assert len(fake.requests) == 2 * CHATS
    # Bounded memory: at its peak the process holds far less than a copy per request would need.
    assert peak[0] - before < 200, f"grew {peak[0] - before:.0f} MB at the peak"
