"""`/v1/chat/completions` end to end: the `openai` SDK → glm-mcp (real HTTP) → the GLM emulator (real HTTP)."""

from __future__ import annotations

import json
from typing import Any, Literal, cast

import anyio
import httpx2
import openai
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from tests.fakes.fake_glm import Failure, FakeGlm, Reply
from tests.helpers import stack, weather_server


def two_server_script() -> list[Reply]:
    return [
        Reply(reasoning="Forecast first.", tool_calls=[("weather__forecast", '{"city": "Oslo"}')]),
        Reply(reasoning="Now save it.", tool_calls=[("memo__add", '{"text": "Oslo: sunny"}')]),
        Reply(reasoning="Done.", content="Oslo will be sunny; I saved a memo."),
    ]


async def test_an_openai_client_gets_an_answer_that_used_two_servers_over_several_steps() -> None:
    async with stack(FakeGlm(two_server_script())) as s:
        completion = await s.client.chat.completions.create(
            model="glm-4.6", messages=[{"role": "user", "content": "Weather in Oslo, and note it"}]
        )
    choice = completion.choices[0]
    assert choice.message.content == "Oslo will be sunny; I saved a memo."
    assert choice.finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert (choice.message.model_extra or {})["reasoning_content"] == "Done."
    assert completion.usage is not None and completion.usage.prompt_tokens == 300
    sent = s.fake.requests[2]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "tool"]
    assert [m["content"] for m in sent if m["role"] == "tool"] == ["Oslo: sunny for 1 day(s)", "memo 1 saved"]
    assert s.fake.headers[0]["authorization"] == "Bearer zai-key"


