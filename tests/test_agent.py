"""The tool loop, scripted through the GLM emulator: exactly what the gateway sends the model at each step."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
from inline_snapshot import snapshot
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import SecretStr

from glm_mcp.agent.loop import Agent
from glm_mcp.agent.results import AgentEvent, AgentLimits
from glm_mcp.config import GatewayConfig, ModelConfig
from glm_mcp.gateway.core import Gateway
from glm_mcp.model.client import GlmClient
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import inproc, memo_adding_server, weather_server

READ_ONLY = ToolAnnotations(read_only_hint=True)
MODEL = ModelConfig(base_url="http://glm/api/paas/v4", api_key=SecretStr("k"), name="glm-4.6")


@asynccontextmanager
async def agent_for(fake: FakeGlm, *servers: tuple[str, MCPServer], **limits: Any) -> AsyncGenerator[Agent, None]:
    config = GatewayConfig(servers={name: inproc(server) for name, server in servers}, model=MODEL)
    async with (
        Gateway(config).running() as gateway,
        GlmClient(MODEL, transport=httpx2.ASGITransport(fake.app)).running() as model,
    ):
        yield Agent(gateway, model, AgentLimits(**limits))


def body(text: str) -> dict[str, Any]:
    return {"model": "glm-4.6", "messages": [{"role": "user", "content": text}]}


async def test_a_run_across_two_servers_sends_the_model_exactly_this_transcript() -> None:
    fake = FakeGlm(
        [
            Reply(
                reasoning="Need the forecast and a memo.",
                tool_calls=[("weather__forecast", '{"city": "Oslo", "days": "2"}'), ("memo__add", '{"text": "pack"}')],
            ),
            Reply(reasoning="Check the count.", tool_calls=[("memo__count", "")]),
            Reply(content="Oslo is sunny; 1 memo saved."),
        ]
    )
    async with agent_for(fake, ("weather", weather_server()), ("memo", memo_adding_server())) as agent:
        result = await agent.run(body("Plan my trip"), agent.offer(), stream=False)
    assert (result.turn.content, result.finish_reason, result.steps) == ("\n\nOslo is sunny; 1 memo saved.", "stop", 3)
    assert [request["tools"] for request in fake.requests] == [fake.requests[0]["tools"]] * 3
    assert fake.requests[0]["tools"] == snapshot(
        [
            {
                "type": "function",
                "function": {
                    "name": "memo__add",
                    "description": "Remember a text.",
                    "parameters": {
                        "properties": {"text": {"title": "Text", "type": "string"}},
                        "required": ["text"],
                        "type": "object",
                        "title": "addArguments",
                    },
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "memo__count",
                    "description": "How many memos there are.",
                    "parameters": {"properties": {}, "type": "object", "title": "countArguments"},
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "weather__fail",
                    "description": "Always fails.",
                    "parameters": {
                        "properties": {"reason": {"title": "Reason", "type": "string"}},
                        "required": ["reason"],
                        "type": "object",
                        "title": "failArguments",
                    },
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "weather__forecast",
                    "description": "Forecast for a city.",
                    "parameters": {
                        "properties": {
                            "city": {"title": "City", "type": "string"},
                            "days": {"default": 1, "title": "Days", "type": "integer"},
                        },
                        "required": ["city"],
                        "type": "object",
                        "title": "forecastArguments",
                    },
                },
            },
        ]
    )
    assert fake.requests[2]["messages"] == snapshot(
        [
            {"role": "user", "content": "Plan my trip"},
            {
                "role": "assistant",
                "content": """\


""",
                "reasoning_content": "Need the forecast and a memo.",
                "tool_calls": [
                    {
                        "id": "call_-9904841857247764026",
                        "type": "function",
                        "function": {"name": "weather__forecast", "arguments": '{"city": "Oslo", "days": "2"}'},
                    },
                    {
                        "id": "call_-5481891911369680482",
                        "type": "function",
                        "function": {"name": "memo__add", "arguments": '{"text": "pack"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_-9904841857247764026", "content": "Oslo: sunny for 2 day(s)"},
            {"role": "tool", "tool_call_id": "call_-5481891911369680482", "content": "memo 1 saved"},
            {
                "role": "assistant",
                "content": """\


