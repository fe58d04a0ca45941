"""The fast lane of `/mcp`: the common requests of a known session answered beside the SDK, exactly as it would.

A request with an empty `_meta` goes the SDK's way (the lane leaves anything unusual to the SDK), so each answer of
the lane is compared with the SDK's answer to the same request, over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest

from glm_mcp.config import GatewayConfig, ServeConfig
from glm_mcp.faces.mcp.fast import FastLane
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.helpers import (
    call_changing_the_catalog,
    growing_server,
    inproc,
    memo_adding_server,
    serve_asgi,
    weather_server,
)

_INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _rpc(ident: int | str, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "method": method, **({"params": params} if params is not None else {})}


@pytest.fixture
def lane_answers(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the lane took each request it was offered, in order."""
    taken: list[bool] = []
    original = FastLane.answer

    async def noting(self: FastLane, *args: Any) -> bool:
        answered = await original(self, *args)
        taken.append(answered)
        return answered

    monkeypatch.setattr(FastLane, "answer", noting)
    return taken


@asynccontextmanager
async def session(servers: dict[str, Any], **serve: Any) -> AsyncGenerator[tuple[httpx2.AsyncClient, Gateway], None]:
    """An initialized 2025-06-18 session on a served gateway, as plain HTTP; and the gateway."""
    gateway = Gateway(GatewayConfig(servers=servers, gateway=ServeConfig(auth_tokens=(), **serve)))
    async with (
        serve_asgi(build_app(gateway)) as url,
        httpx2.AsyncClient(base_url=url, headers=_HEADERS, timeout=30) as http,
    ):
        opened = await http.post("/mcp", json=_rpc(0, "initialize", _INIT))
        http.headers["mcp-session-id"] = opened.headers["mcp-session-id"]
        http.headers["mcp-protocol-version"] = "2025-06-18"
        await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield http, gateway


async def test_calls_and_listings_in_the_lane_are_answered_as_the_sdk_answers_them(lane_answers: list[bool]) -> None:
    servers = {"memo": inproc(memo_adding_server()), "weather": inproc(weather_server())}
    async with session(servers) as (http, _):
        first = await http.post("/mcp", json=_rpc(1, "tools/list", {"_meta": {}}))  # the SDK's, which notes the session
        cases: list[tuple[str, dict[str, Any] | None]] = [
            ("tools/list", None),
            ("tools/list", {}),
            ("tools/call", {"name": "weather__forecast", "arguments": {"city": "Zürich ✓", "days": 2}}),
            ("tools/call", {"name": "memo__count"}),
            ("tools/call", {"name": "weather__fail", "arguments": {"reason": "rain"}}),  # an error result
            ("tools/call", {"name": "weather__nope", "arguments": {}}),  # an unknown tool: a protocol error
            ("tools/call", {"name": "weather__forecast", "arguments": {"city": "Oslo", "days": "x"}}),
        ]
        lane_body: dict[str, Any] = {}
        for index, (method, params) in enumerate(cases, start=2):
            lane = await http.post("/mcp", json=_rpc(index, method, params))
            sdk = await http.post("/mcp", json=_rpc(f"s{index}", method, {**(params or {}), "_meta": {}}))
            assert lane.status_code == sdk.status_code == 200
            assert lane.headers["content-type"] == sdk.headers["content-type"] == "application/json"
            assert lane.headers["mcp-session-id"] == http.headers["mcp-session-id"]
            lane_body, sdk_body = lane.json(), sdk.json()
            assert lane_body["id"] == index and sdk_body["id"] == f"s{index}"
            assert {k: v for k, v in lane_body.items() if k != "id"} == {k: v for k, v in sdk_body.items() if k != "id"}
            if method == "tools/call" and params and params["name"] == "weather__forecast" and index == 4:
                assert lane_body["result"]["content"][0]["text"] == "Zürich ✓: sunny for 2 day(s)"
        assert lane_body["result"]["isError"] is True  # the last case: the arguments were refused upstream
        tools = [tool["name"] for tool in first.json()["result"]["tools"]]
        assert {"memo__add", "weather__forecast"} <= set(tools)
    assert lane_answers.count(True) == len(cases)


async def test_what_the_lane_does_not_know_goes_to_the_sdk_unchanged(lane_answers: list[bool]) -> None:
    async with session({"memo": inproc(memo_adding_server())}) as (http, _):
        await http.post("/mcp", json=_rpc(1, "tools/list"))
        batch = await http.post("/mcp", json=[_rpc(2, "tools/list")])
        assert batch.status_code == 400  # the revision has no batches; the SDK says so
        bad_params = await http.post("/mcp", json=_rpc(3, "tools/call", {"name": 5}))
        assert bad_params.json()["error"]["code"] == -32602
        own_tool = await http.post("/mcp", json=_rpc(31, "tools/call", {"name": "glm__find_tools", "arguments": {}}))
        assert "result" in own_tool.json()  # the gateway's own tools speak to the editor: the SDK serves them
        wrong_version = await http.post(
            "/mcp", json=_rpc(4, "tools/list"), headers={"mcp-protocol-version": "1999-01-01"}
        )
        assert wrong_version.status_code == 400
        other_session = await http.post("/mcp", json=_rpc(5, "tools/list"), headers={"mcp-session-id": "f" * 32})
        assert other_session.status_code == 404
        await http.delete("/mcp")
        ended = await http.post("/mcp", json=_rpc(6, "tools/list"))
        assert ended.status_code == 404
    assert lane_answers[:2] == [False, False]  # `notifications/initialized`, then the session's first request
    assert True not in lane_answers