async def test_streaming_sends_deltas_of_every_step_tool_events_and_one_finish() -> None:
    async with stack(FakeGlm(two_server_script(), generation="2025-09")) as s:
        stream = await s.client.chat.completions.create(
            model="glm-4.6",
            messages=[{"role": "user", "content": "Weather in Oslo, and note it"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    extras: list[dict[str, Any]] = [(c.model_extra or {}).get("glm_mcp") or {} for c in chunks if c.choices]
    events = [event for event in extras if event.get("event") in ("tool_call", "tool_result")]
    offers = [event for event in extras if event.get("event") == "offer"]
    assert offers == [{"event": "offer", "candidates": 4, "offered": 4, "left_out": {}}]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert content == "Oslo will be sunny; I saved a memo."
    assert reasoning == "Forecast first.Now save it.Done."
    assert [(e["event"], e["name"]) for e in events] == [
        ("tool_call", "weather__forecast"),
        ("tool_result", "weather__forecast"),
        ("tool_call", "memo__add"),
        ("tool_result", "memo__add"),
    ]
    assert events[0]["server"] == "weather" and events[1]["content"] == "Oslo: sunny for 1 day(s)"
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert all(c.object == "chat.completion.chunk" for c in chunks)


async def test_streamed_text_with_quotes_escapes_and_other_scripts_arrives_intact_in_well_formed_chunks() -> None:
    text = 'She said "ok" \\ then a tab\tand a line\nbreak: ünïcödé, 漢字, emoji 🙂, </script>'
    reasoning = 'Think: "a\\b" \u2028 done'
    async with stack(FakeGlm([Reply(reasoning=reasoning, content=text)])) as s:
        stream = await s.client.chat.completions.create(
            model="glm-4.6", messages=[{"role": "user", "content": "say it"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    thought = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks)
    assert thought == reasoning
    assert len({(c.id, c.model, c.created, c.object) for c in chunks}) == 1  # text chunks and the rest alike
    assert chunks[0].id.startswith("chatcmpl-") and chunks[0].model == "glm-4.6"


async def test_a_client_tool_call_comes_back_for_the_client_to_run_and_gateway_tools_never_do() -> None:
    fake = FakeGlm([Reply(tool_calls=[("get_location", "{}")])])
    tool: dict[str, Any] = {
        "type": "function",
        "function": {
            "name": "get_location",
            "description": "Where the user is.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    async with stack(fake) as s:
        completion = await s.client.chat.completions.create(
            model="glm-4.6",
            messages=[{"role": "user", "content": "weather here?"}],
            tools=[tool],  # pyright: ignore[reportArgumentType]  # a plain dict where the SDK wants its TypedDict
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    calls = [call for call in choice.message.tool_calls if call.type == "function"]
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_location", "{}")]
    assert [t["function"]["name"] for t in fake.requests[0]["tools"]][:1] == ["get_location"]


async def test_a_client_tool_call_comes_back_as_the_json_glm_meant_fitted_to_the_tools_schema() -> None:
    # Near-JSON read without changing a value, a number sent as a string converted where the schema wants one, and
    # a call that does not fit the schema (a required parameter missing) told to GLM, never handed to the client.
    fake = FakeGlm(
        [
            Reply(tool_calls=[("get_weather", "{'days': 2}")]),
            Reply(tool_calls=[("get_weather", "{'city': 'Oslo', 'days': '2',}")]),
        ]
    )
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    }
    tool: dict[str, Any] = {"type": "function", "function": {"name": "get_weather", "parameters": schema}}
    async with stack(fake) as s:
        completion = await s.client.chat.completions.create(
            model="glm-4.6",
            messages=[{"role": "user", "content": "weather in Oslo?"}],
            tools=[tool],  # pyright: ignore[reportArgumentType]  # a plain dict where the SDK wants its TypedDict
        )
    calls = completion.choices[0].message.tool_calls or []
    arguments = [call.function.arguments for call in calls if call.type == "function"]
    assert [json.loads(text) for text in arguments] == [{"city": "Oslo", "days": 2}]  # what a client's parser reads
    refusal = next(m for m in fake.requests[1]["messages"] if m["role"] == "tool")["content"]
    assert "not handed to the client" in refusal and "'city' is required but missing" in refusal


async def test_a_client_tool_that_takes_a_gateway_tools_name_wins_and_the_offer_says_so() -> None:
    fake = FakeGlm([Reply(tool_calls=[("memo__add", '{"text": "mine"}')])])
    tool: dict[str, Any] = {
        "type": "function",
        "function": {"name": "memo__add", "description": "The client's own.", "parameters": {"type": "object"}},
    }
    async with stack(fake) as s:
        completion = await s.client.chat.completions.create(
            model="glm-4.6",
            messages=[{"role": "user", "content": "note this"}],
            tools=[tool],  # pyright: ignore[reportArgumentType]  # a plain dict where the SDK wants its TypedDict
        )
    offered = [t["function"]["name"] for t in fake.requests[0]["tools"]]
    assert offered.count("memo__add") == 1 and offered[0] == "memo__add"
    assert fake.requests[0]["tools"][0]["function"]["description"] == "The client's own."
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    assert [call.function.name for call in choice.message.tool_calls if call.type == "function"] == ["memo__add"]
    assert (completion.model_extra or {})["glm_mcp"]["offer"]["left_out"] == {"name_clash": 1}


async def test_glm_errors_come_back_openai_style_with_glms_code() -> None:
    fake = FakeGlm([Failure(429, "1113", "Insufficient balance")])
    async with stack(fake) as s:
        with pytest.raises(openai.RateLimitError) as caught:
            await s.client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "hi"}])
    error = cast(dict[str, Any], caught.value.body)
    assert isinstance(error, dict)
    assert error["code"] == "1113"
    assert error["message"].startswith("GLM: Insufficient balance (the account has no balance left")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}, "tool_choice"),
        ({"messages": [{"role": "user", "content": "x"}], "glm_mcp": {"servers": ["nope"]}}, "glm_mcp.servers"),
        ({"messages": [{"role": "user", "content": "x"}], "glm_mcp": {"tools": ["memo__ad"]}}, "glm_mcp.tools"),
        ({"messages": [{"role": "user", "content": "x"}], "glm_mcp": {"events": "no"}}, "glm_mcp.events"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 3}, "n"),
    ],
)
async def test_invalid_requests_get_400_saying_which_field(body: dict[str, Any], param: str) -> None:
    async with stack(FakeGlm([])) as s, httpx2.AsyncClient(base_url=s.url) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("raw", [b"{not json", b'{"messages": [{"role": "user", "content": NaN}]}', b'{"x": Infinity}'])
async def test_malformed_json_gets_400(raw: bytes) -> None:
    async with stack(FakeGlm([])) as s, httpx2.AsyncClient(base_url=s.url) as http:
        response = await http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [b"null", b"[]", b'"hi"', b"42"])
async def test_a_body_that_is_json_but_not_an_object_is_told_so(raw: bytes) -> None:
    async with stack(FakeGlm([])) as s, httpx2.AsyncClient(base_url=s.url) as http:
        response = await http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the body must be a JSON object: a chat request"


async def test_tool_choice_none_offers_no_tools_and_extra_fields_pass_through() -> None:
    fake = FakeGlm([Reply(content="plain"), Reply(content="named")])
    async with stack(fake) as s:
        await s.client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            tool_choice="none",
            temperature=0.2,
            extra_body={"thinking": {"type": "disabled"}, "tool_stream": True},
        )
        await s.client.chat.completions.create(model="glm-4.5-air", messages=[{"role": "user", "content": "hi"}])
    assert fake.requests[1]["model"] == "glm-4.5-air"  # a GLM model the client names is the one asked
    sent = fake.requests[0]
    assert "tools" not in sent and "tool_choice" not in sent
    assert (sent["model"], sent["temperature"], sent["thinking"], sent["tool_stream"]) == (
        "glm-4.6",
        0.2,
        {"type": "disabled"},
        True,
    )


