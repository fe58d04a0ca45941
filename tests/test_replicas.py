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
from mcp import MCPError
from mcp.client import Client, ClientRequestContext
from mcp.client.streamable_http import streamable_http_client

from glm_mcp.config import ServeConfig
from glm_mcp.errors import OverLimit
from glm_mcp.metrics import GatewayMetrics
from glm_mcp.replicas.budgets import Budgets
from glm_mcp.replicas.store import open_redis
from tests.engines import nginx_proxy, redis_server
from tests.helpers import ROOT, RunningGateway, ToolListHeard, glm_mcp_serve, run_cli, text_of

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
    tmp_path: Path, count: int, *extra: str, **gateway: Any
) -> AsyncGenerator[tuple[str, list[RunningGateway]], None]:
    """`count` replicas on one fresh Redis (`extra`: more `serve` arguments); yields the Redis URL and the replicas."""
    async with AsyncExitStack() as stack:
        redis_url = await stack.enter_async_context(redis_server(tmp_path))
        running: list[RunningGateway] = []
        for index in range(count):
            folder = tmp_path / f"replica-{index}"
            folder.mkdir()
            config = _config(redis_url, replica_name=f"r{index}", **gateway)
            running.append(await stack.enter_async_context(glm_mcp_serve(config, folder, *extra)))
        yield redis_url, running


@asynccontextmanager
async def editor(url: str, mode: str = "legacy", heard: ToolListHeard | None = None) -> AsyncGenerator[Client, None]:
    async with (
        httpx2.AsyncClient(headers=HEADERS, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode, message_handler=heard) as client,
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
        heard = ToolListHeard()
        async with editor(b.url, heard=heard) as client:
            assert "proc__echo" in await heard.tools_until(client, lambda names: True)
            (tmp_path / "replica-0" / "glm-mcp.json").write_text(json.dumps(config))  # only replica 0's file changes
            with anyio.fail_after(60):  # hang guard: the file watch and Redis pub/sub take well under a second
                await b.stderr_line("applying the config replica")
            # The new server then starts on replica 1 too, and its editor hears of its tools.
            names = await heard.tools_until(client, lambda names: "more__echo" in names, seconds=60)
        assert "proc__echo" in names


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


class Alternating(httpx2.AsyncBaseTransport):
    """Sends each request to the next replica in turn, as a round-robin balancer would."""

    def __init__(self, replicas: list[RunningGateway]) -> None:
        self.ports = [int(replica.url.rsplit(":", 1)[1]) for replica in replicas]
        self.sent: list[int] = []
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[len(self.sent) % len(self.ports)]
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def alternating_editor(
    transport: Alternating, running: list[RunningGateway], sample: Any
) -> AsyncGenerator[Client, None]:
    """A 2026-07-28 editor answering sampling with `sample`, each of its requests sent to the next replica."""
    async with (
        httpx2.AsyncClient(headers=HEADERS, transport=transport, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(
            streamable_http_client(f"{running[0].url}/mcp", http_client=http),
            mode="2026-07-28",
            sampling_callback=sample,
        ) as client,
    ):
        yield client


async def test_a_2026_round_started_on_one_replica_is_answered_on_another(tmp_path: Path) -> None:
    asked: list[str] = []

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        asked.append(str(params.messages[0].content))
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="short"), model="editor-llm")

    async with replicas(tmp_path, 2) as (_, running):
        transport = Alternating(running)
        async with alternating_editor(transport, running, sample) as client:
            before = len(transport.sent)
            result = await client.call_tool("proc__summarize", {"text": "a long story"})
            assert text_of(result) == "editor-llm said: short"
            assert len(asked) == 1
            # The call started on one replica and its answer went to the other, which passed it back.
            assert set(transport.sent[before:]) == set(transport.ports)


