"""Faults caused for real: an HTTP upstream that restarts and forgets the session, crash loops, slow starts."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp.types as T
import pytest
from mcp.server.mcpserver import MCPServer

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig, StdioUpstreamConfig
from glm_mcp.gateway.core import Gateway
from glm_mcp.upstream.connection import backoff_seconds, failures_after, worth_logging
from tests.helpers import serve_asgi


def _http_server(generation: int) -> MCPServer:
    server = MCPServer("store")
    log: list[str] = []

    @server.tool(annotations=T.ToolAnnotations(read_only_hint=True))
    def lookup(key: str) -> str:
        """Read a key."""
        return f"{key} from server generation {generation}"

    @server.tool()
    def append(item: str) -> str:
        """Append an item (not idempotent)."""
        log.append(item)
        return f"{len(log)} items"

    return server


def _text(result: T.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, T.TextContent)
    return block.text


class _Restartable:
    """An HTTP MCP server whose process can "restart": a new server object, with no memory of old sessions."""

    def __init__(self) -> None:
        self.generations = [_http_server(1), _http_server(2)]
        self.apps = [server.streamable_http_app() for server in self.generations]
        self.current = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the session managers are run by the test itself
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.apps[self.current](scope, receive, send)

    @asynccontextmanager
    async def serving(self) -> AsyncGenerator[str, None]:
        async with (
            self.generations[0].session_manager.run(),
            self.generations[1].session_manager.run(),
            serve_asgi(self) as url,
        ):
            yield f"{url}/mcp"


async def test_an_http_upstream_that_restarts_and_forgets_the_session_is_reinitialised() -> None:
    server = _Restartable()  # sessions are of the 2025 era: this server is pinned to it
    async with (
        server.serving() as url,
        Gateway(GatewayConfig(servers={"store": HttpUpstreamConfig(url=url, protocol="legacy")})).running() as gateway,
    ):
        assert _text(await gateway.call_tool("store__lookup", {"key": "k"})) == "k from server generation 1"
        server.current = 1
        # A read-only tool is sent again, once, on a new session.
        assert _text(await gateway.call_tool("store__lookup", {"key": "k"})) == "k from server generation 2"
        assert gateway.servers["store"].restarts == 1


async def test_a_call_that_is_not_idempotent_is_not_repeated_after_a_lost_session() -> None:
    server = _Restartable()
    reconnected = anyio.Event()
    async with server.serving() as url:
        gateway = Gateway(GatewayConfig(servers={"store": HttpUpstreamConfig(url=url, protocol="legacy")}))

        async def listener(old: object, new: object) -> None:
            if gateway.servers["store"].restarts and "store__append" in gateway.catalog.tools:
                reconnected.set()

        gateway.on_catalog_change(listener)
        async with gateway.running():
            assert _text(await gateway.call_tool("store__append", {"item": "a"})) == "1 items"
            server.current = 1
            failed = await gateway.call_tool("store__append", {"item": "b"})
            assert failed.is_error
            assert "was not repeated because the tool is not marked read-only or idempotent" in _text(failed)
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                await reconnected.wait()
            # The new server saw only the call made after the new session was opened.
            assert _text(await gateway.call_tool("store__append", {"item": "c"})) == "1 items"


async def test_a_2026_http_upstream_that_restarts_is_reached_again_with_no_session_to_lose() -> None:
    server = _Restartable()
    modern = HttpUpstreamConfig(url="http://placeholder", protocol="2026-07-28")
    async with (
        server.serving() as url,
        Gateway(GatewayConfig(servers={"store": modern.model_copy(update={"url": url})})).running() as gateway,
    ):
        assert gateway.servers["store"].protocol_version == "2026-07-28"
        assert _text(await gateway.call_tool("store__append", {"item": "a"})) == "1 items"
        server.current = 1
        # Each request stands alone: the restarted server answers it, nothing is resent or reconnected.
        assert _text(await gateway.call_tool("store__append", {"item": "b"})) == "1 items"
        assert gateway.servers["store"].restarts == 0


def test_backoff_is_capped_starts_again_after_a_stable_session_and_a_crash_loop_is_logged_sparingly() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6, 7, 20)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [n for n in range(1, 41) if worth_logging(n)] == [1, 2, 10, 20, 30, 40]
    # A session that lasted 30 s starts the count again: its next reconnect waits 0.5 s, not 30.
    assert (failures_after(6, 31.0), failures_after(6, 29.0), failures_after(0, 0.1)) == (1, 7, 1)


@pytest.mark.slow
async def test_a_slow_starting_server_joins_the_catalog_when_ready() -> None:
    slow = StdioUpstreamConfig(
        command=sys.executable,
        args=(
            "-c",
            "import time, runpy, sys; time.sleep(1.5); sys.argv=['s']; runpy.run_module('servers.clock', run_name='__main__')",
        ),
    )
    gateway = Gateway(GatewayConfig(servers={"slow": slow}), ready_wait_seconds=0.2)
    joined = anyio.Event()

    async def listener(old: object, new: object) -> None:
        if "slow__now" in gateway.catalog.tools:
            joined.set()

    gateway.on_catalog_change(listener)
    async with gateway.running():
        assert gateway.status()["servers"]["slow"]["state"] == "starting"
        assert gateway.status()["ready"] is False
        with anyio.fail_after(20):  # hang guard, not a timing check: 20 s covers a busy 2-core machine
            await joined.wait()
        assert gateway.status()["ready"] is True
