"""Replicas of `glm-mcp serve` on one real Redis, behind a real nginx balancing round robin without affinity."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as T
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.engines import nginx_proxy, redis_server
from tests.helpers import ROOT, RunningGateway, glm_mcp_serve, text_of

pytestmark = pytest.mark.slow

FIXTURE = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")
TOKEN = "team-token-for-replicas"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _config(redis_url: str, **gateway: Any) -> dict[str, Any]:
    return {
        "mcpServers": {"proc": {"command": sys.executable, "args": [FIXTURE]}},
        "gateway": {"auth_tokens": [TOKEN], "redis_url": redis_url, **gateway},
    }


@asynccontextmanager
async def replicas(
    tmp_path: Path, count: int, **gateway: Any
) -> AsyncGenerator[tuple[str, list[RunningGateway]], None]:
    """`count` replicas on one fresh Redis; yields the Redis URL and the running replicas."""
    async with AsyncExitStack() as stack:
        redis_url = await stack.enter_async_context(redis_server(tmp_path))
        running: list[RunningGateway] = []
        for index in range(count):
            folder = tmp_path / f"replica-{index}"
            folder.mkdir()
            config = _config(redis_url, replica_name=f"r{index}", **gateway)
            running.append(await stack.enter_async_context(glm_mcp_serve(config, folder)))
        yield redis_url, running


@asynccontextmanager
async def editor(url: str, mode: str = "legacy") -> AsyncGenerator[Client, None]:
    async with (
        httpx2.AsyncClient(headers=HEADERS, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


def _host(replica: RunningGateway) -> str:
    return replica.url.removeprefix("http://")


async def test_one_2025_session_is_served_by_every_replica_behind_round_robin(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running), nginx_proxy(tmp_path, [_host(r) for r in running]) as url:
        async with editor(url) as client:
            pids = {int(text_of(await client.call_tool("proc__pid", {}))) for _ in range(6)}
            # Each replica runs its own stdio servers: two pids means both replicas served the one session.
            assert len(pids) == 2
            await client.set_logging_level("debug")  # pyright: ignore[reportDeprecated]  # 2025-era logging
            echoed = await client.call_tool("proc__echo", {"text": "still one session"})
            assert text_of(echoed) == "still one session"


async def test_a_replica_killed_mid_session_leaves_the_session_working_on_the_other(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running), nginx_proxy(tmp_path, [_host(r) for r in running]) as url:
        async with editor(url) as client:
            pids = {int(text_of(await client.call_tool("proc__pid", {}))) for _ in range(4)}
            assert len(pids) == 2
            running[0].process.send_signal(signal.SIGKILL)
            await running[0].process.wait()
            after = [text_of(await client.call_tool("proc__echo", {"text": f"call {i}"})) for i in range(4)]
            assert after == [f"call {i}" for i in range(4)]


async def test_a_session_is_refused_to_another_token_on_every_replica(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2, auth_tokens=[TOKEN, "another-team-token"]) as (_, running):
        async with httpx2.AsyncClient(timeout=30) as http:
            opened = await http.post(
                f"{running[0].url}/mcp",
                headers={**HEADERS, **ACCEPT},
                json=_initialize(),
            )
            session = opened.headers["mcp-session-id"]
            listing: dict[str, Any] = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
            other = {"Authorization": "Bearer another-team-token", "Mcp-Session-Id": session, **ACCEPT}
            refused = await http.post(f"{running[1].url}/mcp", headers=other, json=listing)
            assert refused.status_code == 404
            mine = {**HEADERS, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25", **ACCEPT}
            served = await http.post(f"{running[1].url}/mcp", headers=mine, json=listing)
            assert served.status_code == 200
            assert "proc__echo" in served.text


def _initialize() -> dict[str, Any]:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


def _events(text: str) -> list[tuple[str, dict[str, Any] | None]]:
    """(id, message) of each server-sent event of `text`."""
    found: list[tuple[str, dict[str, Any] | None]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        ident = data = None
        for line in block.split("\n"):
            if line.startswith("id:"):
                ident = line[3:].strip()
            elif line.startswith("data:") and line[5:].strip():
                data = json.loads(line[5:])
        if ident is not None:
            found.append((ident, data))
    return found


async def test_a_stream_broken_on_one_replica_is_resumed_on_another_with_last_event_id(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running), httpx2.AsyncClient(timeout=30) as http:
        a, b = running
        opened = await http.post(f"{a.url}/mcp", headers={**HEADERS, **ACCEPT}, json=_initialize())
        session = {**HEADERS, **ACCEPT, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
        session["MCP-Protocol-Version"] = "2025-11-25"
        done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(f"{a.url}/mcp", headers=session, json=done)).status_code == 202
        params = {"name": "proc__progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "p"}}
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
        streamed = _events((await http.post(f"{a.url}/mcp", headers=session, json=call)).text)
        messages = [message for _, message in streamed if message is not None]
        assert [m.get("method") or "result" for m in messages] == ["notifications/progress"] * 3 + ["result"]
        first_progress = next(ident for ident, message in streamed if message is not None)
        # The client lost the stream after the first progress event; it resumes on the other replica.
        resumed: list[dict[str, Any]] = []
        headers = {**session, "Last-Event-ID": first_progress, "Accept": "text/event-stream"}
        with anyio.fail_after(30):  # hang guard: the replay is immediate
            async with http.stream("GET", f"{b.url}/mcp", headers=headers) as response:
                assert response.status_code == 200
                buffer = ""
                async for chunk in response.aiter_text():
                    buffer += chunk
                    resumed = [message for _, message in _events(buffer) if message is not None]
                    if any("result" in message for message in resumed):
                        break
        assert [m.get("method") or "result" for m in resumed] == ["notifications/progress"] * 2 + ["result"]
        assert resumed[-1]["id"] == 7 and "done after 3 steps" in json.dumps(resumed[-1])


async def test_a_reload_on_one_replica_reaches_the_other(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (redis_url, running):
        b = running[1]
        config = _config(redis_url, replica_name="r0")
        config["mcpServers"]["more"] = {"command": sys.executable, "args": [FIXTURE]}
        (tmp_path / "replica-0" / "glm-mcp.json").write_text(json.dumps(config))  # only replica 0's file changes
        with anyio.fail_after(60):  # hang guard: the file watch and Redis pub/sub take well under a second
            await b.stderr_line("applying the config replica")
        async with editor(b.url) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
        assert "more__echo" in names


async def test_the_status_of_each_replica_lists_every_live_replica_with_its_servers(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running), httpx2.AsyncClient(headers=HEADERS, timeout=30) as http:
        # Each replica writes its status before it serves, then every 5 s.
        body = (await http.get(f"{running[0].url}/admin/status")).json()
        names = sorted(peer["name"] for peer in body["replicas"])
        assert names == ["r0", "r1"]
        assert all(peer["servers"]["proc"]["state"] == "ready" for peer in body["replicas"])
        assert sum(1 for peer in body["replicas"] if peer["self"]) == 1


async def test_requests_per_minute_hold_across_replicas_and_name_the_limit(tmp_path: Path) -> None:
    limits = {"requests_per_minute": 5}
    async with replicas(tmp_path, 2, limits=limits) as (_, running), httpx2.AsyncClient(timeout=30) as http:
        responses = [
            await http.post(f"{running[index % 2].url}/mcp", headers={**HEADERS, **ACCEPT}, json=_initialize())
            for index in range(6)
        ]
        statuses = [response.status_code for response in responses]
        response = responses[-1]
        assert statuses == [200] * 5 + [429]
        assert "requests_per_minute" in response.json()["error"]["message"]
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        chat = await http.post(
            f"{running[0].url}/v1/chat/completions",
            headers=HEADERS,
            json={"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 429
        assert chat.json()["error"]["type"] == "rate_limit_error"
        metrics = (await http.get(f"{running[1].url}/metrics", headers=HEADERS)).text
        assert 'glm_mcp_caller_refusals_total{caller="token:' in metrics


async def test_a_2026_editor_is_served_by_any_replica(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running), nginx_proxy(tmp_path, [_host(r) for r in running]) as url:
        async with editor(url, mode="2026-07-28") as client:
            pids = {int(text_of(await client.call_tool("proc__pid", {}))) for _ in range(4)}
            assert len(pids) == 2
            listed = await client.list_tools()
            assert isinstance(listed, T.ListToolsResult) and any(t.name == "proc__echo" for t in listed.tools)
