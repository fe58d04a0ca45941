"""`/v1/responses` with the `openai` SDK's `responses` calls and an OpenAI Agents SDK agent on its default
(Responses) model: GLM (the emulator) with the gateway's MCP tools behind the Responses API."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import (
    WEATHER_SCHEMA,
    gateway_before_glm,
    glm_asking_weather,
    glm_greeting,
    glm_recalling,
    greeting_server,
    inproc,
)

TOKEN = "responses-face-" + "r" * 32
OTHER = "responses-other-" + "o" * 32


async def test_responses_create_and_stream_answer_with_a_gateway_tool() -> None:
    fake = FakeGlm(glm_recalling)
    async with gateway_before_glm(fake.app, TOKEN, OTHER) as url:
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
    fake = FakeGlm(glm_asking_weather)
    weather: Any = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": WEATHER_SCHEMA,
    }
    async with gateway_before_glm(fake.app, TOKEN, OTHER) as url:
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


async def test_a_streamed_client_function_call_arrives_whole_in_its_events() -> None:
    fake = FakeGlm(glm_asking_weather)
    weather: Any = {"type": "function", "name": "get_weather", "description": "Weather.", "parameters": WEATHER_SCHEMA}
    async with gateway_before_glm(fake.app, TOKEN) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        async with client.responses.stream(model="glm-4.6", input="Weather in Oslo?", tools=[weather]) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
        await client.close()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(call.name, call.arguments) for call in calls] == [("get_weather", '{"city": "Oslo"}')]
    assert "response.function_call_arguments.delta" in kinds and kinds[-1] == "response.completed"


async def test_a_servers_question_pauses_the_run_as_a_glm_elicit_function_call_and_its_output_resumes_it() -> None:
    fake = FakeGlm(glm_greeting)
    opt_in: Any = {"glm_mcp": {"elicitation": "client"}}
    async with gateway_before_glm(fake.app, TOKEN, servers={"asks": inproc(greeting_server())}) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        paused = await client.responses.create(model="glm-4.6", input="greet me", extra_body=opt_in)
        ask = next(item for item in paused.output if item.type == "function_call")
        answer: Any = [
            {"role": "user", "content": "greet me"},
            {"type": "function_call", "call_id": ask.call_id, "name": ask.name, "arguments": ask.arguments},
            {
                "type": "function_call_output",
                "call_id": ask.call_id,
                "output": '{"action": "accept", "content": {"name": "Ada"}}',
            },
        ]
        done = await client.responses.create(model="glm-4.6", input=answer, extra_body=opt_in, store=False)
        await client.close()
    assert ask.name == "glm__elicit" and "Your name?" in ask.arguments
    assert done.output_text == "GLM heard: hello Ada"


async def test_a_response_sent_with_store_false_cannot_be_continued() -> None:
    fake = FakeGlm(glm_recalling)
    async with gateway_before_glm(fake.app, TOKEN) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        kept = await client.responses.create(model="glm-4.6", input="When is the launch?")
        unkept = await client.responses.create(model="glm-4.6", input="When is the launch?", store=False)
        continued = await client.responses.create(model="glm-4.6", previous_response_id=kept.id, input="Thanks.")
        with pytest.raises(openai.BadRequestError) as refused:
            await client.responses.create(model="glm-4.6", previous_response_id=unkept.id, input="Thanks.")
        await client.close()
    assert continued.status == "completed" and "store: false" in str(refused.value)


async def test_the_store_lets_the_oldest_go_past_its_byte_budget() -> None:
    from glm_mcp.errors import RequestError
    from glm_mcp.faces.response_store import MAX_STORED_BYTES, ResponseStore

    store = ResponseStore()
    body = 8 * 2**20
    kept = MAX_STORED_BYTES // body
    for index in range(kept + 3):
        store.put(f"resp_{index}", "token-a", [{"role": "user", "content": f"question {index}"}], body)
    for index in range(3):
        with pytest.raises(RequestError, match="is not a stored response of yours"):
            store.get(f"resp_{index}", "token-a")
    assert store.get(f"resp_{kept + 2}", "token-a") == [{"role": "user", "content": f"question {kept + 2}"}]
    assert store.get("resp_3", "token-a")[0]["content"] == "question 3"  # within the budget: still there


async def test_stored_responses_are_bounded_by_what_they_hold_and_the_oldest_go_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A thousand bodies of 8 MiB would otherwise be kept for an hour. The face weighs each response by its request
    # body and its answer; the budget is set to hold about three of these requests, so the first is let go.
    from glm_mcp.faces import response_store

    monkeypatch.setattr(response_store, "MAX_STORED_BYTES", 3 * 5_000 + 1_000)
    fake = FakeGlm(lambda body: Reply(content="hello"))
    async with gateway_before_glm(fake.app, TOKEN) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
        made = [await client.responses.create(model="glm-4.6", input="hi " + "x" * 5_000) for _ in range(4)]
        with pytest.raises(openai.BadRequestError, match="is not a stored response of yours"):
            await client.responses.create(model="glm-4.6", previous_response_id=made[0].id, input="and then?")
        for kept in made[2:]:
            await client.responses.create(model="glm-4.6", previous_response_id=kept.id, input="and then?")
        await client.close()
    assert [m["role"] for m in fake.requests[-1]["messages"]] == ["user", "assistant", "user"]
