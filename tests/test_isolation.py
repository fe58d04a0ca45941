"""Callers are kept apart: a session, a metric or a config detail is seen only by whoever holds the token.

Each test is an attack by a second client of one gateway (another token, or no token) over real HTTP on
127.0.0.1, against the app `serve` runs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from glm_mcp.app import build_app
from glm_mcp.config import GatewayConfig, ServeConfig, UpstreamConfig
from glm_mcp.gateway import Gateway
from tests.helpers import inproc, serve_asgi

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