""",
                "reasoning_content": "Check the count.",
                "tool_calls": [
                    {
                        "id": "call_-2284573236628236406",
                        "type": "function",
                        "function": {"name": "memo__count", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_-2284573236628236406", "content": "1"},
        ]
    )
    assert result.usage == {
        "prompt_tokens": 300,
        "completion_tokens": 45,
        "total_tokens": 345,
        "prompt_tokens_details": {"cached_tokens": 129},
    }


async def test_tool_calls_of_one_step_run_concurrently() -> None:
    started: list[str] = []
    gate = anyio.Event()
    calls = [("weather__forecast", json.dumps({"city": city})) for city in ("Oslo", "Lima", "Pune")]
    fake = FakeGlm([Reply(tool_calls=calls), Reply(content="done")])
    async with agent_for(fake, ("weather", weather_server(started, gate))) as agent, anyio.create_task_group() as tg:
        outcome: list[Any] = []

        async def run() -> None:
            outcome.append(await agent.run(body("three cities"), agent.offer(), stream=False))

        tg.start_soon(run)
        with anyio.fail_after(5):
            while len(started) < 3:
                await anyio.wait_all_tasks_blocked()
        assert sorted(started) == ["Lima", "Oslo", "Pune"]  # all three are running before any returns
        gate.set()
    tool_messages = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == [
        "Oslo: sunny for 1 day(s)",
        "Lima: sunny for 1 day(s)",
        "Pune: sunny for 1 day(s)",
    ]


async def test_every_call_is_answered_failures_invalid_arguments_and_unknown_names_alike() -> None:
    fake = FakeGlm(
        [
            Reply(
                tool_calls=[
                    ("weather__fail", '{"reason": "storm"}'),
                    ("weather__forecast", '{"days": 2}'),
                    ("weather__forecast", "city=Oslo"),
                    ("weather__nowcast", "{}"),
                ]
            ),
            Reply(content="sorry"),
        ]
    )
    async with agent_for(fake, ("weather", weather_server())) as agent:
        await agent.run(body("go"), agent.offer(), stream=False)
    answers = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in answers] == [c["id"] for c in fake.requests[1]["messages"][1]["tool_calls"]]
    assert [m["content"] for m in answers] == snapshot(
        [
            "Error: Error executing tool fail: cannot: storm",
            "Error: invalid arguments: 'city' is required but missing. The call was not run. Call weather__forecast again with corrected arguments.",
            "Error: the arguments must be a JSON object, got 'city=Oslo'. The call was not run. Call weather__forecast again with corrected arguments.",
            "Error: there is no tool named 'weather__nowcast' (did you mean weather__forecast, weather__fail?). Available tools: weather__fail, weather__forecast.",
        ]
    )


async def test_reasoning_content_of_each_step_goes_back_with_its_tool_results() -> None:
    fake = FakeGlm(
        [
            Reply(reasoning="first thought", tool_calls=[("memo__count", "{}")]),
            Reply(reasoning="second thought", tool_calls=[("memo__count", "{}")]),
            Reply(content="two looks"),
        ],
        generation="2026",
    )
    async with agent_for(fake, ("memo", memo_adding_server())) as agent:
        await agent.run(body("count twice"), agent.offer(), stream=True)
    assistant = [m for m in fake.requests[2]["messages"] if m["role"] == "assistant"]
    assert [m["reasoning_content"] for m in assistant] == ["first thought", "second thought"]


async def test_the_step_limit_ends_the_run_saying_which_limit() -> None:
    fake = FakeGlm(lambda request: Reply(tool_calls=[("memo__count", "{}")]))
    async with agent_for(fake, ("memo", memo_adding_server()), max_steps=3) as agent:
        result = await agent.run(body("loop"), agent.offer(), stream=False)
    assert (result.finish_reason, result.stopped_by, result.steps, len(fake.requests)) == ("length", "max_steps", 3, 3)
    assert "limit max_steps=3 was reached" in result.turn.content


async def test_the_tool_call_limit_ends_the_run() -> None:
    fake = FakeGlm(lambda request: Reply(tool_calls=[("memo__count", "{}")] * 3))
    async with agent_for(fake, ("memo", memo_adding_server()), max_tool_calls=5) as agent:
        result = await agent.run(body("loop"), agent.offer(), stream=False)
    assert (result.stopped_by, result.steps) == ("max_tool_calls", 2)


async def test_the_wall_time_limit_ends_the_run() -> None:
    gate = anyio.Event()
    fake = FakeGlm([Reply(tool_calls=[("weather__forecast", '{"city": "Oslo"}')])])
    async with agent_for(fake, ("weather", weather_server(gate=gate)), max_seconds=0.2) as agent:
        result = await agent.run(body("wait"), agent.offer(), stream=False)
    assert result.stopped_by == "max_seconds" and "max_seconds=0.2" in result.turn.content


async def test_a_call_to_a_client_tool_ends_the_turn_for_the_client_to_run() -> None:
    client_tool: dict[str, Any] = {
        "type": "function",
        "function": {"name": "ask_user", "parameters": {"type": "object", "properties": {}}},
    }
    fake = FakeGlm([Reply(tool_calls=[("memo__count", "{}"), ("ask_user", '{"q": "ok?"}')])])
    async with agent_for(fake, ("memo", memo_adding_server())) as agent:
        offer = agent.offer([client_tool])
        result = await agent.run(body("ask"), offer, stream=False)
    assert result.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in result.client_calls] == [("ask_user", '{"q": "ok?"}')]
    assert [t["function"]["name"] for t in fake.requests[0]["tools"]] == ["ask_user", "memo__add", "memo__count"]


async def test_narrowing_offers_only_the_chosen_servers_and_tools() -> None:
    fake = FakeGlm([Reply(content="a"), Reply(content="b")])
    async with agent_for(fake, ("weather", weather_server()), ("memo", memo_adding_server())) as agent:
        await agent.run(body("x"), agent.offer((), ["memo"]), stream=False)
        await agent.run(body("y"), agent.offer((), None, ["weather__forecast"]), stream=False)
    assert [t["function"]["name"] for t in fake.requests[0]["tools"]] == ["memo__add", "memo__count"]
    assert [t["function"]["name"] for t in fake.requests[1]["tools"]] == ["weather__forecast"]


async def test_past_128_tools_the_offer_is_chosen_and_a_tool_not_offered_still_runs_and_joins_it() -> None:
    big = MCPServer("big")
    for index in range(140):
        big.add_tool(lambda: "x", name=f"t{index:03d}", description="A tool.", annotations=READ_ONLY)
    fake = FakeGlm([Reply(tool_calls=[("big__t139", "{}")]), Reply(content="done")])
    async with agent_for(fake, ("big", big)) as agent:
        offer = agent.offer()
        await agent.run(body("x"), offer, stream=False)
    first = [tool["function"]["name"] for tool in fake.requests[0]["tools"]]
    assert len(first) <= 128 and first[-1] == "glm__find_tools" and "big__t139" not in first
    answer = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"][0]["content"]
    assert answer == "x"
    second = [tool["function"]["name"] for tool in fake.requests[1]["tools"]]
    assert second == [*first, "big__t139"]  # appended: the earlier offer keeps its order
    assert offer.facts["candidates"] == 140 and offer.facts["promoted"] == ["big__t139"]


async def test_streamed_runs_report_deltas_and_tool_events_in_order() -> None:
    events: list[AgentEvent] = []

    async def on_event(event: AgentEvent) -> None:
        events.append(event)

    fake = FakeGlm(
        [Reply(reasoning="hmm", tool_calls=[("memo__count", "{}")]), Reply(content="zero memos")], generation="2026"
    )
    async with agent_for(fake, ("memo", memo_adding_server())) as agent:
        await agent.run(body("count"), agent.offer(), stream=True, on_event=on_event)
    seen: list[tuple[str, str]] = []
    for event in events:
        if event.kind == "tool_call":
            continue
        if seen and event.kind == seen[-1][0] == "content":  # text comes in as many deltas as reads brought it
            seen[-1] = ("content", seen[-1][1] + event.text)
        else:
            seen.append((event.kind, event.text))
    assert seen == [
        ("step", ""),
        ("offer", ""),
        ("reasoning_content", "hmm"),
        ("tool_result", "0"),
        ("step", ""),
        ("content", "zero memos"),
    ]


async def test_destructive_tools_are_refused_unless_the_config_allows_them() -> None:

    deleted: list[str] = []
    server = MCPServer("disk")

    @server.tool(annotations=ToolAnnotations(destructive_hint=True))
    def wipe(path: str) -> str:
        """Delete a folder."""
        deleted.append(path)
        return "wiped"

    for policy, expected in (("deny", []), ("allow", ["/tmp/x"])):
        deleted.clear()
        fake = FakeGlm([Reply(tool_calls=[("disk__wipe", '{"path": "/tmp/x"}')]), Reply(content="ok")])
        config = GatewayConfig(servers={"disk": inproc(server, destructive=policy)}, model=MODEL)
        async with (
            Gateway(config).running() as gateway,
            GlmClient(MODEL, transport=httpx2.ASGITransport(fake.app)).running() as model,
        ):
            agent = Agent(gateway, model, AgentLimits())
            await agent.run(body("clean up"), agent.offer(), stream=False)
        assert deleted == expected
        answer = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"][0]["content"]
        if policy == "deny":
            assert answer.startswith("Error: glm-mcp did not run disk__wipe: the tool may change or delete data")
        else:
            assert answer == "wiped"
