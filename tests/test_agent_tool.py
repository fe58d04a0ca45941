"""`glm__agent` on the MCP face, and `glm-mcp chat` / `glm-mcp doctor` on the command line, with the emulator as GLM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx2
import mcp.types as T
import pytest
from mcp import Client
from pydantic import SecretStr

from glm_mcp.agent.loop import Agent
from glm_mcp.agent.results import AgentLimits
from glm_mcp.config import GatewayConfig, ModelConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from glm_mcp.model.client import GlmClient
from tests.fakes.fake_glm import Failure, FakeGlm, Reply
from tests.helpers import ROOT, inproc, memo_adding_server, run_cli, serve_asgi, weather_server

MODEL = ModelConfig(base_url="http://glm/api/paas/v4", api_key=SecretStr("k"), name="glm-4.6")


async def test_an_editor_calling_glm_agent_gets_the_answer_with_progress_per_tool_call() -> None:
    fake = FakeGlm(
        [
            Reply(tool_calls=[("weather__forecast", '{"city": "Rome"}'), ("memo__add", '{"text": "Rome"}')]),
            Reply(content="Rome is sunny and noted."),
        ]
    )
    config = GatewayConfig(
        servers={"weather": inproc(weather_server()), "memo": inproc(memo_adding_server())}, model=MODEL
    )
    async with (
        Gateway(config).running() as gateway,
        GlmClient(MODEL, transport=httpx2.ASGITransport(fake.app)).running() as model,
    ):
        agent = Agent(gateway, model, AgentLimits())
        async with Client(build_server(gateway, agent), mode="legacy") as editor:
            tools = (await editor.list_tools()).tools
            assert tools[0].name == "glm__agent"
            notes: list[str | None] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                notes.append(message)

            result = await editor.call_tool(
                "glm__agent", {"task": "Weather in Rome, and note it"}, progress_callback=on_progress
            )
    assert not result.is_error
    assert result.content == [T.TextContent(text="Rome is sunny and noted.")]
    assert sorted(str(message) for message in notes) == ["calling memo__add", "calling weather__forecast"]
    assert fake.requests[0]["messages"] == [{"role": "user", "content": "Weather in Rome, and note it"}]
    assert "glm__agent" not in [t["function"]["name"] for t in fake.requests[0]["tools"]]


async def test_glm_agent_reports_a_model_failure_as_an_error_result() -> None:
    fake = FakeGlm([Failure(401, "1002", "Invalid key")])
    config = GatewayConfig(servers={"memo": inproc(memo_adding_server())}, model=MODEL)
    async with (
        Gateway(config).running() as gateway,
        GlmClient(MODEL, transport=httpx2.ASGITransport(fake.app)).running() as model,
    ):
        async with Client(build_server(gateway, Agent(gateway, model, AgentLimits())), mode="legacy") as editor:
            result = await editor.call_tool("glm__agent", {"task": "hi"})
    assert result.is_error
    text = result.content[0]
    assert isinstance(text, T.TextContent) and text.text.startswith("GLM failed: Invalid key (the API key is invalid")


def _cli_config(tmp_path: Path, glm_url: str, **model: object) -> Path:
    fixture = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")
    raw = str(ROOT / "tests" / "fixture_servers" / "raw_server.py")
    config = {
        "mcpServers": {
            "proc": {"command": sys.executable, "args": [fixture]},
            "raw": {"command": sys.executable, "args": [raw]},
        },
        "model": {"base_url": f"{glm_url}/api/paas/v4", "api_key": "${TEST_GLM_KEY:-k}", "name": "glm-4.6", **model},
    }
    path = tmp_path / "glm-mcp.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.slow
async def test_chat_prints_each_tool_step_as_it_happens_and_the_answer(tmp_path: Path) -> None:
    fake = FakeGlm([Reply(tool_calls=[("proc__echo", '{"text": "ping"}')]), Reply(content="The echo said ping.")])
    async with serve_asgi(fake.app) as url:
        code, out, err = await run_cli("chat", "Echo ping", "--config", str(_cli_config(tmp_path, url)))
    assert code == 0, err
    assert out == "The echo said ping.\n"
    assert '-> proc__echo {"text": "ping"}' in err
    assert "<- proc__echo: ping" in err


@pytest.mark.slow
async def test_doctor_lists_what_is_wrong_and_how_to_fix_it(tmp_path: Path) -> None:
    fake = FakeGlm([Failure(400, "1211", "Unknown Model")])
    async with serve_asgi(fake.app) as url:
        code, out, _ = await run_cli("doctor", "--config", str(_cli_config(tmp_path, url, name="glm-9")))
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0].startswith("config: ")
    assert any(line.startswith("ok    server proc") for line in lines)
    assert any(
        line.startswith("warn  tool raw/bad_type")
        and 'must have "type": "object"' in line
        and '"deny": ["bad_type"]' in line
        for line in lines
    )
    assert any(line.startswith("ok    tool count") for line in lines)
    endpoint = [line for line in lines if "model endpoint" in line]
    assert (
        endpoint
        and endpoint[0].startswith("FAIL")
        and "check model.name" in endpoint[0]
        and "(code 1211)" in endpoint[0]
    )
    assert fake.requests[0]["max_tokens"] == 1