async def test_per_request_narrowing_through_extra_body() -> None:
    fake = FakeGlm([Reply(content="ok")])
    async with stack(fake) as s:
        await s.client.chat.completions.create(
            model="glm-4.6", messages=[{"role": "user", "content": "hi"}], extra_body={"glm_mcp": {"servers": ["memo"]}}
        )
    assert [t["function"]["name"] for t in fake.requests[0]["tools"]] == ["memo__add", "memo__count"]
    assert "glm_mcp" not in fake.requests[0]


async def test_models_lists_every_model_a_client_may_name_and_retrieves_one() -> None:
    async with stack(FakeGlm([])) as s:
        models = await s.client.models.list()
        one = await s.client.models.retrieve("glm-4.5-air")
        with pytest.raises(openai.NotFoundError) as missing:
            await s.client.models.retrieve("gpt-4o")
    ids = [m.id for m in models.data]
    assert ids[0] == "glm-4.6" and {"glm-4.5", "glm-4.7", "glm-5"} <= set(ids) and len(ids) == len(set(ids))
    assert one.id == "glm-4.5-air" and one.object == "model"
    assert missing.value.status_code == 404


@pytest.mark.parametrize("host", ["serve", "uvicorn"])
async def test_a_client_that_disconnects_cancels_the_model_request(host: Literal["serve", "uvicorn"]) -> None:
    fake = FakeGlm([Reply(content="never finished")])
    fake.hold = anyio.Event()
    async with stack(fake, host=host) as s:
        async with httpx2.AsyncClient(base_url=s.url, timeout=10) as http:
            body = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}], "stream": True}
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                with anyio.fail_after(5):
                    await fake.entered.wait()
                assert response.status_code == 200
        with anyio.fail_after(5):
            await fake.cancelled.wait()
        fake.hold.set()


@pytest.mark.parametrize("host", ["serve", "uvicorn"])
async def test_a_client_that_disconnects_cancels_running_tool_calls(host: Literal["serve", "uvicorn"]) -> None:
    gate = anyio.Event()
    started: list[str] = []
    cancelled = anyio.Event()
    server = MCPServer("slow")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def crawl(url: str) -> str:
        """Takes forever."""
        started.append(url)
        try:
            await gate.wait()
        finally:
            cancelled.set()
        return "done"

    fake = FakeGlm([Reply(tool_calls=[("slow__crawl", json.dumps({"url": "http://x"}))]), Reply(content="ok")])
    async with stack(fake, {"slow": server}, host=host) as s:
        async with httpx2.AsyncClient(base_url=s.url, timeout=10) as http:
            body = {"model": "glm-4.6", "messages": [{"role": "user", "content": "crawl"}], "stream": True}
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if '"tool_call"' in line:
                        break
        with anyio.fail_after(5):
            await cancelled.wait()
    assert started == ["http://x"]


async def test_sampling_values_outside_glms_range_are_brought_into_it() -> None:
    fake = FakeGlm([Reply(content="ok")])
    async with stack(fake) as s:
        await s.client.chat.completions.create(
            model="glm-4.6", messages=[{"role": "user", "content": "hi"}], temperature=1.7, top_p=0.0
        )
    assert (fake.requests[0]["temperature"], fake.requests[0]["top_p"]) == (1.0, 0.01)


async def test_metrics_count_tool_calls_and_completions_and_show_server_state() -> None:
    async with stack(FakeGlm(two_server_script())) as s, httpx2.AsyncClient(base_url=s.url) as http:
        await s.client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "go"}])
        await http.post("/v1/chat/completions", json={"messages": []})
        response = await http.get("/metrics")
    assert response.status_code == 200
    lines = set(response.text.splitlines())
    assert 'glm_mcp_tool_calls_total{outcome="ok",server="weather"} 1.0' in lines
    assert 'glm_mcp_tool_calls_total{outcome="ok",server="memo"} 1.0' in lines
    assert 'glm_mcp_chat_completions_total{face="openai",outcome="ok"} 1.0' in lines
    assert 'glm_mcp_chat_completions_total{face="openai",outcome="invalid_request"} 1.0' in lines
    assert 'glm_mcp_server_up{server="memo",state="ready"} 1.0' in lines
    assert 'glm_mcp_server_tools{server="weather"} 2.0' in lines


