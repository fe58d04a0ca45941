"""Hundreds of tools, a small offer: the offer chosen for the conversation, glm__find_tools, search mode."""

from __future__ import annotations

from typing import Any

import httpx2
import mcp.types as T
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import SecretStr

from glm_mcp.agent.loop import Agent
from glm_mcp.agent.results import AgentLimits
from glm_mcp.catalog.search import ToolIndex, tool_text
from glm_mcp.config import GatewayConfig, ModelConfig, ServeConfig, ToolFilterConfig, UpstreamConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from glm_mcp.model.client import GlmClient
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import ROOT, inproc

MODEL = ModelConfig(base_url="http://glm/api/paas/v4", api_key=SecretStr("k"), name="glm-4.6")
READ_ONLY = ToolAnnotations(read_only_hint=True)
TOPICS = [
    ("weather", "forecast", "Weather forecast for a city: temperature, rain and wind for the next days."),
    ("calendar", "create_event", "Create a calendar event with a title, start time and attendees."),
    ("mail", "send_email", "Send an email message to recipients with a subject and body."),
    ("issues", "create_issue", "Open a new issue in a repository's bug tracker with a title and description."),
    ("music", "play_song", "Play a song or playlist on the speakers."),
    ("maps", "directions", "Driving or walking directions between two addresses."),
    ("stocks", "quote", "The latest stock price quote for a ticker symbol."),
    ("translate", "translate_text", "Translate text from one language into another."),
]


def big_catalog() -> MCPServer:
    """8 real-sounding tools among 192 generic ones: more than GLM's 128."""
    server = MCPServer("big")

    def answer(text: str) -> Any:
        return lambda: text

    for topic, name, description in TOPICS:
        server.add_tool(answer(f"{name} done"), name=f"{topic}_{name}", description=description, annotations=READ_ONLY)
    for index in range(192):
        server.add_tool(
            lambda: "x",
            name=f"record_{index:03d}",
            description=f"Read inventory record number {index}.",
            annotations=READ_ONLY,
        )
    return server


def test_the_index_ranks_the_tool_a_request_needs_first() -> None:
    texts = [
        (f"big__{topic}_{name}", tool_text(f"big__{topic}_{name}", f"{topic}_{name}", None, description, {}))
        for topic, name, description in TOPICS
    ]
    index = ToolIndex(texts)
    assert index.search("will it rain in Oslo tomorrow?", 3)[0] == "big__weather_forecast"
    assert index.search("file a bug about the broken login page", 3)[0] == "big__issues_create_issue"
    assert index.search("how do I drive to the airport", 3)[0] == "big__maps_directions"
    assert index.rank_for(["play some jazz", "translate this into German"], 1) == ["big__translate_translate_text"]


async def test_past_the_cap_a_request_is_offered_what_it_needs_and_find_tools_brings_in_a_missed_one() -> None:
    def script(body: dict[str, Any]) -> Reply:
        tools = [tool["function"]["name"] for tool in body["tools"]]
        if "big__stocks_quote" not in tools:
            return Reply(tool_calls=[("glm__find_tools", '{"query": "stock price for a ticker"}')])
        if not [m for m in body["messages"] if m["role"] == "tool" and m["content"] == "quote done"]:
            return Reply(tool_calls=[("big__stocks_quote", "{}")])
        return Reply(content="Rain in Oslo; AAPL quoted.")

    fake = FakeGlm(script)
    config = GatewayConfig(
        servers={"big": inproc(big_catalog())}, model=MODEL, gateway=ServeConfig(max_offered_tools=40)
    )
    async with (
        Gateway(config).running() as gateway,
        GlmClient(MODEL, transport=httpx2.ASGITransport(fake.app)).running() as model,
    ):
        agent = Agent(gateway, model, AgentLimits())
        body = {
            "model": "glm-4.6",
            "messages": [{"role": "user", "content": "Will it rain in Oslo tomorrow? Then do what my note says."}],
        }
        offer = agent.offer(messages=body["messages"])
        first = [tool["function"]["name"] for tool in offer.definitions]
        result = await agent.run(body, offer, stream=False)
    assert len(first) <= 40 and first[-1] == "glm__find_tools"
    assert "big__weather_forecast" in first and "big__stocks_quote" not in first
    assert offer.facts["candidates"] == 200 and offer.facts["left_out"]["budget"] == 200 - len(first) + 1
    assert result.turn.content.strip() == "Rain in Oslo; AAPL quoted."
    second = [tool["function"]["name"] for tool in fake.requests[1]["tools"]]
    assert second[: len(first)] == first and "big__stocks_quote" in second[len(first) :]
    found = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"][0]["content"]
    assert found.startswith("Tools found:") and "big__stocks_quote" in found


