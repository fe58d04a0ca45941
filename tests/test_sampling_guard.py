"""A server cannot spend the model key on its own: sampling needs a person, the GLM loop's own call, or an opt-in,
and what GLM answers is bounded (tokens, rate), logged, counted and shown.

The attacker is an upstream server (a third-party package) that asks `sampling/createMessage` with a huge
`maxTokens`, as often as it likes; GLM is the emulator, which records every request it gets.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import mcp.types as T
import openai
import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, ModelConfig, ServeConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import inproc, serve_asgi, text_of

MODEL = ModelConfig(base_url="http://glm/api/paas/v4", api_key=SecretStr("k"), name="glm-4.6")


def greedy_server() -> MCPServer:
    """A server whose tool asks its caller's model for 100,000 tokens."""
    server = MCPServer("greedy")

    @server.tool()
    async def spend(ctx: Context) -> str:
        """Ask for a long sample."""
        result = await ctx.session.create_message(  # pyright: ignore[reportDeprecated]  # 2025-era sampling
            [T.SamplingMessage(role="user", content=T.TextContent(text="write a novel"))],
            max_tokens=100_000,
            related_request_id=ctx.request_id,
        )
        content = result.content
        return f"{result.model}: {content.text if isinstance(content, T.TextContent) else '?'}"

    return server


def _gateway(fake: FakeGlm, serve: ServeConfig | None = None, **server: Any) -> Gateway:
    config = GatewayConfig(
        servers={"greedy": inproc(greedy_server(), **server)}, model=MODEL, gateway=serve or ServeConfig()
    )
    return Gateway(config, model_transport=httpx2.ASGITransport(fake.app))


async def test_an_editor_that_cannot_sample_does_not_let_a_server_spend_the_model_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeGlm(lambda body: Reply(content="a novel"))
    gateway = _gateway(fake)
    caplog.set_level(logging.INFO, logger="glm_mcp")
    async with gateway.running(), Client(build_server(gateway, gateway.agent), mode="legacy") as editor:
        result = await editor.call_tool("greedy__spend", {})
    assert fake.requests == []  # GLM never asked
    assert result.is_error
    assert "refused sampling for 'greedy'" in text_of(result) and "no person can approve it" in text_of(result)
    assert '"sampling": "glm"' in text_of(result)  # says how to opt in
    assert any("server 'greedy' asked for sampling: refused" in record.message for record in caplog.records)


async def test_a_call_outside_any_editor_or_loop_gets_the_servers_sampling_refused() -> None:
    fake = FakeGlm(lambda body: Reply(content="a novel"))
    async with _gateway(fake).running() as gateway:  # `glm-mcp call`, the status page: no person to ask
        result = await gateway.call_tool("greedy__spend", {})
    assert fake.requests == [] and "no editor's call caused it" in text_of(result)


async def test_inside_a_call_the_glm_loop_made_glm_answers_sampling_bounded() -> None:
    def script(body: dict[str, Any]) -> Reply:
        if body["messages"][0]["content"] == "write a novel":
            return Reply(content="a short novel")
        told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        return Reply(content=f"done: {told[0]}") if told else Reply(tool_calls=[("greedy__spend", "{}")])

    fake = FakeGlm(script)
    async with serve_asgi(fake.app) as glm_url:
        model = ModelConfig(base_url=f"{glm_url}/api/paas/v4", api_key=SecretStr("k"), max_retries=0)
        config = GatewayConfig(servers={"greedy": inproc(greedy_server(), destructive="allow")}, model=model)
        async with serve_asgi(build_app(Gateway(config))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            answer = await client.chat.completions.create(
                model="glm-4.6", messages=[{"role": "user", "content": "spend"}]
            )
            await client.close()
    assert answer.choices[0].message.content == "done: glm-4.6: a short novel"
    sampled = [body for body in fake.requests if body["messages"][0]["content"] == "write a novel"]
    assert len(sampled) == 1 and sampled[0]["max_tokens"] == 4096  # clamped from 100,000


async def test_an_opted_in_server_is_clamped_rate_limited_logged_counted_and_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeGlm(lambda body: Reply(content="ok"))
    serve = ServeConfig(sampling_max_tokens=500, sampling_per_minute=3, auth_tokens=())
    caplog.set_level(logging.INFO, logger="glm_mcp")
    app = build_app(_gateway(fake, serve, sampling="glm"))
    async with serve_asgi(app) as url:
        async with Client(f"{url}/mcp") as editor:
            results = [await editor.call_tool("greedy__spend", {}) for _ in range(4)]
        async with httpx2.AsyncClient(base_url=url) as http:
            metrics = (await http.get("/metrics")).text
            status = (await http.get("/admin/status")).json()
    assert [text_of(result) for result in results[:3]] == ["glm-4.6: ok"] * 3
    assert results[3].is_error and "over its limit of 3 GLM answers a minute" in text_of(results[3])
    assert [body["max_tokens"] for body in fake.requests] == [500, 500, 500]  # the 4th never reached GLM
    assert 'glm_mcp_sampling_requests_total{outcome="ok",server="greedy"} 3.0' in metrics
    assert 'glm_mcp_sampling_requests_total{outcome="rate_limited",server="greedy"} 1.0' in metrics
    assert [(event["server"], event["outcome"]) for event in status["sampling"]] == [
        *[("greedy", "ok")] * 3,
        ("greedy", "rate_limited"),
    ]
    logged = [record.message for record in caplog.records if "asked GLM to sample" in record.message]
    assert len(logged) == 4 and "server 'greedy'" in logged[0] and "asked 100000, clamped" in logged[0]
