"""`glm-mcp serve` as a real process on 127.0.0.1, driven by the `mcp` SDK client and plain HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as T
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.helpers import ROOT, alive, children_of, glm_mcp_serve, run_cli, wait_gone

pytestmark = pytest.mark.slow

FIXTURE = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")


_INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}


def _rpc(ident: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}


def _config(**gateway: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "mcpServers": {
            "proc": {"command": sys.executable, "args": [FIXTURE]},
            "notes": {"command": sys.executable, "args": ["-m", "servers.notes", "--store", "/dev/null/x"]},
            "dead": {
                "command": sys.executable,
                "args": [str(ROOT / "tests" / "fixture_servers" / "fails_to_start.py")],
            },
        }
    }
    if gateway:
        config["gateway"] = gateway
    return config


async def test_an_mcp_client_lists_and_calls_tools_over_streamable_http(tmp_path: Path) -> None:
    async with glm_mcp_serve(_config(), tmp_path) as gateway:
        async with gateway.mcp_client() as client:
            assert client.server_capabilities.tools == T.ToolsCapability(list_changed=True)
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert "proc__echo" in names and "notes__add_note" in names
            assert not [name for name in names if name.startswith("dead__")]
            steps: list[float] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                steps.append(progress)

            result = await client.call_tool("proc__progress", {"steps": 3}, progress_callback=on_progress)
            assert result.structured_content == {"result": "done after 3 steps"}
            assert steps == [1, 2, 3]


async def test_cancelling_a_call_over_http_cancels_it_in_the_upstream_process(tmp_path: Path) -> None:
    async with glm_mcp_serve(_config(), tmp_path, "--log-level", "info") as gateway:
        async with gateway.mcp_client() as client:
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await client.call_tool("proc__hang", {})

                tg.start_soon(call)
                with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                    await gateway.stderr_line("HANG started")
                tg.cancel_scope.cancel()
            # The editor is still connected: only its cancellation can have reached the server.
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                await gateway.stderr_line("HANG cancelled")
            assert [tool.name for tool in (await client.list_tools()).tools]  # and the session goes on


async def test_healthz_is_up_and_readyz_reports_each_server_with_the_dead_one_explained(tmp_path: Path) -> None:
    async with glm_mcp_serve(_config(), tmp_path) as gateway, httpx2.AsyncClient(base_url=gateway.url) as http:
        assert (await http.get("/healthz")).text == "ok"
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["ready"] is False
        assert body["servers"]["proc"]["state"] == "ready"
        assert body["servers"]["dead"]["state"] == "failed"
        assert "fatal: the database file is missing" in body["servers"]["dead"]["error"]


async def test_bearer_tokens_guard_mcp_but_not_healthz(tmp_path: Path) -> None:
    config = _config(auth_tokens=["${TEST_TOKEN}"])
    async with (
        glm_mcp_serve(config, tmp_path, env={"TEST_TOKEN": "s3cret-token"}) as gateway,
        httpx2.AsyncClient(base_url=gateway.url) as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        denied = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert denied.status_code == 401
        assert denied.json()["error"]["type"] == "authentication_error"
        wrong = await http.post("/mcp", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-token"}) as authed:
            async with Client(streamable_http_client(f"{gateway.url}/mcp", http_client=authed), mode="legacy") as c:
                assert "proc__echo" in [tool.name for tool in (await c.list_tools()).tools]


async def test_a_foreign_host_header_is_refused_against_dns_rebinding(tmp_path: Path) -> None:
    async with glm_mcp_serve(_config(), tmp_path) as gateway, httpx2.AsyncClient(base_url=gateway.url) as http:
        response = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Host": "evil.example.com", "Accept": "application/json, text/event-stream"},
        )
        assert response.status_code == 421


async def test_binding_a_public_address_without_tokens_is_refused_with_exit_code_2() -> None:
    code, _, err = await run_cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert code == 2
    assert "refusing to bind 0.0.0.0 without authentication" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_signal_lets_the_call_in_flight_finish_then_ends_every_child(tmp_path: Path, signum: int) -> None:
    async with glm_mcp_serve(_config(), tmp_path, "--log-level", "info") as gateway:
        children = children_of(gateway.process.pid)
        assert len(children) >= 2
        # A plain HTTP client: the SDK client's background GET stream would fail on its own at shutdown.
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        async with httpx2.AsyncClient(base_url=gateway.url, headers={**headers, **gateway.headers}, timeout=30) as http:
            init = await http.post("/mcp", json=_rpc(1, "initialize", _INIT))
            http.headers["mcp-session-id"] = init.headers["mcp-session-id"]
            await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            answers: list[dict[str, Any]] = []
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    body = _rpc(2, "tools/call", {"name": "proc__nap", "arguments": {"seconds": 1.0}})
                    response = await http.post("/mcp", json=body)
                    if response.headers["content-type"].startswith("application/json"):
                        answers.append(response.json())
                    else:
                        answers.extend(
                            json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")
                        )

                tg.start_soon(call)
                with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                    await gateway.stderr_line("NAP started")
                gateway.process.send_signal(signal.Signals(signum))
        assert answers[-1]["result"]["structuredContent"] == {"result": "slept 1 s"}
        with anyio.fail_after(15):  # hang guard, not a timing check: 15 s covers a busy 2-core machine
            code = await gateway.process.wait()
        assert code == 0
    assert [pid for pid in children if alive(pid)] == []
    assert os.getpid() not in children


async def test_no_child_process_outlives_a_gateway_killed_with_sigkill(tmp_path: Path) -> None:
    """A crashed gateway cannot clean up; its children must die with it all the same."""
    config = _config()
    raw = str(ROOT / "tests" / "fixture_servers" / "raw_server.py")
    config["mcpServers"]["careless"] = {"command": sys.executable, "args": [raw, "--linger"]}
    async with glm_mcp_serve(config, tmp_path) as gateway:
        children = children_of(gateway.process.pid)
        assert len(children) >= 3
        gateway.process.kill()
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await gateway.process.wait()
            for pid in children:
                await wait_gone(pid)
    assert [pid for pid in children if alive(pid)] == []


def test_the_listening_socket_is_tcp_so_asyncio_disables_nagle() -> None:
    """asyncio sets TCP_NODELAY on accepted sockets only when the listener says IPPROTO_TCP; with the
    default protocol 0 every response waited ~40 ms for a delayed ACK (seen in the benchmarks)."""
    from glm_mcp.http.server import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


async def test_each_mcp_post_is_answered_as_json_unless_it_asked_for_progress(tmp_path: Path) -> None:
    """A plain JSON answer is cheaper than an SSE stream; a request with a progress token gets the stream."""
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with (
        glm_mcp_serve(_config(), tmp_path) as gateway,
        httpx2.AsyncClient(base_url=gateway.url, headers=headers) as http,
    ):
        http.headers.update(gateway.headers)
        init = await http.post("/mcp", json=_rpc(1, "initialize", _INIT))
        http.headers["mcp-session-id"] = init.headers["mcp-session-id"]
        await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        plain = await http.post("/mcp", json=_rpc(2, "tools/call", {"name": "proc__echo", "arguments": {"text": "a"}}))
        assert plain.headers["content-type"] == "application/json"
        assert plain.json()["result"]["content"] == [{"type": "text", "text": "a"}]
        params = {"name": "proc__progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "p"}}
        streamed = await http.post("/mcp", json=_rpc(3, "tools/call", params))
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data:")]
        assert [e["params"]["progress"] for e in events if e.get("method") == "notifications/progress"] == [1, 2]
        assert events[-1]["result"]["structuredContent"] == {"result": "done after 2 steps"}


@pytest.mark.parametrize(
    "signals", [[signal.SIGTERM], [signal.SIGINT, signal.SIGINT]], ids=["SIGTERM", "double-Ctrl-C"]
)
async def test_an_idle_editor_does_not_hold_shutdown_and_nothing_is_printed_but_logs(
    tmp_path: Path, signals: list[int]
) -> None:
    """An editor's standing GET stream used to keep `serve` for the whole grace period, then print tracebacks."""
    async with glm_mcp_serve(_config(), tmp_path, "--log-level", "debug") as gateway:
        async with gateway.mcp_client() as client:
            await client.list_tools()
            await anyio.wait_all_tasks_blocked()
            for signum in signals:
                gateway.process.send_signal(signal.Signals(signum))
            with anyio.fail_after(20):  # hang guard, not a timing check: 20 s covers a busy 2-core machine
                code = await gateway.process.wait()
    assert code == 0
    printed = "\n".join(gateway.stderr_lines)
    assert "Traceback" not in printed and "graceful shutdown exceeded" not in printed, printed


async def test_a_second_ctrl_c_cuts_a_call_short_without_printing_a_traceback(tmp_path: Path) -> None:
    async with glm_mcp_serve(_config(), tmp_path, "--log-level", "info") as gateway:
        async with gateway.mcp_client() as client, anyio.create_task_group() as tg:

            async def call() -> None:
                with anyio.move_on_after(20), contextlib.suppress(MCPError):  # the gateway goes away under it
                    await client.call_tool("proc__hang", {})

            tg.start_soon(call)
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                await gateway.stderr_line("HANG started")
            gateway.process.send_signal(signal.SIGINT)
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                await gateway.stderr_line("stopping: calls in flight get 10 s")  # two quick signals would merge
            gateway.process.send_signal(signal.SIGINT)
            with anyio.fail_after(5):  # well inside the grace period: the second signal did it
                assert await gateway.process.wait() == 0
            tg.cancel_scope.cancel()
    printed = "\n".join(gateway.stderr_lines)
    assert "Traceback" not in printed and "Exception in ASGI application" not in printed, printed
    assert "in flight cut short" in printed
