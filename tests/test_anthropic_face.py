"""`/v1/messages` with the official `anthropic` SDK, as its documentation uses it: GLM (the emulator) with the
gateway's MCP tools behind Anthropic's API, streaming and not, a client tool round trip, errors in its shape."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import anthropic
import anyio
import httpx2
import openai
import pytest

from tests.fakes.fake_glm import Failure, FakeGlm, Reply
from tests.helpers import (
    WEATHER_SCHEMA,
    gateway_before_glm,
    glm_asking_weather,
    glm_greeting,
    glm_recalling,
    greeting_server,
    inproc,
)

TOKEN = "anthropic-face-" + "a" * 32


@asynccontextmanager
async def messages_client(fake: FakeGlm) -> AsyncGenerator[tuple[anthropic.AsyncAnthropic, str], None]:
    async with gateway_before_glm(fake.app, TOKEN) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=TOKEN, max_retries=0)
        try:
            yield client, url
        finally:
            await client.close()


async def test_a_message_is_answered_by_glm_using_a_gateway_tool() -> None:
    fake = FakeGlm(glm_recalling)
    async with messages_client(fake) as (client, _):
        message = await client.messages.create(
            model="glm-4.6",
            max_tokens=1024,
            system="Answer from the notes.",
            messages=[{"role": "user", "content": "When is the launch?"}],
        )
    assert message.type == "message" and message.role == "assistant" and message.stop_reason == "end_turn"
    texts = [block.text for block in message.content if block.type == "text"]
    assert texts == ["The note says: launch: the launch is on Friday"]
    assert [block.type for block in message.content][0] == "thinking"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = fake.requests[0]
    assert sent["messages"][0] == {"role": "system", "content": "Answer from the notes."}
    assert sent["max_tokens"] == 1024 and "memo__recall" in [tool["function"]["name"] for tool in sent["tools"]]


async def test_the_stream_helper_reads_text_as_it_comes_and_the_final_message() -> None:
    fake = FakeGlm(glm_recalling)
    async with messages_client(fake) as (client, _):
        async with client.messages.stream(
            model="glm-4.6", max_tokens=512, messages=[{"role": "user", "content": "When is the launch?"}]
        ) as stream:
            pieces = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
    assert "".join(pieces) == "The note says: launch: the launch is on Friday"
    assert final.stop_reason == "end_turn"
    assert [block.type for block in final.content] == ["thinking", "text"]
    thinking = final.content[0]
    assert thinking.type == "thinking" and "look it up" in thinking.thinking and "tool answered" in thinking.thinking


async def test_a_client_tool_comes_back_as_tool_use_and_its_result_goes_on() -> None:
    fake = FakeGlm(glm_asking_weather)
    weather: Any = {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": WEATHER_SCHEMA,
    }
    question: Any = {"role": "user", "content": "Weather in Oslo?"}
    async with messages_client(fake) as (client, _):
        first = await client.messages.create(
            model="glm-4.6",
            max_tokens=256,
            tools=[weather],
            messages=[question],
        )
        use = next(block for block in first.content if block.type == "tool_use")
        answer: Any = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "rainy"}]}
        second = await client.messages.create(
            model="glm-4.6",
            max_tokens=256,
            tools=[weather],
            messages=[question, {"role": "assistant", "content": first.content}, answer],
        )
    assert first.stop_reason == "tool_use" and (use.name, use.input) == ("get_weather", {"city": "Oslo"})
    assert [block.text for block in second.content if block.type == "text"] == ["It is rainy outside."]
    tool_message = next(m for m in fake.requests[-1]["messages"] if m["role"] == "tool")
    assert tool_message == {"role": "tool", "tool_call_id": use.id, "content": "rainy"}


async def test_errors_come_in_anthropics_shape_with_their_status() -> None:
    fake = FakeGlm(lambda body: Reply(content="never"))
    async with messages_client(fake) as (client, url):
        stranger = anthropic.AsyncAnthropic(base_url=url, api_key="wrong", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as unauthorized:
            await stranger.messages.create(model="glm-4.6", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        await stranger.close()
        picture: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
        with pytest.raises(anthropic.BadRequestError) as bad:
            await client.messages.create(
                model="glm-4.6", max_tokens=5, messages=[{"role": "user", "content": [picture]}]
            )
        async with httpx2.AsyncClient(base_url=url, headers={"x-api-key": TOKEN}) as http:
            raw = await http.post("/v1/messages", json={"model": "glm-4.6", "messages": []})
    assert unauthorized.value.status_code == 401
    assert bad.value.status_code == 400 and "messages[0].content[0] is a 'image' block" in str(bad.value)
    assert raw.status_code == 400 and raw.json()["type"] == "error"
    assert raw.json()["error"]["type"] == "invalid_request_error" and "max_tokens" in raw.json()["error"]["message"]
    assert fake.requests == []


async def test_count_tokens_is_an_estimate_and_models_come_in_anthropics_shape() -> None:
    fake = FakeGlm(lambda body: Reply(content="never"))
    async with messages_client(fake) as (client, _):
        counted = await client.messages.count_tokens(
            model="glm-4.6", messages=[{"role": "user", "content": "How many tokens is this?"}]
        )
        models = await client.models.list()
    assert counted.input_tokens > 0
    assert "glm-4.6" in [model.id for model in models.data]


async def _claude_print(claude_code: Path, url: str, home: Path, prompt: str) -> CompletedProcess[bytes]:
    """Claude Code run in print mode against the gateway at `url`, with `home` as its home and working folder."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
        "ANTHROPIC_MODEL": "glm-4.6",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    with anyio.fail_after(120):  # hang guard: Claude Code's start under node and two model turns
        return await anyio.run_process([str(claude_code), "-p", prompt], env=env, cwd=home, check=False)


