"""Interoperability with MCP servers this project did not write, installed from PyPI and npm.

- `mcp-server-time` (PyPI, Python, stdio);
- `@modelcontextprotocol/server-everything` (npm, Node), over stdio, streamable HTTP and legacy SSE.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp.types as T
import pytest
from anyio.streams.text import TextReceiveStream

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig, StdioUpstreamConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from tests.helpers import alive, text_of

pytestmark = pytest.mark.slow

LOOPBACK_PRELOAD = Path(__file__).parent / "node" / "loopback.cjs"


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the interoperability tests"
    return node


async def test_mcp_server_time_from_pypi_over_stdio() -> None:
    config = GatewayConfig(
        servers={
            "time": StdioUpstreamConfig(
                command=sys.executable, args=("-m", "mcp_server_time", "--local-timezone", "UTC")
            )
        }
    )
    async with Gateway(config).running() as gateway:
        assert sorted(gateway.catalog.tools) == ["time__convert_time", "time__get_current_time"]
        result = await gateway.call_tool("time__get_current_time", {"timezone": "Asia/Tokyo"})
        assert not result.is_error
        assert '"timezone": "Asia/Tokyo"' in text_of(result)
        converted = await gateway.call_tool(
            "time__convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Paris"}
        )
        assert not converted.is_error and "Europe/Paris" in text_of(converted)
        bad = await gateway.call_tool("time__get_current_time", {"timezone": "Mars/Olympus"})
        assert bad.is_error


async def test_server_everything_from_npm_over_stdio(everything_server: Path) -> None:
    config = GatewayConfig(servers={"ev": StdioUpstreamConfig(command=_node(), args=(str(everything_server), "stdio"))})
    async with Gateway(config).running() as gateway:
        names = set(gateway.catalog.tools)
        assert {"ev__echo", "ev__get-sum", "ev__trigger-long-running-operation"} <= names
        assert text_of(await gateway.call_tool("ev__echo", {"message": "hello"})) == "Echo: hello"
        steps: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            steps.append(progress)

        result = await gateway.call_tool(
            "ev__trigger-long-running-operation", {"duration": 0.3, "steps": 3}, on_progress=on_progress
        )
        assert not result.is_error
        assert steps == [1, 2, 3]
        assert gateway.catalog.resources or gateway.catalog.templates
        assert any(name.startswith("ev__") for name in gateway.catalog.prompts)
        prompt = await gateway.get_prompt("ev__simple-prompt", None)
        assert prompt.messages


@asynccontextmanager
async def _node_http_server(entry: Path, transport: str) -> AsyncGenerator[int, None]:
    process = await anyio.open_process(
        [_node(), "--require", str(LOOPBACK_PRELOAD), str(entry), transport], env={**os.environ, "PORT": "0"}
    )
    port: list[int] = []
    listening = anyio.Event()

    async def watch() -> None:
        assert process.stderr is not None
        async for chunk in TextReceiveStream(process.stderr):
            if (match := re.search(r"LISTENING (\d+)", chunk)) and not listening.is_set():
                port.append(int(match.group(1)))
                listening.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        try:
            with anyio.fail_after(20):  # hang guard, not a timing check: 20 s covers a busy 2-core machine
                await listening.wait()
            yield port[0]
        finally:
            process.terminate()
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                await process.wait()
            tg.cancel_scope.cancel()
    assert not alive(process.pid)


@pytest.mark.parametrize(("transport", "kind", "path"), [("streamableHttp", "http", "/mcp"), ("sse", "sse", "/sse")])
async def test_server_everything_over_http_transports(
    everything_server: Path, transport: str, kind: str, path: str
) -> None:
    async with _node_http_server(everything_server, transport) as port:
        upstream = HttpUpstreamConfig(url=f"http://127.0.0.1:{port}{path}", type=kind)  # pyright: ignore[reportArgumentType]  # the parametrized kind is one of the literal values
        async with Gateway(GatewayConfig(servers={"ev": upstream})).running() as gateway:
            assert gateway.status()["servers"]["ev"]["state"] == "ready"
            assert text_of(await gateway.call_tool("ev__echo", {"message": kind})) == f"Echo: {kind}"
            total = await gateway.call_tool("ev__get-sum", {"a": 2, "b": 40})
            assert "42" in text_of(total)


async def test_an_editor_reaches_third_party_tools_through_the_face(everything_server: Path) -> None:
    from mcp import Client

    config = GatewayConfig(
        servers={
            "ev": StdioUpstreamConfig(command=_node(), args=(str(everything_server), "stdio")),
            "time": StdioUpstreamConfig(command=sys.executable, args=("-m", "mcp_server_time")),
        }
    )
    async with Gateway(config).running() as gateway, Client(build_server(gateway), mode="legacy") as editor:
        names = [tool.name for tool in (await editor.list_tools()).tools]
        assert "ev__echo" in names and "time__get_current_time" in names
        assert text_of(await editor.call_tool("ev__echo", {"message": "through"})) == "Echo: through"


async def test_mcp_server_sqlite_serves_its_tools_though_its_template_listing_fails(
    sqlite_server: Path, tmp_path: Path
) -> None:
    """It advertises resources and answers resources/templates/list with -32601: an optional listing, empty."""
    upstream = StdioUpstreamConfig(command=str(sqlite_server), args=("--db-path", str(tmp_path / "t.db")))
    async with Gateway(GatewayConfig(servers={"sqlite": upstream})).running() as gateway:
        status = gateway.status()["servers"]["sqlite"]
        assert status["state"] == "ready" and status["restarts"] == 0
        assert any("resources/templates/list failed" in note for note in status.get("notes", []))
        created = await gateway.call_tool("sqlite__create_table", {"query": "CREATE TABLE t (x INTEGER)"})
        assert not created.is_error
        listed = await gateway.call_tool("sqlite__list_tables", {})
        assert "t" in text_of(listed)


async def test_server_filesystem_files_reach_the_model_once_and_whole(filesystem_server: Path, tmp_path: Path) -> None:
    from glm_mcp.tools.results import flatten_result

    text = "".join(f"line {i:05d} of a file the model must read whole\n" for i in range(355))
    assert len(text.encode()) > 16_000
    (tmp_path / "big.txt").write_text(text)
    upstream = StdioUpstreamConfig(command=_node(), args=(str(filesystem_server), str(tmp_path)))
    async with Gateway(GatewayConfig(servers={"fs": upstream})).running() as gateway:
        result = await gateway.call_tool("fs__read_text_file", {"path": str(tmp_path / "big.txt")})
    assert result.structured_content is not None  # the server does send the copy
    assert flatten_result(result) == text


async def test_server_memory_graphs_reach_the_model_once(memory_server: Path, tmp_path: Path) -> None:
    from glm_mcp.tools.results import flatten_result

    upstream = StdioUpstreamConfig(
        command=_node(), args=(str(memory_server),), env={"MEMORY_FILE_PATH": str(tmp_path / "memory.jsonl")}
    )
    entity = {"name": "Ada", "entityType": "person", "observations": ["likes tea"]}
    async with Gateway(GatewayConfig(servers={"mem": upstream})).running() as gateway:
        created = await gateway.call_tool("mem__create_entities", {"entities": [entity]})
        graph = await gateway.call_tool("mem__read_graph", {})
    assert not created.is_error and created.structured_content is not None  # the server sends the copy
    # {"entities": [...]} beside the list as JSON text, and the whole graph twice: each said once.
    assert flatten_result(created).count("likes tea") == 1
    assert flatten_result(graph).count("likes tea") == 1


async def test_mcp_server_git_from_pypi_over_stdio(git_server: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    await anyio.run_process(["git", "init", "-q", str(repo)])
    (repo / "a.txt").write_text("a\n")
    upstream = StdioUpstreamConfig(command=str(git_server), args=("--repository", str(repo)))
    async with Gateway(GatewayConfig(servers={"git": upstream})).running() as gateway:
        status = await gateway.call_tool("git__git_status", {"repo_path": str(repo)})
    assert not status.is_error and "a.txt" in text_of(status)


async def test_server_everything_asks_the_editor_through_glm_mcp_stdio(everything_server: Path, tmp_path: Path) -> None:
    """Its capability-gated tools appear, and sampling, form and URL elicitation and roots reach the editor."""
    import json

    from mcp import Client, StdioServerParameters
    from mcp.client import ClientRequestContext

    config = tmp_path / "glm-mcp.json"
    entry = {"command": _node(), "args": [str(everything_server), "stdio"]}
    config.write_text(json.dumps({"mcpServers": {"ev": entry}}))
    asked: dict[str, Any] = {}

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        asked["sampling"] = params
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="sampled"), model="editor-llm")

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        asked.setdefault("elicitation", []).append(params)
        if isinstance(params, T.ElicitRequestURLParams):
            return T.ElicitResult(action="decline")
        return T.ElicitResult(action="accept", content={"name": "Ada Lovelace"})

    async def roots(context: ClientRequestContext) -> T.ListRootsResult:
        return T.ListRootsResult(roots=[T.Root.model_validate({"uri": tmp_path.as_uri(), "name": "work"})])

    updated = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, T.ResourceUpdatedNotification):
            updated.set()

    params = StdioServerParameters(command=sys.executable, args=["-m", "glm_mcp", "stdio", "--config", str(config)])
    async with Client(
        params,
        mode="legacy",
        sampling_callback=sample,
        elicitation_callback=elicit,
        list_roots_callback=roots,
        message_handler=on_message,
    ) as editor:
        with anyio.fail_after(30):  # hang guard: server-everything runs under node, slow to start on a busy machine
            names: set[str] = set()
            while not {"ev__trigger-sampling-request", "ev__get-roots-list"} <= names:
                names = {tool.name for tool in (await editor.list_tools()).tools}
        assert {"ev__trigger-elicitation-request", "ev__trigger-url-elicitation"} <= names

        sampled = await editor.call_tool("ev__trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
        assert "sampled" in text_of(sampled) and "editor-llm" in text_of(sampled)
        assert asked["sampling"].max_tokens == 5

        elicited = await editor.call_tool("ev__trigger-elicitation-request", {})
        said = "\n".join(block.text for block in elicited.content if isinstance(block, T.TextContent))
        assert "- Name: Ada Lovelace" in said
        url = await editor.call_tool("ev__trigger-url-elicitation", {"url": "https://example.test/x"})
        assert "decline" in text_of(url).lower()

        listed = await editor.call_tool("ev__get-roots-list", {})
        assert tmp_path.as_uri() in text_of(listed)

        completed = await editor.complete(
            T.PromptReference(name="ev__completable-prompt"), {"name": "department", "value": "Eng"}
        )
        assert completed.completion.values == ["Engineering"]

        resource = (await editor.list_resources()).resources[0]
        await editor.subscribe_resource(str(resource.uri))  # pyright: ignore[reportDeprecated]  # 2025-era editors
        await editor.call_tool("ev__toggle-subscriber-updates", {})
        with anyio.fail_after(15):  # hang guard, not a timing check: 15 s covers a busy 2-core machine
            await updated.wait()
        await editor.call_tool("ev__toggle-subscriber-updates", {})


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_server_everything_asks_editors_of_both_eras_through_mcp(
    everything_server: Path, tmp_path: Path, mode: str
) -> None:
    """Over `/mcp`, a 2025-era editor is asked on its request's stream, a 2026-07-28 one in InputRequiredResult
    rounds; both get server-everything's sampling and elicitation, and completion."""
    from mcp.client import ClientRequestContext

    from tests.helpers import glm_mcp_serve

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="sampled"), model="editor-llm")

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        return T.ElicitResult(action="accept", content={"name": "Grace Hopper"})

    config = {"mcpServers": {"ev": {"command": _node(), "args": [str(everything_server), "stdio"]}}}
    async with glm_mcp_serve(config, tmp_path) as gateway:
        async with gateway.mcp_client(mode, sampling_callback=sample, elicitation_callback=elicit) as editor:
            with anyio.fail_after(30):  # hang guard: server-everything runs under node, slow to start on a busy machine
                names: set[str] = set()
                while "ev__trigger-elicitation-request" not in names:
                    names = {tool.name for tool in (await editor.list_tools()).tools}
            sampled = await editor.call_tool("ev__trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
            assert "sampled" in text_of(sampled) and "editor-llm" in text_of(sampled)
            elicited = await editor.call_tool("ev__trigger-elicitation-request", {})
            said = "\n".join(block.text for block in elicited.content if isinstance(block, T.TextContent))
            assert "- Name: Grace Hopper" in said
            completed = await editor.complete(
                T.PromptReference(name="ev__completable-prompt"), {"name": "department", "value": "Sa"}
            )
            assert completed.completion.values == ["Sales"]


async def test_server_filesystem_serves_the_roots_of_the_editor_that_connects(
    filesystem_server: Path, tmp_path: Path
) -> None:
    """Started with no folder, it takes its folders from roots: an editor's, once that editor is connected."""
    from mcp import Client
    from mcp.client import ClientRequestContext

    (tmp_path / "notes.txt").write_text("from the editor's folder")

    async def roots(context: ClientRequestContext) -> T.ListRootsResult:
        return T.ListRootsResult(roots=[T.Root.model_validate({"uri": tmp_path.as_uri(), "name": "work"})])

    upstream = StdioUpstreamConfig(command=_node(), args=(str(filesystem_server),))
    async with Gateway(GatewayConfig(servers={"fs": upstream})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy", list_roots_callback=roots) as editor:
            allowed = ""
            with anyio.fail_after(20):  # hang guard, not a timing check: 20 s covers a busy 2-core machine
                while str(tmp_path) not in allowed:  # the server is told, asks again, and gets the editor's roots
                    allowed = text_of(await editor.call_tool("fs__list_allowed_directories", {}))
            read = await editor.call_tool("fs__read_text_file", {"path": str(tmp_path / "notes.txt")})
    assert text_of(read) == "from the editor's folder"
