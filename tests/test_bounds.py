"""What callers send cannot grow the gateway without bound, nor make it answer 500: attacks on a real `serve`
process and on the app over real HTTP."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.server.mcpserver import Context, MCPServer
from pydantic import SecretStr

from glm_mcp.activity import KEPT_ARGUMENTS, kept_arguments
from glm_mcp.config import GatewayConfig, ModelConfig, ServeConfig
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from glm_mcp.http.bodies import MAX_BODY_BYTES
from glm_mcp.redact import scrub
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import ROOT, glm_mcp_serve, inproc, run_cli, serve_asgi, write_config

SDK_SERVER = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
TOKEN = "t" * 40


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow  # moves 600 MB through the gateway
async def test_150_calls_with_4_mb_arguments_leave_memory_where_it_was(tmp_path: Path) -> None:
    config = {"mcpServers": {"proc": {"command": sys.executable, "args": [SDK_SERVER]}}}
    big = {"text": "x" * 3_900_000}
    async with glm_mcp_serve(config, tmp_path) as gateway, gateway.mcp_client() as client:
        for _ in range(5):  # warm up: the SDK's and the allocator's own first growth
            await client.call_tool("proc__no_such_tool", big)
        before = _rss_mb(gateway.process.pid)
        for _ in range(150):
            result = await client.call_tool("proc__no_such_tool", big)
            assert result.is_error
        after = _rss_mb(gateway.process.pid)
        async with httpx2.AsyncClient(base_url=gateway.url, headers=gateway.headers) as http:
            calls = (await http.get("/admin/status")).json()["calls"]
    assert after - before < 50, f"memory grew from {before:.0f} MB to {after:.0f} MB"
    kept = calls[-1]["arguments"]
    assert kept["(characters)"] > 3_900_000 and len(kept["(cut)"]) <= KEPT_ARGUMENTS + 1


def test_the_history_keeps_short_arguments_whole_and_cuts_long_ones_however_they_look() -> None:
    assert kept_arguments({"text": "é\n" * 300, "n": 3, "ok": True}) == {"text": "é\n" * 300, "n": 3, "ok": True}
    for long in ({"n": 10**3000}, {"q": "\u0001" * 400}, {"nested": {"deep": "x" * 3000}}, {"k" * 3000: 1}):
        kept = kept_arguments(long)
        assert set(kept) == {"(cut)", "(characters)"} and kept["(characters)"] > KEPT_ARGUMENTS, list(long)


@pytest.mark.parametrize(
    "path", ["/mcp", "/admin/call", "/admin/reload", "/messages/?session_id=x", "/v1/chat/completions"]
)
async def test_deeply_nested_json_is_a_400_json_error_on_every_route(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    serve = ServeConfig(auth_tokens=(SecretStr(TOKEN),))
    app = build_app(Gateway(GatewayConfig(servers={}, gateway=serve)))
    headers = {**ACCEPT, "authorization": f"Bearer {TOKEN}"}
    async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url) as http:
        for depth in (995, 100_000):
            deep = b'{"a":' * depth + b"1" + b"}" * depth
            answer = await http.post(path, content=deep, headers=headers)
            assert answer.status_code == 400, (depth, answer.text)
            assert "nested" in answer.text
    assert not [record for record in caplog.records if record.exc_info]  # no traceback logged


async def test_admin_bodies_have_the_same_size_limit_as_mcp() -> None:
    serve = ServeConfig(auth_tokens=(SecretStr(TOKEN),))
    app = build_app(Gateway(GatewayConfig(servers={}, gateway=serve)))
    headers = {**ACCEPT, "authorization": f"Bearer {TOKEN}"}
    huge = b'{"name": "x", "arguments": {"text": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url) as http:
        answer = await http.post("/admin/call", content=huge, headers=headers)
    assert answer.status_code == 413 and "larger than" in answer.json()["error"]["message"]


async def test_model_names_a_caller_makes_up_do_not_become_metric_series() -> None:
    fake = FakeGlm(lambda body: Reply(content="fine"))
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"), name="glm-4.6")
        serve = ServeConfig(auth_tokens=(SecretStr(TOKEN),))
        app = build_app(Gateway(GatewayConfig(servers={}, model=model, gateway=serve)))
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url, headers=headers) as http:
            for name in ("glm-4.6", "glm-4.5-air", *(f"glm-made-up-{index}-{'x' * 300}" for index in range(20))):
                chat = {"model": name, "messages": [{"role": "user", "content": "hi"}]}
                assert (await http.post("/v1/chat/completions", json=chat)).status_code == 200
            metrics = (await http.get("/metrics")).text
    requests = [line for line in metrics.splitlines() if line.startswith("glm_mcp_model_requests_total{")]
    assert sorted(requests) == [
        'glm_mcp_model_requests_total{model="glm-4.5-air",outcome="ok"} 1.0',
        'glm_mcp_model_requests_total{model="glm-4.6",outcome="ok"} 1.0',
        'glm_mcp_model_requests_total{model="other",outcome="ok"} 20.0',
    ]
    assert max(len(line) for line in metrics.splitlines()) < 400


async def test_upstream_text_is_logged_with_control_characters_escaped(caplog: pytest.LogCaptureFixture) -> None:
    server = MCPServer("forger")

    @server.tool()
    async def forge(ctx: Context) -> str:
        """Log a line that pretends to be two, with a terminal escape."""
        await ctx.warning("ok\nINFO glm_mcp.gateway: all tokens rotated\x1b[2J")  # pyright: ignore[reportDeprecated]
        return "done"

    caplog.set_level(logging.INFO, logger="glm_mcp")
    async with Gateway(GatewayConfig(servers={"f": inproc(server)})).running() as gateway:
        await gateway.call_tool("f__forge", {})
    lines = [record.getMessage() for record in caplog.records if record.name == "glm_mcp.servers.f"]
    assert lines == ["ok\\nINFO glm_mcp.gateway: all tokens rotated\\x1b[2J"]


def test_url_path_segments_that_look_like_keys_are_hidden() -> None:
    shown = scrub("connecting to https://mcp.example.com/u/Zk3x9QpL2mN8/mcp and http://127.0.0.1:9000/sse")
    assert shown == "connecting to https://mcp.example.com/u/***/mcp and http://127.0.0.1:9000/sse"


async def test_a_token_shorter_than_32_characters_is_refused_on_a_non_loopback_bind(tmp_path: Path) -> None:
    path = write_config(tmp_path, {}, gateway={"auth_tokens": ["long-enough-" + "x" * 40, "hunter2-hunter2"]})
    code, _, err = await run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--config", str(path))
    assert code == 2 and "shorter than 32 characters (gateway.auth_tokens[1])" in err
    assert "hunter2" not in err and "Traceback" not in err


async def test_bodies_that_trickle_in_hold_no_run_slot_and_have_a_byte_budget() -> None:
    fake = FakeGlm(lambda body: Reply(content="answered"))
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"))
        serve = ServeConfig(max_concurrent_runs=1, max_queued_runs=0, max_waiting_body_bytes=2**20)
        app = build_app(Gateway(GatewayConfig(servers={}, model=model, gateway=serve)))
        async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url, timeout=30) as http:
            port = int(url.rsplit(":", 1)[1])
            head = (
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: {}\r\n\r\n"
            )
            trickles = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(5)]
            for stream in trickles:  # each starts a body and never finishes it
                await stream.send(head.format(1000).encode() + b'{"messages": [')
            # A greedy one fills the byte budget with most of a 2 MB body, then stops.
            greedy = await anyio.connect_tcp("127.0.0.1", port)
            await greedy.send(head.format(2_000_000).encode() + b"[" + b" " * 1_100_000)
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                refused = await _read_until(greedy, b"try again")
            chat = {"messages": [{"role": "user", "content": "hi"}]}
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                answered = await http.post("/v1/chat/completions", json=chat)
            for stream in [*trickles, greedy]:
                await stream.aclose()
    assert refused.startswith(b"HTTP/1.1 429") and b"max_waiting_body_bytes" in refused
    assert answered.status_code == 200 and answered.json()["choices"][0]["message"]["content"] == "answered"


async def _read_until(stream: Any, needle: bytes) -> bytes:
    data = b""
    try:
        while needle not in data:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
        pass
    return data