@pytest.mark.slow  # Claude Code from npm, a real process
async def test_claude_code_in_print_mode_answers_with_a_gateway_tool(claude_code: Path, tmp_path: Path) -> None:
    def script(body: dict[str, Any]) -> Reply:
        told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if told:
            return Reply(content=f"The note says: {told[-1]}")
        return Reply(tool_calls=[("memo__recall", '{"topic": "launch"}')])

    fake = FakeGlm(script)
    async with messages_client(fake) as (_, url):
        ran = await _claude_print(claude_code, url, tmp_path, "When is the launch? Use the memo tool.")
    assert ran.returncode == 0, ran.stdout.decode() + ran.stderr.decode()
    assert ran.stdout.decode().strip() == "The note says: launch: the launch is on Friday"
    first = fake.requests[0]
    assert first["messages"][0]["role"] == "system" and first["stream"] is True
    assert "memo__recall" in [tool["function"]["name"] for tool in first["tools"]]  # beside Claude Code's own


@pytest.mark.slow  # Claude Code from npm, a real process
async def test_claude_code_runs_its_own_tool_when_glm_writes_the_call_as_near_json(
    claude_code: Path, tmp_path: Path
) -> None:
    # GLM calls Claude Code's own Read tool with single quotes and a trailing comma: Claude Code must get the path
    # (it used to get input {}), run the tool on its side, and send back what it read.
    notes = tmp_path / "notes.txt"
    notes.write_text("the launch is on Friday\n")

    def script(body: dict[str, Any]) -> Reply:
        told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if told:
            return Reply(content="Read it.")
        assert "Read" in [tool["function"]["name"] for tool in body["tools"]]
        return Reply(tool_calls=[("Read", f"{{'file_path': '{notes}',}}")])

    fake = FakeGlm(script)
    async with messages_client(fake) as (_, url):
        ran = await _claude_print(claude_code, url, tmp_path, "What do my notes say?")
    assert ran.returncode == 0, ran.stdout.decode() + ran.stderr.decode()
    told = [m["content"] for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    assert len(told) == 1 and "the launch is on Friday" in told[0]  # Claude Code read the file GLM named


async def test_requests_are_counted_and_shown_by_the_face_they_came_in_on() -> None:
    fake = FakeGlm(lambda body: Reply(content="hello"))
    async with messages_client(fake) as (client, url):
        await client.messages.create(model="glm-4.6", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        chat = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        await chat.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "hi"}])
        await chat.responses.create(model="glm-4.6", input="hi")
        await chat.close()
        async with httpx2.AsyncClient(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}) as http:
            metrics = (await http.get("/metrics")).text
            shown = (await http.get("/admin/status")).json()["model_requests"]
    for face in ("anthropic", "openai", "responses"):
        assert f'glm_mcp_chat_completions_total{{face="{face}",outcome="ok"}} 1.0' in metrics
    assert [request["face"] for request in shown] == ["anthropic", "openai", "responses"]