async def test_a_round_whose_replica_died_is_refused_with_a_message_to_start_again(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running):
        transport = Alternating(running)

        async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
            holder = next(r for r in running if r.url.endswith(f":{transport.sent[-1]}"))
            holder.process.send_signal(signal.SIGKILL)  # the replica holding the call dies before the answer comes
            await holder.process.wait()
            return T.CreateMessageResult(role="assistant", content=T.TextContent(text="short"), model="editor-llm")

        async with alternating_editor(transport, running, sample) as client:
            with pytest.raises(MCPError, match="the replica that held this call stopped"):
                await client.call_tool("proc__summarize", {"text": "a long story"})


async def test_run_slots_and_tokens_are_counted_once_for_all_replicas(tmp_path: Path) -> None:
    settings = ServeConfig.model_validate({"limits": {"concurrent_runs": 1, "tokens_per_day": 500}})
    async with redis_server(tmp_path) as url:
        first, second = open_redis(url), open_redis(url)
        try:
            here = Budgets(lambda: settings, first, GatewayMetrics(dict), [])
            there = Budgets(lambda: settings, second, GatewayMetrics(dict), [])
            async with here.run("token:ada", None):
                with pytest.raises(OverLimit, match="concurrent_runs"):
                    async with there.run("token:ada", None):
                        raise AssertionError("a second run of the same caller started on another replica")
                async with there.run("token:bob", None):
                    pass  # another caller has slots of its own
            async with there.run("token:ada", None):
                await there.spend("token:ada", None, 600)
            with pytest.raises(OverLimit, match="600 of 500"):
                async with here.run("token:ada", None):
                    raise AssertionError("a run started past the day's tokens")
        finally:
            await first.aclose()
            await second.aclose()


async def test_a_replica_that_loses_redis_is_not_ready_and_says_why(tmp_path: Path) -> None:
    async with replicas(tmp_path, 1) as (redis_url, running), httpx2.AsyncClient(timeout=30) as http:
        replica = running[0]
        assert (await http.get(f"{replica.url}/readyz")).status_code == 200
        socket_path = redis_url.removeprefix("unix://")
        await anyio.run_process(["redis-cli", "-s", socket_path, "shutdown", "nosave"], check=False)
        with anyio.fail_after(30):  # hang guard: Redis is checked every 2 s
            await replica.stderr_line("this replica answers /readyz with 503")
        answer = await http.get(f"{replica.url}/readyz")
        assert answer.status_code == 503
        assert "Redis at unix:" in answer.json()["shared_state"]


async def _first_event_of_a_nap(
    http: httpx2.AsyncClient, replica: RunningGateway, seconds: float
) -> tuple[dict[str, str], str]:
    """Open a session on `replica`, start a `nap` there with a streamed answer, and drop the stream after its first
    event; (the session's headers, that event's id)."""
    opened = await http.post(f"{replica.url}/mcp", headers={**HEADERS, **ACCEPT}, json=_initialize())
    session = {**HEADERS, **ACCEPT, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
    session["MCP-Protocol-Version"] = "2025-11-25"
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(f"{replica.url}/mcp", headers=session, json=done)
    params = {"name": "proc__nap", "arguments": {"seconds": seconds}, "_meta": {"progressToken": "p"}}
    call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params}
    async with http.stream("POST", f"{replica.url}/mcp", headers=session, json=call) as response:
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk
            if events := _events(buffer):
                return session, events[0][0]  # the client loses the stream here
    raise AssertionError("the call's stream ended without an event")


async def _resumed_answer(
    http: httpx2.AsyncClient, replica: RunningGateway, session: dict[str, str], last: str
) -> dict[str, Any]:
    headers = {**session, "Last-Event-ID": last, "Accept": "text/event-stream"}
    async with http.stream("GET", f"{replica.url}/mcp", headers=headers) as response:
        assert response.status_code == 200
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk
            answers = [m for _, m in _events(buffer) if m is not None and "method" not in m]
            if answers:
                return answers[0]
    raise AssertionError("the resumed stream ended without an answer")


async def test_a_call_still_running_on_one_replica_is_followed_to_its_answer_on_another(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running), httpx2.AsyncClient(timeout=60) as http:
        a, b = running
        session, first = await _first_event_of_a_nap(http, a, 2)
        with anyio.fail_after(60):  # hang guard: the nap ends in 2 s
            answer = await _resumed_answer(http, b, session, first)
        assert answer["id"] == 9 and "slept 2 s" in json.dumps(answer["result"])