async def test_pinned_tools_are_always_offered_and_refused_tools_take_no_slot() -> None:
    server = big_catalog()

    @server.tool()
    def wipe_everything() -> str:
        """Unannotated: destructive."""
        return "gone"

    upstream = inproc(server, tools=ToolFilterConfig(pin=("record_191",)))
    config = GatewayConfig(servers={"big": upstream}, model=MODEL, gateway=ServeConfig(max_offered_tools=20))
    async with Gateway(config).running() as gateway:
        agent = Agent(gateway, GlmClient(MODEL), AgentLimits())
        offer = agent.offer(messages=[{"role": "user", "content": "translate hello"}])
    names = [tool["function"]["name"] for tool in offer.definitions]
    assert names[0] == "big__record_191" and "big__translate_translate_text" in names
    assert "big__wipe_everything" not in names and offer.facts["left_out"]["policy"] == 1


async def test_a_token_budget_under_the_count_limit_chooses_the_offer_too() -> None:
    server = MCPServer("few")
    for topic, name, description in TOPICS:
        server.add_tool(lambda: "x", name=f"{topic}_{name}", description=description, annotations=READ_ONLY)
    messages = [{"role": "user", "content": "will it rain in Oslo?"}]
    offers: list[list[str]] = []
    for budget in (None, 200):
        config = GatewayConfig(
            servers={"few": inproc(server)}, model=MODEL, gateway=ServeConfig(max_tool_tokens=budget)
        )
        async with Gateway(config).running() as gateway:
            offer = Agent(gateway, GlmClient(MODEL), AgentLimits()).offer(messages=messages)
        offers.append([tool["function"]["name"] for tool in offer.definitions])
    everything, within = offers
    assert len(everything) == len(TOPICS) and "glm__find_tools" not in everything  # 8 tools fit 128 and no budget
    assert within[0] == "few__weather_forecast" and within[-1] == "glm__find_tools"
    assert len(within) < len(everything)


async def test_an_editor_in_search_mode_lists_three_tools_and_can_call_any_of_the_catalog() -> None:
    config = GatewayConfig(servers={"big": inproc(big_catalog())}, model=MODEL, gateway=ServeConfig(mcp_tools="search"))
    async with Gateway(config).running() as gateway:
        agent = Agent(gateway, GlmClient(MODEL), AgentLimits())
        async with Client(build_server(gateway, agent), mode="legacy") as editor:
            listed = [tool.name for tool in (await editor.list_tools()).tools]
            found = await editor.call_tool("glm__find_tools", {"query": "directions to the station"})
            called = await editor.call_tool("glm__call_tool", {"name": "big__maps_directions", "arguments": {}})
    assert listed == ["glm__agent", "glm__find_tools", "glm__call_tool"]
    assert (found.structured_content or {})["tools"][0]["name"] == "big__maps_directions"
    block = called.content[0]
    assert isinstance(block, T.TextContent) and block.text == "directions done"


def test_the_discovery_benchmark_meets_its_recall_and_token_targets_and_the_readme_says_so() -> None:
    from bench.discovery import measure

    results = measure()
    assert results["tools"] >= 500 and results["requests"] >= 200
    assert results["recall"]["@32"] >= 0.95
    assert results["tokens"]["ratio"] <= 0.15
    readme = (ROOT / "README.md").read_text()
    assert f"| recall@32 | {results['recall']['@32']:.3f} |" in readme


def _numbered(name: str, count: int, destructive: int = 0) -> MCPServer:
    server = MCPServer(name)
    for index in range(count):
        hints = None if index < destructive else READ_ONLY  # unannotated: destructive by the spec's defaults
        server.add_tool(
            lambda: "x", name=f"item_{index:03d}", description=f"Item {index} of {name}.", annotations=hints
        )
    return server


async def test_when_the_tools_the_policy_allows_fit_all_of_them_are_offered() -> None:
    config = GatewayConfig(servers={"shop": inproc(_numbered("shop", 150, destructive=40))}, model=MODEL)
    async with Gateway(config).running() as gateway:
        offer = Agent(gateway, GlmClient(MODEL), AgentLimits()).offer(messages=[{"role": "user", "content": "hi"}])
    names = [tool["function"]["name"] for tool in offer.definitions]
    assert len(names) == 110 and "glm__find_tools" not in names  # the 110 the loop would run: all of them
    assert offer.facts["left_out"] == {"policy": 40}


async def test_past_the_limit_free_slots_are_filled_round_robin_by_server_not_left_empty() -> None:
    servers: dict[str, UpstreamConfig] = {name: inproc(_numbered(name, 100)) for name in ("alpha", "beta", "gamma")}
    config = GatewayConfig(servers=servers, model=MODEL)
    offers: list[list[str]] = []
    async with Gateway(config).running() as gateway:
        agent = Agent(gateway, GlmClient(MODEL), AgentLimits())
        for said in ("show me item 7 of beta", "what will the weather be like"):
            offer = agent.offer(messages=[{"role": "user", "content": said}])
            offers.append([tool["function"]["name"] for tool in offer.definitions])
    relevant, unrelated = offers
    assert relevant[0].startswith("beta__") and len(relevant) >= 110  # the most relevant first, then more
    # Nothing in the catalog matches: the slots are still filled, each server in turn.
    assert unrelated[-1] == "glm__find_tools" and len(unrelated) >= 110
    per_server = [sum(name.startswith(f"{server}__") for name in unrelated) for server in servers]
    assert max(per_server) - min(per_server) <= 1