async def _forecast_started(
    tg: anyio.abc.TaskGroup, http: httpx2.AsyncClient, ident: int, started: list[str], answers: list[dict[str, Any]]
) -> None:
    """Start `weather__forecast` for Oslo as request `ident` (its answer lands in `answers`); return once the tool
    runs."""

    async def call() -> None:
        params = {"name": "weather__forecast", "arguments": {"city": "Oslo"}}
        answers.append((await http.post("/mcp", json=_rpc(ident, "tools/call", params))).json())

    tg.start_soon(call)
    with anyio.fail_after(10):  # hang guard, not a timing check
        while not started:
            await anyio.wait_all_tasks_blocked()


async def test_a_cancelled_call_in_the_lane_ends_at_once_with_request_cancelled(lane_answers: list[bool]) -> None:
    started: list[str] = []
    async with session({"weather": inproc(weather_server(started, anyio.Event()))}) as (http, _):
        await http.post("/mcp", json=_rpc(1, "tools/list"))
        answers: list[dict[str, Any]] = []
        async with anyio.create_task_group() as tg:
            await _forecast_started(tg, http, 7, started, answers)
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}
            assert (await http.post("/mcp", json=cancel)).status_code == 202
        assert answers == [{"jsonrpc": "2.0", "id": 7, "error": {"code": -32800, "message": "Request cancelled"}}]
        after = await http.post("/mcp", json=_rpc(8, "tools/call", {"name": "weather__fail", "arguments": {}}))
        assert after.json()["result"]["isError"] is True  # the session goes on
    assert lane_answers.count(True) == 2  # the cancelled call and the one after it


async def test_a_session_busy_in_the_lane_outlives_its_idle_timeout(lane_answers: list[bool]) -> None:
    """The SDK expires a session with no request in flight for `session_idle_timeout`; a call in the lane counts."""
    started: list[str] = []
    gate = anyio.Event()
    async with session({"weather": inproc(weather_server(started, gate))}, session_idle_timeout=0.5) as (http, _):
        await http.post("/mcp", json=_rpc(1, "tools/list"))
        answers: list[dict[str, Any]] = []
        async with anyio.create_task_group() as tg:
            await _forecast_started(tg, http, 2, started, answers)
            await anyio.sleep(1.0)  # the behaviour under test: twice the idle timeout passes with the call running
            gate.set()
        assert answers[0]["result"]["content"][0]["text"] == "Oslo: sunny for 1 day(s)"
        after = await http.post("/mcp", json=_rpc(3, "tools/list"))
        assert after.status_code == 200 and "result" in after.json()
    assert lane_answers.count(True) == 2  # the long call and the listing after it


async def test_a_listing_in_the_lane_follows_the_catalog(lane_answers: list[bool]) -> None:
    """The lane keeps a listing's encoding while the same tools are listed; a changed catalog is listed anew."""
    async with session({"dyn": inproc(growing_server())}) as (http, gateway):
        await http.post("/mcp", json=_rpc(1, "tools/list", {"_meta": {}}))

        async def names(ident: int) -> list[str]:
            listed = await http.post("/mcp", json=_rpc(ident, "tools/list"))
            return [tool["name"] for tool in listed.json()["result"]["tools"] if tool["name"].startswith("dyn__")]

        assert await names(2) == await names(3) == ["dyn__grow"]
        await call_changing_the_catalog(gateway, "dyn__grow", {})
        assert sorted(await names(4)) == ["dyn__fresh", "dyn__grow"]
    assert lane_answers.count(True) == 3


async def test_half_an_emoji_on_a_known_session_is_a_parse_error_and_the_session_goes_on() -> None:
    # On a known session the lane reads the body first: half a surrogate pair in a tool's name reached the error
    # message, which could not be written as UTF-8 (a 500 and a traceback). It goes to the SDK, which refuses it.
    async with session({"memo": inproc(memo_adding_server())}) as (http, _):
        await http.post("/mcp", json=_rpc(1, "tools/list"))  # the SDK served the session once: the lane knows it
        bad = '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "memo__add\\ud83d"}}'
        refused = await http.post("/mcp", content=bad)
        listed = await http.post("/mcp", json=_rpc(8, "tools/list"))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == -32700
    assert "memo__add" in [tool["name"] for tool in listed.json()["result"]["tools"]]
