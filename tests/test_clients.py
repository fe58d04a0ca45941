"""OpenAI clients as people use them, against the gateway over real HTTP: the requests they really send reach GLM
in the shape GLM takes. GLM is the emulator, which records what it was sent."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, ModelConfig, StdioUpstreamConfig, default_config_data
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import ROOT, gateway_before_glm, glm_mcp_serve, glm_recalling, serve_asgi

TOKEN = "client-token-" + "c" * 32


@pytest.mark.parametrize("api", ["chat_completions", "responses"])
async def test_an_openai_agents_sdk_agent_runs_on_the_gateway_with_its_mcp_as_its_server(api: str) -> None:
    """On /v1/chat/completions and on its default model, /v1/responses, streamed and not."""
    from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, set_tracing_disabled
    from agents.mcp import MCPServerStreamableHttp

    set_tracing_disabled(True)  # no export to OpenAI's servers from a test
    fake = FakeGlm(glm_recalling)
    async with gateway_before_glm(fake.app, TOKEN) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        model = (
            OpenAIChatCompletionsModel(model="glm-4.6", openai_client=client)
            if api == "chat_completions"
            else OpenAIResponsesModel(model="glm-4.6", openai_client=client)
        )
        params: Any = {"url": f"{url}/mcp", "headers": {"Authorization": f"Bearer {TOKEN}"}}
        async with MCPServerStreamableHttp(params, name="glm-mcp") as gateway_mcp:
            agent = Agent(
                name="planner", instructions="Answer from what the tools say.", model=model, mcp_servers=[gateway_mcp]
            )
            result = await Runner.run(agent, "When is the launch?")
            streamed = Runner.run_streamed(agent, "When is the launch?")
            async for _ in streamed.stream_events():
                pass
        await client.close()
    assert result.final_output == streamed.final_output == "The note says: launch: the launch is on Friday"
    # The Agents SDK ran the MCP tool itself and sent its output back as content parts; GLM got strings only.
    assert all(isinstance(message.get("content"), str | None) for message in fake.requests[-1]["messages"])


@pytest.mark.parametrize("role", ["system", "developer", "user", "assistant", "tool"])
async def test_content_given_as_text_parts_reaches_glm_as_a_string_in_any_role(role: str) -> None:
    fake = FakeGlm(lambda body: Reply(content="fine"))
    parts = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "start"}]
    if role == "tool":
        call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        messages += [{"role": "assistant", "content": None, "tool_calls": [call]}]
        messages += [{"role": "tool", "tool_call_id": "call_1", "content": parts}]
    else:
        messages += [{"role": role, "content": parts}]
    if role != "user":
        messages += [{"role": "user", "content": "go on"}]
    lookup = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"), max_retries=0)
        async with serve_asgi(build_app(Gateway(GatewayConfig(servers={}, model=model)))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            answer = await client.chat.completions.create(model="glm-4.6", messages=messages, tools=[lookup])  # pyright: ignore[reportArgumentType]
            await client.close()
    assert answer.choices[0].message.content == "fine"
    sent = fake.requests[0]["messages"]
    assert "first\nsecond" in [m["content"] for m in sent]
    assert "developer" not in [m["role"] for m in sent]  # GLM knows system, not developer


async def test_a_part_glm_cannot_read_is_a_400_naming_the_message_and_the_part() -> None:
    fake = FakeGlm(lambda body: Reply(content="never"))
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]}]
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"), max_retries=0)
        async with serve_asgi(build_app(Gateway(GatewayConfig(servers={}, model=model)))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            with pytest.raises(openai.BadRequestError) as refused:
                await client.chat.completions.create(model="glm-4.6", messages=messages)
            await client.close()
    assert "messages[0].content[1] is a 'image_url' part" in str(refused.value) and fake.requests == []


async def test_a_model_base_url_answering_404_is_named_with_what_to_check() -> None:
    fake = FakeGlm(lambda body: Reply(content="never"))
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=f"{glm}/wrong/path", api_key=SecretStr("k"), max_retries=0)
        async with serve_asgi(build_app(Gateway(GatewayConfig(servers={}, model=model)))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            with pytest.raises(openai.APIStatusError) as failed:
                await client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "hi"}])
            await client.close()
    message = str(failed.value)
    assert f"{glm}/wrong/path/chat/completions answered 404" in message and "check model.base_url" in message


@pytest.mark.slow  # a real server process crashes and restarts
async def test_a_chat_loop_call_to_a_restarting_server_waits_for_it() -> None:
    def script(body: dict[str, Any]) -> Reply:
        told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if not told:
            return Reply(tool_calls=[("proc__crash", "{}")])
        if len(told) == 1:
            return Reply(tool_calls=[("proc__echo", '{"text": "back again"}')])
        return Reply(content=f"GLM read: {told[-1]}")

    fake = FakeGlm(script)
    server = StdioUpstreamConfig(
        command=sys.executable, args=(str(ROOT / "tests" / "fixture_servers" / "sdk_server.py"),)
    )
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"), max_retries=0)
        config = GatewayConfig(servers={"proc": server}, model=model)
        async with serve_asgi(build_app(Gateway(config))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            answer = await client.chat.completions.create(
                model="glm-4.6", messages=[{"role": "user", "content": "crash it, then echo"}]
            )
            await client.close()
    assert answer.choices[0].message.content == "GLM read: back again"


@pytest.mark.slow  # a real serve, and the snippet run as a user runs it
async def test_the_readme_openai_snippet_runs_as_written_after_quick_start(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Using it from an OpenAI client", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert ".venv/bin/pip install openai" in section and ".venv/bin/python ask.py" in section
    venv_glm_mcp = ROOT / ".venv" / "bin" / "glm-mcp"
    if not venv_glm_mcp.exists():
        pytest.skip("the snippet names .venv/bin/glm-mcp, which the README's install commands create")
    fake = FakeGlm(
        lambda body: (
            Reply(content="It is 09:00 in Tokyo; noted.")
            if [m for m in body["messages"] if m["role"] == "tool"]
            else Reply(tool_calls=[("clock__now", '{"timezone": "Asia/Tokyo"}')])
        )
    )
    async with serve_asgi(fake.app) as glm:
        config = {"model": {"base_url": glm, "api_key": "k"}}  # the bundled servers, as quick start 1 runs them
        async with glm_mcp_serve({**default_config_data(tmp_path / "data"), **config}, tmp_path) as gateway:
            port = gateway.url.rsplit(":", 1)[1]
            (tmp_path / "ask.py").write_text(snippet.replace("127.0.0.1:8765", f"127.0.0.1:{port}"))
            result = await anyio.run_process(
                [sys.executable, str(tmp_path / "ask.py")],
                cwd=ROOT,
                env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
                check=False,
            )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "It is 09:00 in Tokyo; noted."