async def test_a_servers_question_pauses_the_run_as_a_glm_elicit_tool_use_and_the_answer_resumes_it() -> None:
    fake = FakeGlm(glm_greeting)
    async with gateway_before_glm(fake.app, TOKEN, servers={"asks": inproc(greeting_server())}) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=TOKEN, max_retries=0)
        question: Any = {"role": "user", "content": "greet me"}
        opt_in: Any = {"glm_mcp": {"elicitation": "client"}}
        paused = await client.messages.create(model="glm-4.6", max_tokens=100, messages=[question], extra_body=opt_in)
        ask = next(block for block in paused.content if block.type == "tool_use")
        answer: Any = {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": ask.id,
                    "content": '{"action": "accept", "content": {"name": "Ada"}}',
                }
            ],
        }
        done = await client.messages.create(
            model="glm-4.6",
            max_tokens=100,
            messages=[question, {"role": "assistant", "content": paused.content}, answer],
            extra_body=opt_in,
        )
        await client.close()
    assert paused.stop_reason == "tool_use" and ask.name == "glm__elicit" and "Your name?" in str(ask.input)
    assert [block.text for block in done.content if block.type == "text"] == ["GLM heard: hello Ada"]


async def test_a_streamed_client_tool_use_arrives_whole_through_the_stream_helper() -> None:
    fake = FakeGlm(glm_asking_weather)
    weather: Any = {"name": "get_weather", "description": "Weather.", "input_schema": WEATHER_SCHEMA}
    async with messages_client(fake) as (client, _):
        async with client.messages.stream(
            model="glm-4.6", max_tokens=100, tools=[weather], messages=[{"role": "user", "content": "Weather in Oslo?"}]
        ) as stream:
            final = await stream.get_final_message()
    uses = [block for block in final.content if block.type == "tool_use"]
    assert final.stop_reason == "tool_use" and [(use.name, use.input) for use in uses] == [
        ("get_weather", {"city": "Oslo"})
    ]


async def test_a_glm_failure_is_an_error_in_anthropics_shape() -> None:
    fake = FakeGlm([Failure(500, "500", "upstream broke")])
    async with messages_client(fake) as (_, url):
        async with httpx2.AsyncClient(base_url=url, headers={"x-api-key": TOKEN}) as http:
            body = {"model": "glm-4.6", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            failed = await http.post("/v1/messages", json=body)
    assert failed.status_code == 500 and failed.json()["type"] == "error"
    assert failed.json()["error"] == {"type": "api_error", "message": "GLM: upstream broke"}


async def test_a_tool_choice_glm_cannot_force_is_asked_for_in_the_system_prompt() -> None:
    fake = FakeGlm(glm_asking_weather)
    weather: Any = {"name": "get_weather", "description": "Weather.", "input_schema": WEATHER_SCHEMA}
    choice: Any = {"type": "tool", "name": "get_weather"}
    async with messages_client(fake) as (client, _):
        message = await client.messages.create(
            model="glm-4.6",
            max_tokens=50,
            system="Be brief.",
            tools=[weather],
            tool_choice=choice,
            messages=[{"role": "user", "content": "Oslo?"}],
        )
    assert message.stop_reason == "tool_use"
    system = fake.requests[0]["messages"][0]
    assert system == {
        "role": "system",
        "content": "Be brief.\n\nAnswer by calling the tool get_weather; do not answer in text.",
    }
    assert fake.requests[0].get("tool_choice") == "auto"  # GLM takes only auto: nothing it would refuse is sent


async def test_a_client_tool_call_goes_with_its_arguments_as_json_and_one_that_cannot_be_read_goes_back_to_glm() -> (
    None
):
    # GLM writes arguments the loop reads without changing a value ('single quotes', a trailing comma) or cannot
    # read at all (an unquoted word). The first must reach Claude's client as the input GLM meant, never as {};
    # the second must not reach it: GLM is told why and asked again.
    weather: Any = {"name": "get_weather", "description": "The weather in a city.", "input_schema": WEATHER_SCHEMA}
    fake = FakeGlm(
        [
            Reply(tool_calls=[("get_weather", '{"city": Oslo}')]),
            Reply(tool_calls=[("get_weather", "{'city': 'Oslo',}")]),
        ]
    )
    async with messages_client(fake) as (client, _):
        first = await client.messages.create(
            model="glm-4.6", max_tokens=256, tools=[weather], messages=[{"role": "user", "content": "Oslo?"}]
        )
    uses = [block for block in first.content if block.type == "tool_use"]
    assert [(use.name, use.input) for use in uses] == [("get_weather", {"city": "Oslo"})]
    refusal = next(m for m in fake.requests[1]["messages"] if m["role"] == "tool")["content"]
    assert "was not handed to the client" in refusal and "'Oslo' is not quoted" in refusal