async def test_a_streamed_run_counts_glms_tokens_though_its_client_asked_for_no_usage() -> None:
    """The gateway always asks GLM for a stream's usage (`stream_options`, which the emulator honours as OpenAI and
    vLLM do); the client sees usage only when it asked for it."""
    fake = FakeGlm([Reply(content="a short answer")])
    async with stack(fake) as s, httpx2.AsyncClient(base_url=s.url) as http:
        stream = await s.client.chat.completions.create(
            model="glm-4.6", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
        lines = (await http.get("/metrics")).text.splitlines()
    assert all(chunk.usage is None for chunk in chunks)
    assert fake.requests[0]["stream_options"] == {"include_usage": True}
    counted = [line for line in lines if line.startswith('glm_mcp_model_tokens_total{kind="completion"')]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) > 0


def test_tool_call_durations_fall_into_cumulative_buckets() -> None:
    from glm_mcp.metrics import GatewayMetrics

    metrics = GatewayMetrics(dict)
    for seconds in (0.0005, 0.003, 0.003, 200.0):
        metrics.tool_call("s", "ok", seconds)
    text = metrics.render().decode()
    assert 'glm_mcp_tool_call_seconds_bucket{le="0.001",server="s"} 1.0' in text
    assert 'glm_mcp_tool_call_seconds_bucket{le="0.005",server="s"} 3.0' in text
    assert 'glm_mcp_tool_call_seconds_bucket{le="120.0",server="s"} 3.0' in text
    assert 'glm_mcp_tool_call_seconds_bucket{le="+Inf",server="s"} 4.0' in text
    assert 'glm_mcp_tool_call_seconds_count{server="s"} 4.0' in text
    assert 'glm_mcp_tool_calls_total{outcome="ok",server="s"} 4.0' in text


async def test_metrics_count_the_loops_own_answers_model_requests_and_the_process() -> None:
    fake = FakeGlm(
        [
            Reply(
                tool_calls=[
                    ("weather__forecast", '{"city": "Oslo"}'),
                    ("weather__forecast", '{"city": 12'),
                    ("weather__forecast", '{"days": 2}'),
                    ("weather__nowcast", "{}"),
                    ("memo__wipe", "{}"),
                ],
                finish_reason="length",
            ),
            Reply(content="done"),
        ]
    )
    memo = MCPServer("memo")

    @memo.tool()
    def wipe() -> str:
        """Unannotated: destructive by the spec's defaults."""
        return "wiped"

    async with stack(fake, {"weather": weather_server(), "memo": memo}) as s, httpx2.AsyncClient(base_url=s.url) as h:
        await s.client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "go"}])
        text = (await h.get("/metrics")).text
    lines = set(text.splitlines())
    for outcome, server in (
        ("ok", "weather"),
        ("truncated", "weather"),
        ("invalid_arguments", "weather"),
        ("unknown_tool", ""),
        ("refused", "memo"),
    ):
        assert f'glm_mcp_tool_calls_total{{outcome="{outcome}",server="{server}"}} 1.0' in lines, outcome
    assert 'glm_mcp_model_requests_total{model="glm-4.6",outcome="ok"} 2.0' in lines
    assert 'glm_mcp_model_request_seconds_count{model="glm-4.6"} 2.0' in lines
    assert 'glm_mcp_model_tokens_total{kind="prompt",model="glm-4.6"} 200.0' in lines
    assert 'glm_mcp_model_retries_total{model="glm-4.6"} 0.0' in lines
    assert any(line.startswith("process_resident_memory_bytes ") for line in lines)
    assert any(line.startswith("glm_mcp_server_restarts_total{") for line in lines)


async def test_a_streamed_run_stopped_by_a_limit_ends_with_length_the_limit_named_and_stopped_by() -> None:
    fake = FakeGlm(lambda body: Reply(tool_calls=[("memo__count", "{}")]))
    async with stack(fake) as s:
        stream = await s.client.chat.completions.create(
            model="glm-4.6",
            messages=[{"role": "user", "content": "count forever"}],
            stream=True,
            extra_body={"glm_mcp": {"max_steps": 2}},
        )
        chunks = [chunk async for chunk in stream]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    extras: list[dict[str, Any]] = [(c.model_extra or {}).get("glm_mcp") or {} for c in chunks]
    facts = [extra for extra in extras if "stopped_by" in extra]
    assert finishes == ["length"]
    assert "limit max_steps=2 was reached" in content
    assert [(f["stopped_by"], f["steps"]) for f in facts] == [("max_steps", 2)]
    assert len(fake.requests) == 2
