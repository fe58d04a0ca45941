"""The audit, replayed: each attack on the gateway, then the refusal it must meet.

Real parts throughout: `glm-mcp serve` as a process on loopback where the HTTP server itself matters (tokens,
connection bounds), the ASGI app in process otherwise, real MCP servers, real files and processes.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from glm_mcp.cli.install import apply, plan, plan_http
from glm_mcp.config import (
    GatewayConfig,
    HttpUpstreamConfig,
    ModelConfig,
    ServeConfig,
    UpstreamConfig,
    parse_config,
)
from glm_mcp.errors import ConfigError
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import ROOT, asgi_lifespan, glm_mcp_serve, inproc, run_cli, serve_asgi, stack, write_config

SDK_SERVER = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")
INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _proc_config(**gateway: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"mcpServers": {"proc": {"command": sys.executable, "args": [SDK_SERVER]}}}
    if gateway:
        config["gateway"] = gateway
    return config


@asynccontextmanager
async def app_client(serve: ServeConfig | None = None, **servers: Any) -> AsyncGenerator[httpx2.AsyncClient, None]:
    """The HTTP app in process (with its lifespan) in front of in-memory servers and an emulated GLM."""
    fake = FakeGlm(lambda body: Reply(content="fine"))
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"))
        upstreams: dict[str, UpstreamConfig] = {
            name: server if isinstance(server, HttpUpstreamConfig) else inproc(server)
            for name, server in servers.items()
        }
        app = build_app(Gateway(GatewayConfig(servers=upstreams, model=model, gateway=serve or ServeConfig())))
        async with (
            asgi_lifespan(app),
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://127.0.0.1:8765") as http,
        ):
            yield http


# 1. No empty secrets.


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_or_blank_token_is_a_config_error_that_does_not_echo_it(value: str) -> None:
    data = {"mcpServers": {}, "gateway": {"auth_tokens": ["${GLM_MCP_TOKEN}"]}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {"GLM_MCP_TOKEN": value}, "glm-mcp.json")
    assert "gateway.auth_tokens" in str(caught.value) and "empty or blank" in str(caught.value)


@pytest.mark.slow  # runs the image entry point as a subprocess
async def test_the_docker_image_refuses_to_start_with_an_empty_token() -> None:
    docker = str(ROOT / "docker" / "glm-mcp.json")
    code, _, err = await run_cli("serve", "--host", "0.0.0.0", "--config", docker, env={"GLM_MCP_TOKEN": ""})
    assert code == 2 and "empty or blank" in err and "Traceback" not in err


# 2. Protected by default.


@pytest.mark.slow
async def test_without_auth_tokens_serve_generates_a_private_token_and_requires_it(tmp_path: Path) -> None:
    async with glm_mcp_serve(_proc_config(), tmp_path) as gateway:
        token_file = tmp_path / "state" / "glm-mcp" / "token"
        assert gateway.token and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        async with httpx2.AsyncClient(base_url=gateway.url, headers=ACCEPT) as http:
            for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer x"}, {"Authorization": "x"}):
                assert (await http.post("/mcp", json={}, headers=headers)).status_code == 401
                chat = {"messages": [{"role": "user", "content": "hi"}]}
                assert (await http.post("/v1/chat/completions", json=chat, headers=headers)).status_code == 401
            assert (await http.get("/healthz")).status_code == 200
        async with gateway.mcp_client() as client:
            assert "proc__echo" in [tool.name for tool in (await client.list_tools()).tools]
        code, out, _ = await run_cli("token", env={"XDG_STATE_HOME": str(tmp_path / "state")})
        assert (code, out.strip()) == (0, gateway.token)


@pytest.mark.slow
async def test_an_empty_token_list_opens_loopback_explicitly_with_a_warning(tmp_path: Path) -> None:
    async with glm_mcp_serve(_proc_config(auth_tokens=[]), tmp_path) as gateway:
        assert gateway.token is None
        async with httpx2.AsyncClient(base_url=gateway.url, headers=ACCEPT) as http:
            answer = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT})
            assert answer.status_code == 200
        assert any("authentication is off" in line for line in gateway.stderr_lines)
    code, _, err = await run_cli("serve", "--host", "0.0.0.0", "--config", str(tmp_path / "glm-mcp.json"))
    assert code == 2 and "refusing to bind 0.0.0.0" in err


async def test_install_http_writes_the_token_into_an_entry_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {"other": {"command": "x"}}}')
    path.chmod(0o644)
    apply(plan_http("cursor", path, "http://127.0.0.1:8765/mcp", "tok-123456"))
    entry = json.loads(path.read_text())["mcpServers"]["glm-mcp"]
    assert entry == {"url": "http://127.0.0.1:8765/mcp", "headers": {"Authorization": "Bearer tok-123456"}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError):
        plan_http("claude-desktop", tmp_path / "c.json", "http://127.0.0.1:8765/mcp", "t")


# 3. Browsers stay out.


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"messages": [{"role": "user", "content": "rm -rf"}]}'),
        ("application/x-www-form-urlencoded", b"a=b"),
        (None, b"{}"),
    ],
)
async def test_v1_takes_json_only_so_a_page_cannot_post_without_a_preflight(
    content_type: str | None, body: bytes
) -> None:
    async with app_client(memo=MCPServer("memo")) as http:
        headers = {"content-type": content_type} if content_type else {}
        response = await http.post("/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == 415 and response.json()["error"]["message"].endswith("application/json")


@pytest.mark.parametrize("path", ["/v1/models", "/mcp", "/healthz", "/readyz", "/metrics", "/admin/status", "/"])
async def test_a_local_page_is_refused_on_every_route_and_so_is_a_foreign_host(path: str) -> None:
    async with app_client(memo=MCPServer("memo")) as http:
        page = await http.get(path, headers={"origin": "http://localhost:3000"})
        rebound = await http.get(path, headers={"host": "attacker.example:8765"})
    assert page.status_code == 403 and "allowed_origins" in page.json()["error"]["message"]
    assert rebound.status_code == 421


async def test_a_host_listed_in_allowed_hosts_gets_in_and_other_names_still_do_not() -> None:
    serve = ServeConfig(allowed_hosts=("gateway.internal:8765",), auth_tokens=(SecretStr("tok-1234"),))
    async with app_client(serve, memo=MCPServer("memo")) as http:
        auth = {"authorization": "Bearer tok-1234"}
        listed = await http.get("/v1/models", headers={**auth, "host": "gateway.internal:8765"})
        loopback = await http.get("/v1/models", headers=auth)
        other = await http.get("/v1/models", headers={**auth, "host": "attacker.example:8765"})
    assert (listed.status_code, loopback.status_code, other.status_code) == (200, 200, 421)


async def test_a_configured_origin_gets_correct_cors_answers() -> None:
    serve = ServeConfig(allowed_origins=("https://app.example.com",), auth_tokens=(SecretStr("tok-1234"),))
    async with app_client(serve, memo=MCPServer("memo")) as http:
        origin = {"origin": "https://app.example.com"}
        preflight = await http.options(
            "/v1/chat/completions",
            headers={
                **origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization",
            },
        )
        models = await http.get("/v1/models", headers={**origin, "authorization": "Bearer tok-1234"})
        other = await http.get("/v1/models", headers={"origin": "https://evil.example.com"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    assert models.status_code == 200 and models.headers["access-control-allow-origin"] == "https://app.example.com"
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers


# 4. Secrets never leave.


@pytest.mark.slow
async def test_readyz_and_the_log_show_no_url_key_and_no_secret_from_a_servers_stderr(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text(
        "import os, sys\nprint('starting with key ' + os.environ['API_KEY'], file=sys.stderr)\nsys.exit(3)\n"
    )
    config: dict[str, Any] = {
        "mcpServers": {
            "leaky": {"command": sys.executable, "args": [str(leaky)], "env": {"API_KEY": "sk-live-SECRET-9876"}},
        },
        "gateway": {"auth_tokens": []},
    }
    async with glm_mcp_serve(config, tmp_path, "--log-level", "info") as gateway:
        async with httpx2.AsyncClient(base_url=gateway.url) as http:
            ready = (await http.get("/readyz")).text
    shown = ready + "\n".join(gateway.stderr_lines)
    assert "starting with key ***" in shown  # the line itself is kept, only the value is hidden
    assert "sk-live-SECRET-9876" not in shown


async def test_readyz_shows_a_failing_sse_url_without_its_credentials_or_query_values() -> None:
    async def deny(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    async with serve_asgi(deny) as url:
        secret_url = url.replace("http://", "http://ada:pw-SECRET-1@") + "/sse?key=url-SECRET-5555&mode=x"
        old = HttpUpstreamConfig(url=secret_url, type="sse", start_timeout=5)
        async with app_client(old=old) as http:
            ready = (await http.get("/readyz")).json()
    error = ready["servers"]["old"]["error"]
    assert "401" in error and "key=***&mode=***" in error
    assert "SECRET" not in json.dumps(ready)


@pytest.mark.parametrize(
    "entry",
    [
        {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": ["Bearer sk-hdr-SECRET-1"]}},
        {"command": "x", "env": {"K": ["sk-env-SECRET-1"]}},
        {"url": "not-a-url?key=sk-url-SECRET-1"},
    ],
)
def test_config_errors_never_echo_a_secret_bearing_value(entry: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": {"s": entry}}, {}, "glm-mcp.json")
    assert "SECRET" not in str(caught.value) and "mcpServers.s." in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config({"model": {"api_key": ["sk-model-SECRET-1"]}}, {}, "glm-mcp.json")
    assert "SECRET" not in str(caught.value)


# 5. Destructive means what the spec says; limits are clamped.


@pytest.mark.slow  # runs the CLI and a server as subprocesses
async def test_an_unannotated_tool_counts_as_destructive_in_the_loop_and_tools_json(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(
        "from mcp.server.mcpserver import MCPServer\nmcp = MCPServer('plain')\n"
        "@mcp.tool()\ndef delete_everything() -> str:\n    return 'gone'\n"
        "if __name__ == '__main__':\n    mcp.run()\n"
    )
    path = write_config(tmp_path, {"plain": {"command": sys.executable, "args": [str(script)]}})
    code, out, _ = await run_cli("tools", "--json", "--config", str(path))
    tool = json.loads(out)["tools"][0]
    assert code == 0 and tool["destructive"] is True and tool["chat_loop"].startswith("refused")


def test_the_bundled_servers_annotate_every_tool() -> None:
    from servers import clock, files, notes

    for server in (clock.mcp, files.mcp, notes.mcp):
        for tool in server._tool_manager.list_tools():  # pyright: ignore[reportPrivateUsage]  # the server's own registry
            assert tool.annotations is not None, tool.name


async def test_a_client_cannot_raise_max_steps_past_the_config() -> None:
    server = MCPServer("loop")

    @server.tool()
    def again() -> str:
        """Read-only."""
        return "again"

    fake = FakeGlm(lambda body: Reply(tool_calls=[("loop__again", "{}")]))
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"))
        config = GatewayConfig(servers={"loop": inproc(server, destructive="allow")}, model=model)
        app = build_app(Gateway(config))
        async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url, timeout=30) as http:
            body = {"messages": [{"role": "user", "content": "go"}], "glm_mcp": {"max_steps": 1_000_000}}
            answer = (await http.post("/v1/chat/completions", json=body)).json()
    assert (answer["glm_mcp"]["stopped_by"], answer["glm_mcp"]["steps"]) == ("max_steps", 10)
    assert len(fake.requests) == 10


# 6. Bundled servers that hold up.


@pytest.mark.slow  # times a pathological regex against a real tree
async def test_a_catastrophic_regex_cannot_pin_the_files_server(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("a" * 50_000 + "!\n")
    path = write_config(
        tmp_path, {"files": {"command": sys.executable, "args": ["-m", "servers.files", "--root", str(tmp_path)]}}
    )
    with anyio.fail_after(60):  # a backtracking engine would take longer than the universe
        code, out, err = await run_cli(
            "call", "files__search_text", json.dumps({"query": r"(\w+\s?)*$", "regex": True}), "--config", str(path)
        )
    assert code == 0, err and "long.txt:1" in out


async def test_fifos_sockets_and_broken_symlinks_are_skipped_never_opened(tmp_path: Path) -> None:
    from servers import files

    (tmp_path / "note.txt").write_text("findme\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    files.set_root(tmp_path)
    try:
        async with Client(files.mcp) as client:
            listing = await client.call_tool("list_directory", {})
            hits = await client.call_tool("search_text", {"query": "findme"})
            pipe = await client.call_tool("read_file", {"path": "pipe"})
            loop = await client.call_tool("read_file", {"path": "loop"})
    finally:
        sock.close()
    structured: dict[str, Any] = listing.structured_content or {}
    entries: list[dict[str, Any]] = structured["result"]
    names = [entry["name"] for entry in entries]
    assert names == ["note.txt"]
    assert (hits.structured_content or {})["result"] == ["note.txt:1: findme"]
    assert pipe.is_error and loop.is_error


@pytest.mark.slow
async def test_forty_concurrent_adds_from_two_processes_store_forty_notes_with_unique_ids(tmp_path: Path) -> None:
    store = tmp_path / "notes.json"
    adder = tmp_path / "adder.py"
    adder.write_text(
        "import sys\nfrom concurrent.futures import ThreadPoolExecutor\nfrom servers import notes\n"
        f"notes.set_store({str(store)!r})\n"
        "with ThreadPoolExecutor(20) as pool:\n"
        "    list(pool.map(lambda i: notes.add_note(f'{sys.argv[1]}-{i}'), range(20)))\n"
    )
    async with anyio.create_task_group() as tg:
        for name in ("a", "b"):
            tg.start_soon(lambda name=name: anyio.run_process([sys.executable, str(adder), name], cwd=ROOT, check=True))
    stored = json.loads(store.read_text())
    assert len(stored) == 40 and len({note["id"] for note in stored}) == 40


# 7. Bounded by design.


async def test_one_client_opening_session_after_session_closes_its_own_oldest_idle_one() -> None:
    serve = ServeConfig(max_sessions_per_client=3, max_sessions=100)
    async with app_client(serve, memo=MCPServer("memo")) as http:
        ids: list[str] = []
        for request_id in range(6):
            opened = await http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": INIT},
                headers=ACCEPT,
            )
            assert opened.status_code == 200
            ids.append(opened.headers["mcp-session-id"])
        ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
        statuses = [
            (
                await http.post(
                    "/mcp", json=ping, headers={**ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
                )
            ).status_code
            for sid in ids
        ]
    assert statuses == [404, 404, 404, 200, 200, 200]


async def _open_sessions(http: httpx2.AsyncClient, clients: list[str]) -> list[str]:
    ids: list[str] = []
    for request_id, client in enumerate(clients):
        headers = {**ACCEPT, "authorization": f"Bearer {client}"}
        body = {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": INIT}
        opened = await http.post("/mcp", json=body, headers=headers)
        assert opened.status_code == 200
        ids.append(opened.headers["mcp-session-id"])
    return ids


async def _ping(http: httpx2.AsyncClient, client: str, session_id: str) -> int:
    headers = {**ACCEPT, "authorization": f"Bearer {client}", "mcp-session-id": session_id}
    ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    return (await http.post("/mcp", json=ping, headers={**headers, "mcp-protocol-version": "2025-06-18"})).status_code


async def test_past_max_sessions_in_all_the_oldest_idle_session_of_any_client_makes_room() -> None:
    clients = ["ada", "bob", "cy", "dee"]
    async with app_client(ServeConfig(max_sessions=3), memo=MCPServer("memo")) as http:
        ids = await _open_sessions(http, clients)
        statuses = [await _ping(http, client, sid) for client, sid in zip(clients, ids, strict=True)]
    assert statuses == [404, 200, 200, 200]


@pytest.mark.slow  # waits on the clock
async def test_a_session_idle_past_its_timeout_is_gone_and_a_busy_one_stays() -> None:
    async with app_client(ServeConfig(session_idle_timeout=1), memo=MCPServer("memo")) as http:
        idle, busy = await _open_sessions(http, ["ada", "bob"])
        # Bob keeps using his session for well past the 1 s timeout, Ada does not touch hers (a ping would count).
        past = anyio.current_time() + 2.5
        while anyio.current_time() < past:
            assert await _ping(http, "bob", busy) == 200
            await anyio.sleep(0.2)
        assert await _ping(http, "ada", idle) == 404
        assert await _ping(http, "bob", busy) == 200


async def test_past_the_run_queue_a_chat_request_gets_429_with_retry_after() -> None:
    fake = FakeGlm([Reply(content="slow")])
    fake.hold = anyio.Event()
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"))
        serve = ServeConfig(max_concurrent_runs=1, max_queued_runs=0)
        app = build_app(Gateway(GatewayConfig(servers={}, model=model, gateway=serve)))
        async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url, timeout=30) as http:
            body = {"messages": [{"role": "user", "content": "hi"}]}
            first: list[httpx2.Response] = []
            second: httpx2.Response | None = None

            async def run_first() -> None:
                first.append(await http.post("/v1/chat/completions", json=body))

            async with anyio.create_task_group() as tg:
                tg.start_soon(run_first)
                with anyio.fail_after(5):
                    await fake.entered.wait()  # the first run holds the only slot
                second = await http.post("/v1/chat/completions", json=body)
                fake.hold.set()
            assert second is not None and second.status_code == 429 and second.headers["retry-after"] == "2"
            assert second.json()["error"]["type"] == "rate_limit_error"
        assert first[0].status_code == 200


async def test_a_body_nested_100000_deep_is_a_400() -> None:
    async with app_client(memo=MCPServer("memo")) as http:
        deep = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        response = await http.post("/v1/chat/completions", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "nested" in response.json()["error"]["message"]


@pytest.mark.parametrize(("depth", "status"), [(2, 200), (97, 200), (98, 400)])
async def test_a_chat_body_nested_past_the_depth_limit_is_refused_before_any_model_request(
    depth: int, status: int
) -> None:
    fake = FakeGlm([Reply(content="fine")])
    async with stack(fake) as s, httpx2.AsyncClient(base_url=s.url) as http:
        nested = "[" * depth + "]" * depth  # a tool argument schema or a content part nested `depth` deep
        body = f'{{"model": "glm-4.6", "messages": [{{"role": "user", "content": "hi", "x": {nested}}}]}}'
        response = await http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text  # 97 deep inside the message is 100 in all, the limit
    assert ("nested more than 100 levels" in response.text) == (status == 400)
    assert len(fake.requests) == (1 if status == 200 else 0)


@pytest.mark.slow
async def test_half_sent_requests_are_cut_off_and_healthz_keeps_answering(tmp_path: Path) -> None:
    config = _proc_config(auth_tokens=[], header_timeout=1, body_timeout=1, max_connections=60)
    async with glm_mcp_serve(config, tmp_path) as gateway:
        port = int(gateway.url.rsplit(":", 1)[1])
        stalled = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(50)]
        for stream in stalled:
            await stream.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow_body = await anyio.connect_tcp("127.0.0.1", port)
        await slow_body.send(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        async with httpx2.AsyncClient(base_url=gateway.url) as http:
            assert (await http.get("/healthz")).status_code == 200
        with anyio.fail_after(15):  # hang guard, not a timing check: 15 s covers a busy 2-core machine
            answers = [await _read_all(stream) for stream in [*stalled[:3], slow_body]]
        assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers
        flood = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(70)]
        with anyio.fail_after(15):  # hang guard, not a timing check: 15 s covers a busy 2-core machine
            dropped = await _read_all(flood[0])  # past the cap the oldest waiting connection makes room
        assert dropped.startswith(b"HTTP/1.1 503") and b"had not sent a complete request" in dropped
        await flood[-1].send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        with anyio.fail_after(15):  # hang guard, not a timing check: 15 s covers a busy 2-core machine
            newest = await _read_all(flood[-1])
        assert newest.startswith(b"HTTP/1.1 200")
        for stream in [*stalled, *flood, slow_body]:
            await stream.aclose()


async def _read_all(stream: Any) -> bytes:
    data = b""
    try:
        while True:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
        return data


@pytest.mark.slow
async def test_a_server_writing_an_endless_line_is_stopped_and_reported(tmp_path: Path) -> None:
    endless = tmp_path / "endless.py"
    endless.write_text(
        'import sys\nsys.stdout.write(\'{"jsonrpc": "2.0", "method": "x", "params": {"a": "\')\n'
        "while True:\n    sys.stdout.write('a' * 65536)\n    sys.stdout.flush()\n"
    )
    path = write_config(tmp_path, {"endless": {"command": sys.executable, "args": [str(endless)]}})
    with anyio.fail_after(60):  # hang guard: the endless server is cut off in about a second
        code, out, _ = await run_cli("tools", "--json", "--config", str(path))
    status = json.loads(out)["servers"]["endless"]
    assert code == 1 and status["state"] == "failed" and "longer than" in status["error"]


# 8. Names cannot shadow.


def test_a_server_name_with_a_double_underscore_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": {"a__b": {"command": "x"}}}, {}, "glm-mcp.json")
    assert "mcpServers.a__b" in str(caught.value) and "'__'" in str(caught.value)


# 9. install cannot clobber.


def test_install_never_writes_a_backup_through_a_symlink_nor_widens_a_mode(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {}}')
    path.chmod(0o640)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (tmp_path / "mcp.json.bak").symlink_to(victim)
    backup = apply(plan("cursor", path, "/bin/glm-mcp", ["stdio"]))
    assert backup is not None
    assert victim.read_text() == "untouched"
    assert backup == tmp_path / "mcp.json.bak.1" and not backup.is_symlink()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640 and stat.S_IMODE(path.stat().st_mode) == 0o640
    second = apply(plan("cursor", path, "/bin/glm-mcp", ["stdio"]))
    assert second == tmp_path / "mcp.json.bak.2"
    assert json.loads(backup.read_text()) == {"mcpServers": {}}


def test_install_writes_through_a_symlinked_config_to_its_target(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "mcp.json"
    target.parent.mkdir()
    target.write_text('{"mcpServers": {}}')
    link = tmp_path / "mcp.json"
    link.symlink_to(target)
    apply(plan("cursor", link, "/bin/glm-mcp", ["stdio"]))
    assert link.is_symlink() and "glm-mcp" in json.loads(target.read_text())["mcpServers"]
