"""The faulty-call corpus through the real loop: an OpenAI client → `/v1/chat/completions` over loopback HTTP →
the GLM emulator sending each faulty call → real MCP servers (with the real tool schemas) receiving them.

Each case is scored by what the server received and what the model was told: executed exactly as intended,
answered with an error, corrupted (run with other values, or run when it must not be), or dropped (no
answer). Corrupted and dropped must be 0; every recoverable call must be executed; the README shows the score.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import mcp.types as T
import openai
import pytest
from mcp.server import Server, ServerRequestContext
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, ModelConfig, UpstreamConfig
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.fidelity_corpus import SCHEMAS, Case, cases
from tests.helpers import ROOT, inproc, serve_asgi

CASES = cases()
BY_ID = {case.id: case for case in CASES}


def recording_server(name: str, schemas: dict[str, Any], received: list[tuple[str, dict[str, Any]]]) -> Server[Any]:
    """A server listing `schemas` as its tools and recording every call it receives."""

    async def list_tools(ctx: ServerRequestContext[Any], params: object) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[T.Tool(name=tool, input_schema=schema) for tool, schema in schemas.items()])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        received.append((f"{name}__{params.name}", dict(params.arguments or {})))
        return T.CallToolResult(content=[T.TextContent(text="done")])

    return Server[Any](name, on_list_tools=list_tools, on_call_tool=call_tool)


def script(body: dict[str, Any]) -> Reply:
    last = body["messages"][-1]
    if last["role"] == "tool":
        return Reply(content="Finished.")
    case = BY_ID[last["content"]]
    leaked = "<tool_call>" in case.content + case.reasoning
    calls = [] if leaked else [(case.name or case.tool, case.arguments)]
    return Reply(content=case.content, reasoning=case.reasoning, tool_calls=calls, finish_reason=case.finish_reason)


@asynccontextmanager
async def corpus_stack(
    received: list[tuple[str, dict[str, Any]]],
) -> AsyncGenerator[tuple[FakeGlm, openai.AsyncOpenAI], None]:
    fake = FakeGlm(script)
    servers: dict[str, UpstreamConfig] = {
        name: inproc(recording_server(name, entry["tools"], received), destructive="allow")
        for name, entry in SCHEMAS.items()
        if not name.startswith("_")
    }
    async with serve_asgi(fake.app) as glm_url:
        model = ModelConfig(base_url=f"{glm_url}/api/paas/v4", api_key=SecretStr("k"), name="glm-4.6", max_retries=0)
        async with serve_asgi(build_app(Gateway(GatewayConfig(servers=servers, model=model)))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            try:
                yield fake, client
            finally:
                await client.close()


def score(case: Case, received: list[tuple[str, dict[str, Any]]], requests: list[dict[str, Any]]) -> str:
    if received:
        return "executed" if case.expect is not None and received == [(case.tool, case.expect)] else "corrupted"
    if len(requests) < 2:
        return "dropped"
    answers = [m for m in requests[1]["messages"] if m["role"] == "tool"]
    if len(answers) == 1 and answers[0]["content"].startswith("Error:"):
        return "error"
    return "dropped"


async def run_corpus(streamed: bool) -> tuple[Counter[str], dict[str, str]]:
    received: list[tuple[str, dict[str, Any]]] = []
    outcomes: dict[str, str] = {}
    async with corpus_stack(received) as (fake, client):
        for case in CASES:
            received.clear()
            fake.requests.clear()
            messages: Any = [{"role": "user", "content": case.id}]
            if streamed:
                stream = await client.chat.completions.create(model="glm-4.6", messages=messages, stream=True)
                text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
            else:
                completion = await client.chat.completions.create(model="glm-4.6", messages=messages)
                text = completion.choices[0].message.content or ""
            outcomes[case.id] = score(case, received, fake.requests)
            assert "<tool_call>" not in text, case.id
            for request in fake.requests[1:]:
                for message in request["messages"]:
                    calls: list[dict[str, Any]] = message.get("tool_calls") or []
                    for call in calls:
                        json.loads(call["function"]["arguments"])  # what GLM is sent back must be valid JSON
    return Counter(outcomes.values()), outcomes


def expected_outcome(case: Case) -> str:
    return "error" if case.expect is None else "executed"


async def test_no_faulty_call_is_corrupted_or_dropped_and_every_recoverable_one_runs_as_intended() -> None:
    totals, outcomes = await run_corpus(streamed=False)
    wrong = {case.id: outcomes[case.id] for case in CASES if outcomes[case.id] != expected_outcome(case)}
    assert wrong == {}
    assert totals["corrupted"] == 0 and totals["dropped"] == 0
    assert len(CASES) >= 150
    line = (
        f"{len(CASES)} faulty calls: {totals['executed']} executed exactly as intended, "
        f"{totals['error']} answered with an error naming the problem, 0 corrupted, 0 dropped"
    )
    readme = (ROOT / "README.md").read_text()
    assert line in re.sub(r"\s+", " ", readme), f"the README should say: {line}"


@pytest.mark.slow  # the whole corpus a second time, streamed
async def test_the_corpus_scores_the_same_when_the_answers_are_streamed() -> None:
    streamed, _ = await run_corpus(streamed=True)
    plain, _ = await run_corpus(streamed=False)
    assert streamed == plain
