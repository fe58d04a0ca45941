"""Callers are kept apart: a session, a metric or a config detail is seen only by whoever holds the token.

Each test is an attack by a second client of one gateway (another token, or no token) over real HTTP on
127.0.0.1, against the app `serve` runs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp.types as T
import pytest
from mcp import Client, MCPError
from mcp.client import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, ModelConfig, ServeConfig, UpstreamConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import greeting_server, inproc, serve_asgi, text_of

ADA, BOB = "ada-" + "a" * 40, "bob-" + "b" * 40
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


def echo_server(name: str = "memo") -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    def echo(text: str) -> str:
        """Say it back."""
        return text

    return server


@asynccontextmanager
async def gateway_http(
    serve: ServeConfig | None = None, servers: dict[str, UpstreamConfig] | None = None, **options: Any
) -> AsyncGenerator[httpx2.AsyncClient, None]:
    serve = serve or ServeConfig(auth_tokens=(SecretStr(ADA), SecretStr(BOB)))
    config = GatewayConfig(servers=servers or {"memo": inproc(echo_server())}, gateway=serve)
    async with serve_asgi(build_app(Gateway(config, **options))) as url, httpx2.AsyncClient(base_url=url) as http:
        yield http


def _as(token: str, session: str | None = None) -> dict[str, str]:
    headers = {**ACCEPT, "authorization": f"Bearer {token}", "mcp-protocol-version": "2025-06-18"}
    return headers if session is None else {**headers, "mcp-session-id": session}


async def _open(http: httpx2.AsyncClient, authorization: str) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}
    opened = await http.post("/mcp", json=body, headers={**ACCEPT, "authorization": authorization})
    assert opened.status_code == 200, opened.text
    return opened.headers["mcp-session-id"]


async def test_a_session_belongs_to_the_token_that_opened_it() -> None:
    async with gateway_http() as http:
        session = await _open(http, f"Bearer {ADA}")
        call: dict[str, Any] = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "memo__echo"}}
        stolen = await http.post("/mcp", json=call, headers=_as(BOB, session))
        listen = await http.get("/mcp", headers=_as(BOB, session))
        ended = await http.delete("/mcp", headers=_as(BOB, session))
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        still_ada = await http.post("/mcp", json=ping, headers=_as(ADA, session))
    assert (stolen.status_code, listen.status_code, ended.status_code) == (404, 404, 404)
    assert stolen.json()["error"]["message"] == "Session not found"  # as for a session that does not exist
    assert still_ada.status_code == 200  # Bob's DELETE did not end Ada's session


async def test_the_per_client_session_cap_keys_on_the_token_not_on_how_the_header_is_written() -> None:
    serve = ServeConfig(auth_tokens=(SecretStr(ADA), SecretStr(BOB)), max_sessions_per_client=2)
    async with gateway_http(serve) as http:
        bob = await _open(http, f"Bearer {BOB}")
        # Ada writes her header three ways, hoping to count as three clients and push Bob out: she stays one.
        ada = [await _open(http, header) for header in (f"Bearer {ADA}", f"Bearer  {ADA}", f"bearer {ADA}")]
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        alive = [(await http.post("/mcp", json=ping, headers=_as(ADA, sid))).status_code for sid in ada]
        bob_alive = (await http.post("/mcp", json=ping, headers=_as(BOB, bob))).status_code
    assert alive == [404, 200, 200]  # her own oldest made room, within her own cap
    assert bob_alive == 200


async def test_metrics_need_the_token_and_healthz_does_not() -> None:
    async with gateway_http() as http:
        anonymous = await http.get("/metrics")
        scraped = await http.get("/metrics", headers={"authorization": f"Bearer {BOB}"})
        health = await http.get("/healthz")
    assert anonymous.status_code == 401 and scraped.status_code == 200 and health.status_code == 200
    assert "glm_mcp_server_up" in scraped.text


async def test_a_401_says_which_token_to_send() -> None:
    async with gateway_http() as http:
        refused = await http.post("/mcp", json={}, headers=ACCEPT)
    challenge = refused.headers["www-authenticate"]
    assert refused.status_code == 401 and challenge.startswith("Bearer ")
    assert 'error_description="' in challenge and "glm-mcp token" in challenge
    assert "glm-mcp token" in refused.json()["error"]["message"]


async def test_readyz_shows_config_error_detail_only_with_the_token() -> None:
    clash: dict[str, UpstreamConfig] = {
        "one": inproc(echo_server("one"), prefix=""),
        "two": inproc(echo_server("two"), prefix=""),
    }
    async with gateway_http(servers=clash, refuse_name_conflicts=False) as http:
        anonymous = (await http.get("/readyz")).json()
        told = (await http.get("/readyz", headers={"authorization": f"Bearer {ADA}"})).json()
    assert "echo" not in anonymous["config_error"] and "send the gateway's token" in anonymous["config_error"]
    assert "'one'" in told["config_error"] and "echo" in told["config_error"]


async def _never_asked(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
    raise AssertionError("the test answers the rounds itself")


@asynccontextmanager
async def modern_editor(url: str, token: str) -> AsyncGenerator[Client, None]:
    """A 2026-07-28 editor that declares elicitation and hands the rounds to the test."""
    async with (
        httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}) as http,
        Client(
            streamable_http_client(f"{url}/mcp", http_client=http), mode="2026-07-28", elicitation_callback=_never_asked
        ) as client,
    ):
        yield client


async def test_a_request_state_is_bound_to_its_caller_and_its_call() -> None:
    serve = ServeConfig(auth_tokens=(SecretStr(ADA), SecretStr(BOB)))
    config = GatewayConfig(servers={"asks": inproc(greeting_server())}, gateway=serve)
    accept = {"n": T.ElicitResult(action="accept", content={"name": "Ada"})}
    async with serve_asgi(build_app(Gateway(config))) as url:
        async with modern_editor(url, ADA) as ada, modern_editor(url, BOB) as bob:
            paused = await ada.session.call_tool("asks__greet", {"greeting": "hi"}, allow_input_required=True)
            assert isinstance(paused, T.InputRequiredResult) and paused.request_state is not None
            state = paused.request_state
            answers: dict[str, T.InputResponse] = dict.fromkeys(paused.input_requests or {}, accept["n"])
            refusals: list[str] = []
            attempts: list[tuple[Client, dict[str, Any], str]] = [
                (bob, {"greeting": "hi"}, state),  # another caller with the very same call
                (ada, {"greeting": "rm -rf"}, state),  # the same caller, a changed call
                (ada, {"greeting": "hi"}, state[:-2] + ("AA" if not state.endswith("AA") else "BB")),  # tampered
            ]
            for editor, arguments, presented in attempts:
                with pytest.raises(MCPError) as refused:
                    await editor.session.call_tool(
                        "asks__greet", arguments, input_responses=answers, request_state=presented
                    )
                assert refused.value.code == T.INVALID_PARAMS
                refusals.append(refused.value.message)
            done = await ada.session.call_tool(
                "asks__greet", {"greeting": "hi"}, input_responses=answers, request_state=state
            )
    assert all("does not belong to this request" in message for message in refusals), refusals
    assert isinstance(done, T.CallToolResult) and done.content == [T.TextContent(text="hi Ada")]


async def test_a_paused_v1_run_is_resumed_only_by_the_client_that_started_it() -> None:
    def script(body: dict[str, Any]) -> Reply:
        told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        return (
            Reply(content=f"GLM heard: {told[0]}")
            if told
            else Reply(tool_calls=[("asks__greet", '{"greeting": "hi"}')])
        )

    fake = FakeGlm(script)
    async with serve_asgi(fake.app) as glm_url:
        model = ModelConfig(base_url=f"{glm_url}/api/paas/v4", api_key=SecretStr("k"), max_retries=0)
        serve = ServeConfig(auth_tokens=(SecretStr(ADA), SecretStr(BOB)))
        servers: dict[str, UpstreamConfig] = {"asks": inproc(greeting_server(), destructive="allow")}
        app = build_app(Gateway(GatewayConfig(servers=servers, model=model, gateway=serve)))
        async with serve_asgi(app) as url, httpx2.AsyncClient(base_url=url) as http:
            user: list[dict[str, Any]] = [{"role": "user", "content": "greet me"}]
            body = {"model": "glm-4.6", "messages": user, "glm_mcp": {"elicitation": "client"}}
            paused = (await http.post("/v1/chat/completions", json=body, headers=_as(ADA))).json()
            call = paused["choices"][0]["message"]["tool_calls"][0]
            answer = {
                "role": "tool",
                "tool_call_id": call["id"],
                "content": '{"action": "accept", "content": {"name": "Ada"}}',
            }
            resumed = {**body, "messages": [*user, paused["choices"][0]["message"], answer]}
            stolen = await http.post("/v1/chat/completions", json=resumed, headers=_as(BOB))
            own = await http.post("/v1/chat/completions", json=resumed, headers=_as(ADA))
    assert call["function"]["name"] == "glm__elicit"
    assert stolen.status_code == 400 and "does not belong" in stolen.json()["error"]["message"]
    assert own.status_code == 200 and own.json()["choices"][0]["message"]["content"] == "GLM heard: hi Ada"


def roots_server() -> MCPServer:
    server = MCPServer("roots")

    @server.tool()
    async def where(ctx: Context) -> str:
        """List the roots the server is given."""
        roots = await ctx.session.list_roots()  # pyright: ignore[reportDeprecated]  # 2025-era roots
        return ", ".join(str(root.uri) for root in roots.roots) or "no roots"

    return server


def _roots_of(uri: str) -> Any:
    async def roots(context: ClientRequestContext) -> T.ListRootsResult:
        return T.ListRootsResult(roots=[T.Root.model_validate({"uri": uri, "name": "root"})])

    return roots


async def test_a_server_gets_only_the_roots_of_the_editor_whose_call_it_serves() -> None:
    serve = ServeConfig(roots=("/srv/shared",))
    async with Gateway(GatewayConfig(servers={"r": inproc(roots_server())}, gateway=serve)).running() as gateway:
        face = build_server(gateway)
        async with Client(face, mode="legacy", list_roots_callback=_roots_of("file:///home/ada")) as ada:
            alone = text_of(await gateway.call_tool("r__where", {}))  # no editor's call, one editor connected
            async with Client(face, mode="legacy", list_roots_callback=_roots_of("file:///home/bob")) as bob:
                ada_call = text_of(await ada.call_tool("r__where", {}))
                bob_call = text_of(await bob.call_tool("r__where", {}))
                nobodys = text_of(await gateway.call_tool("r__where", {}))  # two editors: neither's roots
    assert (ada_call, bob_call) == ("file:///home/ada", "file:///home/bob")
    assert alone == "file:///home/ada"
    assert nobodys == "file:///srv/shared"


async def test_a_servers_log_during_one_editors_call_reaches_that_editor_only() -> None:
    server = MCPServer("chatty")

    @server.tool()
    async def confide(secret: str, ctx: Context) -> str:
        """Log what it was told."""
        await ctx.warning(f"told {secret}")  # pyright: ignore[reportDeprecated]  # 2025-era logging
        return "noted"

    heard: dict[str, list[str]] = {"ada": [], "bob": []}
    done = anyio.Event()

    def listener(name: str) -> Any:
        async def on_log(params: T.LoggingMessageNotificationParams) -> None:
            heard[name].append(str(params.data))
            if name == "bob" and "told bob's" in str(params.data):
                done.set()

        return on_log

    async with Gateway(GatewayConfig(servers={"c": inproc(server)})).running() as gateway:
        face = build_server(gateway)
        async with (
            Client(face, mode="legacy", logging_callback=listener("ada")) as ada,
            Client(face, mode="legacy", logging_callback=listener("bob")) as bob,
        ):
            await ada.call_tool("c__confide", {"secret": "ada's"})
            await bob.call_tool("c__confide", {"secret": "bob's"})
            with anyio.fail_after(5):
                await done.wait()  # bob's own log arrived: ada's, delivered first if at all, would be here too
    assert heard == {"ada": ["told ada's"], "bob": ["told bob's"]}


def wiping_server(wiped: list[str]) -> MCPServer:
    server = MCPServer("disk")

    @server.tool()
    def wipe(folder: str) -> str:
        """Delete a folder (no annotations: destructive by the MCP spec's defaults)."""
        wiped.append(folder)
        return f"wiped {folder}"

    return server


async def test_glm_call_tool_applies_the_destructive_policy_when_the_caller_cannot_be_asked() -> None:
    wiped: list[str] = []
    answers: list[str] = []

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        answers.append(params.message)
        return T.ElicitResult(action="accept" if len(answers) == 2 else "decline")

    search = ServeConfig(mcp_tools="search")
    for policy in ("deny", "ask", "allow"):
        config = GatewayConfig(servers={"disk": inproc(wiping_server(wiped), destructive=policy)}, gateway=search)
        async with Gateway(config).running() as gateway:
            async with Client(build_server(gateway), mode="legacy") as mute:
                refused = await mute.call_tool("glm__call_tool", {"name": "disk__wipe", "arguments": {"folder": "/a"}})
            if policy != "allow":
                assert refused.is_error and f'"destructive": "{policy}"' in text_of(refused)
                assert "cannot ask its user to confirm" in text_of(refused)
                async with Client(build_server(gateway), mode="legacy", elicitation_callback=elicit) as asks:
                    declined = await asks.call_tool(
                        "glm__call_tool", {"name": "disk__wipe", "arguments": {"folder": "/b"}}
                    )
                    accepted = await asks.call_tool(
                        "glm__call_tool", {"name": "disk__wipe", "arguments": {"folder": "/c"}}
                    )
                assert "did not allow it (decline)" in text_of(declined) and text_of(accepted) == "wiped /c"
                answers.clear()
            else:
                assert text_of(refused) == "wiped /a"
    assert wiped == ["/c", "/c", "/a"]  # only what the user allowed, and what the config allows


async def test_sse_streams_count_against_the_session_limits_and_their_posts_belong_to_their_opener() -> None:
    serve = ServeConfig(auth_tokens=(SecretStr(ADA), SecretStr(BOB)), max_sessions_per_client=2)
    async with gateway_http(serve) as http, anyio.create_task_group() as tg:
        endpoints: list[str] = []
        opened = anyio.Event()

        async def hold_sse() -> None:
            async with http.stream("GET", "/sse", headers={"authorization": f"Bearer {ADA}"}) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data: /messages/"):
                        endpoints.append(line.removeprefix("data: "))
                        if len(endpoints) == 2:
                            opened.set()

        tg.start_soon(hold_sse)
        tg.start_soon(hold_sse)
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await opened.wait()
        third = await http.get("/sse", headers={"authorization": f"Bearer {ADA}"})
        opening = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}
        mcp = await http.post("/mcp", json=opening, headers={**ACCEPT, "authorization": f"Bearer {ADA}"})
        bobs_own = await http.post("/mcp", json=opening, headers={**ACCEPT, "authorization": f"Bearer {BOB}"})
        stolen = await http.post(endpoints[0], json=opening, headers={"authorization": f"Bearer {BOB}"})
        own = await http.post(endpoints[0], json=opening, headers={"authorization": f"Bearer {ADA}"})
        tg.cancel_scope.cancel()
        assert (third.status_code, mcp.status_code) == (503, 503)  # two open /sse streams are Ada's two sessions
        assert bobs_own.status_code == 200
        assert stolen.status_code == 404 and own.status_code == 202


async def test_event_streams_of_the_status_page_are_capped() -> None:
    serve = ServeConfig(auth_tokens=(SecretStr(ADA),), max_event_streams=2)
    headers = {"authorization": f"Bearer {ADA}"}
    async with gateway_http(serve) as http, anyio.create_task_group() as tg:
        started = [anyio.Event(), anyio.Event()]

        async def listen(ready: anyio.Event) -> None:
            async with http.stream("GET", "/admin/events", headers=headers) as stream:
                async for _ in stream.aiter_lines():
                    ready.set()

        for ready in started:
            tg.start_soon(listen, ready)
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            for ready in started:
                await ready.wait()
        refused = await http.get("/admin/events", headers=headers)
        tg.cancel_scope.cancel()
        assert refused.status_code == 503 and "max_event_streams" in refused.json()["error"]["message"]