async def test_a_call_whose_replica_dies_gets_an_error_answer_on_the_replica_that_resumed_it(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2) as (_, running), httpx2.AsyncClient(timeout=60) as http:
        a, b = running
        session, first = await _first_event_of_a_nap(http, a, 600)
        a.process.send_signal(signal.SIGKILL)
        await a.process.wait()
        with anyio.fail_after(60):  # hang guard: a dead replica is known within 15 s of its last heartbeat
            answer = await _resumed_answer(http, b, session, first)
        assert answer["id"] == 9
        assert "the replica serving this call stopped before it answered; call again" in answer["error"]["message"]


async def test_a_session_ended_on_one_replica_is_gone_on_every_replica(tmp_path: Path) -> None:
    async with replicas(tmp_path, 2, "--log-level", "info") as (_, running), httpx2.AsyncClient(timeout=30) as http:
        a, b = running
        opened = await http.post(f"{a.url}/mcp", headers={**HEADERS, **ACCEPT}, json=_initialize())
        session = {**HEADERS, **ACCEPT, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
        session["MCP-Protocol-Version"] = "2025-11-25"
        listing: dict[str, Any] = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        assert (await http.post(f"{b.url}/mcp", headers=session, json=listing)).status_code == 200
        assert (await http.delete(f"{b.url}/mcp", headers=session)).status_code == 200
        with anyio.fail_after(30):  # hang guard: the end is published at once
            await a.stderr_line("ended by its client on another replica")
        for replica in running:
            assert (await http.post(f"{replica.url}/mcp", headers=session, json=listing)).status_code == 404


async def test_a_replica_whose_redis_cannot_be_reached_does_not_start_and_says_why(tmp_path: Path) -> None:
    config = tmp_path / "glm-mcp.json"
    config.write_text(json.dumps(_config(f"unix://{tmp_path}/no-redis.sock")))
    code, _, err = await run_cli("serve", "--port", "0", "--config", str(config), env={"XDG_STATE_HOME": str(tmp_path)})
    assert code == 2
    assert "gateway.redis_url: Redis at unix:" in err and "start Redis or fix the URL" in err
    assert "Traceback" not in err


async def test_a_session_id_reaches_its_client_only_once_every_replica_can_find_it(tmp_path: Path) -> None:
    # A client behind round-robin sends its next request to another replica as soon as it has the session id: the
    # record that replica revives the session from must already be in Redis by then, not written after the answer.
    from glm_mcp.http.response_mode import SharedResponseMode
    from glm_mcp.http.shared_sessions import SharedSessions
    from glm_mcp.replicas.events import RedisEvents

    async with redis_server(tmp_path) as url:
        store = open_redis(url)
        shared = SharedSessions(store, 60, RedisEvents(store, 10, 60, "r0"))

        async def sdk_answering_initialize(scope: Any, receive: Any, send: Any) -> None:
            headers = [(b"content-type", b"application/json"), (b"mcp-session-id", b"s-1")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":1,"result":{}}'})

        body = json.dumps(_initialize()).encode()
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "headers": [(b"content-type", b"application/json"), (b"accept", b"application/json, text/event-stream")],
            "client": ("127.0.0.1", 5000),
        }
        delivered = [{"type": "http.request", "body": body, "more_body": False}]
        found_when_the_id_left: list[dict[str, str]] = []

        async def receive() -> Any:
            return delivered.pop(0) if delivered else {"type": "http.disconnect"}

        async def to_the_client(message: Any) -> None:
            if message["type"] == "http.response.start":
                found_when_the_id_left.append(await store.record("session:s-1"))

        try:
            await SharedResponseMode(sdk_answering_initialize, shared)(scope, receive, to_the_client)
        finally:
            await store.aclose()
    assert found_when_the_id_left and found_when_the_id_left[0].get("initialize") == body.decode()
