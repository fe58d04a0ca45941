"""Server-sent events on `/mcp` a client can resume: the priming event and `retry`, `Last-Event-ID` after a broken
stream, each session's events its own (real HTTP on 127.0.0.1, a plain HTTP client reading the SSE lines)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import JSONRPCNotification

from glm_mcp.config import GatewayConfig, ServeConfig
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from glm_mcp.http.events import StoredEvents
from tests.helpers import inproc, serve_asgi

_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _stepping_server(gate: anyio.Event) -> MCPServer:
    server = MCPServer("steps")

    @server.tool()
    async def stepped(ctx: Context) -> str:
        """One step, a wait for the gate, a second step, then the answer."""
        await ctx.report_progress(1, 2, "first")
        await gate.wait()
        await ctx.report_progress(2, 2, "second")
        return "done"

    return server


@asynccontextmanager
async def _gateway(gate: anyio.Event) -> AsyncGenerator[str, None]:
    config = GatewayConfig(servers={"steps": inproc(_stepping_server(gate))}, gateway=ServeConfig(auth_tokens=()))
    async with serve_asgi(build_app(Gateway(config))) as url:
        yield url


async def _session(http: httpx2.AsyncClient, version: str) -> dict[str, str]:
    init = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    opened = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
    headers = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": version}
    await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def _call(ident: int) -> dict[str, Any]:
    params = {"name": "steps__stepped", "arguments": {}, "_meta": {"progressToken": f"p{ident}"}}
    return {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": params}


async def _events(lines: AsyncIterator[str], until: int) -> list[dict[str, Any]]:
    """The next `until` SSE events (each as its fields, `data` parsed when there is any)."""
    events: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    async for line in lines:
        if not line:
            if event:
                events.append(event)
                event = {}
                if len(events) == until:
                    break
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        event[field] = json.loads(value) if field == "data" and value else value
    return events


async def test_a_broken_stream_is_resumed_with_last_event_id_and_loses_nothing() -> None:
    gate = anyio.Event()
    async with _gateway(gate) as url, httpx2.AsyncClient(base_url=url, headers=_HEADERS, timeout=30) as http:
        headers = await _session(http, "2025-11-25")
        async with http.stream("POST", "/mcp", json=_call(1), headers=headers) as stream:
            priming, first = await _events(stream.aiter_lines(), until=2)
        # The stream broke after the first step (the client left); the call goes on, and finishes meanwhile.
        assert priming["data"] == "" and priming["retry"] == "1000" and priming["id"]
        assert first["data"]["params"]["message"] == "first"
        gate.set()
        resume = {**headers, "last-event-id": first["id"]}
        with anyio.fail_after(10):  # hang guard, not a timing check
            async with http.stream("GET", "/mcp", headers=resume) as replay:
                assert replay.status_code == 200
                missed = await _events(replay.aiter_lines(), until=2)
        assert missed[0]["data"]["params"]["message"] == "second"
        assert missed[1]["data"]["result"]["content"][0]["text"] == "done"
        assert missed[1]["data"]["id"] == 1


async def _whole_call(http: httpx2.AsyncClient, version: str, until: int) -> tuple[dict[str, str], list[Any]]:
    """A new session of `version` (its headers), and the first `until` events of a call that runs to its end."""
    headers = await _session(http, version)
    async with http.stream("POST", "/mcp", json=_call(1), headers=headers) as stream:
        return headers, await _events(stream.aiter_lines(), until=until)


async def test_another_sessions_event_id_replays_nothing() -> None:
    gate = anyio.Event()
    gate.set()
    async with _gateway(gate) as url, httpx2.AsyncClient(base_url=url, headers=_HEADERS, timeout=30) as http:
        _, events = await _whole_call(http, "2025-11-25", until=4)
        assert events[-1]["data"]["result"]["content"][0]["text"] == "done"
        theirs = await _session(http, "2025-11-25")
        with anyio.fail_after(10):  # hang guard, not a timing check
            async with http.stream("GET", "/mcp", headers={**theirs, "last-event-id": events[1]["id"]}) as replay:
                body = await replay.aread()
        assert b"done" not in body and b"first" not in body


async def test_a_client_older_than_resumability_gets_no_priming_event() -> None:
    gate = anyio.Event()
    gate.set()
    async with _gateway(gate) as url, httpx2.AsyncClient(base_url=url, headers=_HEADERS, timeout=30) as http:
        _, events = await _whole_call(http, "2025-06-18", until=3)
        assert [event["data"].get("method", "result") for event in events] == [
            "notifications/progress",
            "notifications/progress",
            "result",
        ]


def test_the_kept_events_stay_within_their_bounds_and_a_session_keeps_only_its_own() -> None:
    events = StoredEvents(max_bytes=10_000, per_stream=3)

    def note(text: str) -> JSONRPCNotification:
        return JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params={"data": text})

    ids = [events.store("a", "s", note(f"n{i}")) for i in range(5)]
    assert events.after("a", ids[0]) is None  # dropped: three per stream
    found = events.after("a", ids[2])
    assert found is not None and [json.loads(data)["params"]["data"] for _, data in found[1]] == ["n3", "n4"]
    assert events.after("b", ids[2]) is None
    big = events.store("b", "s", note("x" * 9_900))  # past the 10,000 bytes: the oldest make room, all of a's here
    assert [events.after("a", ident) for ident in ids[2:]] == [None, None, None]
    assert events.after("b", big) == ("s", [])
    events.forget("b")
    assert events.after("b", big) is None
