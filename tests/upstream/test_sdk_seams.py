"""Fast checks that fail loudly the day an `mcp` upgrade moves a seam the gateway relies on.

`mcp` is pinned to the minor version these were checked against (`pyproject.toml`); each seam is used in one
place only:
- the stdio reader: the gateway hands the SDK whole stdout lines and caps their length by replacing the text
  stream class `stdio_client` builds (`upstream/inbound.py`); if the SDK stopped building it by that name, long
  lines would be joined quadratically again and the cap would silently go;
- the SSE opener `sse_client` calls (`upstream/inbound.py`), given a longer event limit than the SDK's 1 MiB; if it
  moved, results past 1 MiB from SSE servers would fail again;
- the editor connection behind a request's session proxy (`relay.editor.connection_of`), which keys notifications and
  log levels per editor; if it moved, every editor would stop hearing `list_changed`;
- the server transport class the session manager builds (`http.response_mode.install`), which answers plain JSON when
  nothing can stream; if it moved, `/mcp` would stay correct but lose half its throughput;
- the text of a forgotten HTTP session (`upstream.requests.is_session_lost`); if it changed, a server
  restarted behind HTTP would look ready while every call failed;
- the in-process transport's module (`upstream/transport.py`, imported only for in-process servers).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import mcp.client.sse
import mcp.client.stdio
import mcp.types as T
import pytest
from mcp import Client, MCPError
from mcp.server import streamable_http_manager
from mcp.server.mcpserver import Context, MCPServer
from starlette.applications import Starlette
from starlette.routing import Mount

from glm_mcp.http import response_mode
from glm_mcp.relay import editor
from glm_mcp.upstream import inbound
from glm_mcp.upstream.requests import is_session_lost
from tests.helpers import serve_asgi


def test_the_sdk_still_reads_stdio_through_the_stream_class_the_gateway_replaces() -> None:
    inbound.install_limits()
    inbound.install_limits()  # idempotent: a second install changes nothing
    assert mcp.client.stdio.TextReceiveStream is inbound._WholeLines  # pyright: ignore[reportPrivateUsage, reportPrivateImportUsage]  # the seam under test
    assert "TextReceiveStream(process.stdout" in inspect.getsource(mcp.client.stdio.stdio_client)


def test_the_sdk_still_opens_sse_streams_through_the_function_whose_event_limit_the_gateway_raises() -> None:
    inbound.install_limits()
    inbound.install_limits()
    opener = mcp.client.sse.sse_within_origin  # pyright: ignore[reportPrivateImportUsage]  # the seam under test
    assert isinstance(opener, functools.partial) and opener.keywords == {"max_event_size": inbound.MAX_MESSAGE_CHARS}
    assert not isinstance(opener.func, functools.partial)  # installed once, not wrapped again
    assert "sse_within_origin(client, url)" in inspect.getsource(mcp.client.sse.sse_client)


async def test_a_request_session_still_exposes_the_editor_connection_the_facade_keys_on() -> None:
    seen: list[object] = []
    server = MCPServer("seam")

    @server.tool()
    async def probe(ctx: Context) -> str:
        seen.append(editor.connection_of(ctx.session))
        return "ok"

    async with Client(server, mode="legacy") as client:
        await client.call_tool("probe", {})
        await client.call_tool("probe", {})
    assert len(seen) == 2
    assert seen[0] is seen[1], "two requests on one connection must show the same connection object"
    assert hasattr(seen[0], "exit_stack"), "the facade forgets an editor through the connection's exit stack"


def test_the_session_manager_still_builds_its_transport_from_the_class_the_gateway_replaces() -> None:
    response_mode.install()
    assert streamable_http_manager.StreamableHTTPServerTransport is response_mode._PerRequestTransport  # pyright: ignore[reportPrivateUsage, reportPrivateImportUsage]  # the seam under test
    assert "StreamableHTTPServerTransport(" in inspect.getsource(streamable_http_manager)
    assert "is_json_response_enabled" in inspect.getsource(importlib.import_module("mcp.server.streamable_http"))


def test_the_session_manager_still_names_a_new_sessions_id_by_keyword_where_a_revival_sets_it() -> None:
    """A replica revives another's session under the same id by setting the `mcp_session_id` keyword the manager
    passes its transport class (`tests/test_replicas.py` shows the behaviour, this names the seam)."""
    source = inspect.getsource(streamable_http_manager.StreamableHTTPSessionManager)
    assert "mcp_session_id=uuid4().hex" in source


def test_the_transport_still_holds_its_session_by_the_count_the_fast_lane_keeps() -> None:
    """`_PerRequestTransport.held` suspends the idle countdown as the SDK's `handle_request` does, with the same
    private count and setting; `tests/test_fast_lane.py` shows the behaviour, this names the seam."""
    source = inspect.getsource(importlib.import_module("mcp.server.streamable_http").StreamableHTTPServerTransport)
    assert "self._requests_in_flight += 1" in source and "self._requests_in_flight -= 1" in source
    assert "self.idle_scope.deadline = anyio.current_time() + self._idle_timeout" in source


def _pinging_server() -> MCPServer:
    server = MCPServer("seam")

    @server.tool()
    def ping() -> str:
        return "pong"

    return server


async def test_a_forgotten_http_session_is_still_recognised_from_the_sdk_error() -> None:
    first, second = _pinging_server(), _pinging_server()
    apps = [first.streamable_http_app(), second.streamable_http_app()]
    serving = [apps[0]]

    async def restartable(scope: Any, receive: Any, send: Any) -> None:
        await serving[0](scope, receive, send)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncGenerator[None, None]:
        async with first.session_manager.run(), second.session_manager.run():
            yield

    app = Starlette(routes=[Mount("/", app=restartable)], lifespan=lifespan)
    async with serve_asgi(app) as url, Client(f"{url}/mcp", mode="legacy") as client:
        await client.call_tool("ping", {})
        serving[0] = apps[1]  # the server restarted at the same address and knows no session
        with pytest.raises(MCPError) as raised:
            await client.call_tool("ping", {})
    assert is_session_lost(raised.value), f"the SDK now reports a lost session as {raised.value.message!r}"


def test_the_in_process_transport_is_still_where_the_gateway_imports_it_from() -> None:
    module = importlib.import_module("mcp.client._memory")
    assert hasattr(module, "InMemoryTransport")
    assert T.LATEST_PROTOCOL_VERSION
