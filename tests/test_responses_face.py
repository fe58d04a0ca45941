"""`/v1/responses` with the `openai` SDK's `responses` calls and an OpenAI Agents SDK agent on its default
(Responses) model: GLM (the emulator) with the gateway's MCP tools behind the Responses API."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.fake_glm import FakeGlm
from tests.helpers import WEATHER_SCHEMA, gateway_before_glm, glm_asking_weather, glm_recalling

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
