"""`/v1/responses` with the `openai` SDK's `responses` calls and an OpenAI Agents SDK agent on its default
(Responses) model: GLM (the emulator) with the gateway's MCP tools behind the Responses API."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import SecretStr

from glm_mcp.app import build_app
from glm_mcp.config import GatewayConfig, ModelConfig, ServeConfig
from glm_mcp.gateway import Gateway
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import inproc, serve_asgi

TOKEN = "responses-face-" + "r" * 32
OTHER = "responses-other-" + "o" * 32


def memo_server() -> MCPServer:
    server = MCPServer("memo")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def recall(topic: str) -> str:
        """Recall what is known about a topic."""
        return f"{topic}: the launch is on Friday"

    return server


@asynccontextmanager
async def gateway_url(fake: FakeGlm) -> AsyncGenerator[str, None]:
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"), max_retries=0)
        serve = ServeConfig(auth_tokens=(SecretStr(TOKEN), SecretStr(OTHER)))
        config = GatewayConfig(servers={"memo": inproc(memo_server())}, model=model, gateway=serve)
        async with serve_asgi(build_app(Gateway(config))) as url:
            yield url


def _uses_the_gateway_tool(body: dict[str, Any]) -> Reply:
    told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if told:
        return Reply(content=f"The note says: {told[-1]}", reasoning="The tool answered.")
    last = body["messages"][-1]["content"]
    if "again" in str(last):
        return Reply(content=f"You asked {len([m for m in body['messages'] if m['role'] == 'user'])} questions.")
    return Reply(tool_calls=[("memo__recall", '{"topic": "launch"}')], reasoning="I should look it up.")


async def test_responses_create_and_stream_answer_with_a_gateway_tool() -> None:
    fake = FakeGlm(_uses_the_gateway_tool)
    async with gateway_url(fake) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        response = await client.responses.create(
            model="glm-4.6", instructions="Answer from the notes.", input="When is the launch?", max_output_tokens=300
        )
        async with client.responses.stream(model="glm-4.6", input="When is the launch?") as stream:
            deltas = [event.delta async for event in stream if event.type == "response.output_text.delta"]
            final = await stream.get_final_response()
        await client.close()
    assert response.output_text == "The note says: launch: the launch is on Friday"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.usage is not None and response.usage.input_tokens > 0
    assert fake.requests[0]["messages"][0] == {"role": "system", "content": "Answer from the notes."}
    assert fake.requests[0]["max_tokens"] == 300
    assert "".join(deltas) == final.output_text == "The note says: launch: the launch is on Friday"
    assert final.status == "completed"


async def test_a_client_function_comes_back_as_a_function_call_and_previous_response_id_goes_on() -> None:
    def script(body: dict[str, Any]) -> Reply:
        told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if told:
            return Reply(content=f"It is {told[-1]} outside.")
        return Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')])

    fake = FakeGlm(script)
    weather: Any = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    async with gateway_url(fake) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        first = await client.responses.create(model="glm-4.6", input="Weather in Oslo?", tools=[weather])
        call = next(item for item in first.output if item.type == "function_call")
        output: Any = [{"type": "function_call_output", "call_id": call.call_id, "output": "rainy"}]
        second = await client.responses.create(
            model="glm-4.6", previous_response_id=first.id, input=output, tools=[weather]
        )
        stranger = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=OTHER, max_retries=0)
        with pytest.raises(openai.BadRequestError) as foreign:
            await stranger.responses.create(model="glm-4.6", previous_response_id=first.id, input=output)
        await client.close()
        await stranger.close()
    assert (call.name, call.arguments) == ("get_weather", '{"city": "Oslo"}')
    assert second.output_text == "It is rainy outside."
    sent = fake.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]  # the stored turn, then the new input
    assert "not a stored response of yours" in str(foreign.value)


async def test_an_agents_sdk_agent_on_its_default_responses_model_uses_the_gateway() -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled
    from agents.mcp import MCPServerStreamableHttp

    set_tracing_disabled(True)
    fake = FakeGlm(_uses_the_gateway_tool)
    async with gateway_url(fake) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        params: Any = {"url": f"{url}/mcp", "headers": {"Authorization": f"Bearer {TOKEN}"}}
        async with MCPServerStreamableHttp(params, name="glm-mcp") as gateway_mcp:
            agent = Agent(
                name="planner",
                instructions="Answer from what the tools say.",
                model=OpenAIResponsesModel(model="glm-4.6", openai_client=client),
                mcp_servers=[gateway_mcp],
            )
            result = await Runner.run(agent, "When is the launch?")
            streamed = Runner.run_streamed(agent, "When is the launch?")
            async for _ in streamed.stream_events():
                pass
        await client.close()
    assert result.final_output == "The note says: launch: the launch is on Friday"
    assert streamed.final_output == "The note says: launch: the launch is on Friday"
