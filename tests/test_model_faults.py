"""What the model gets wrong, through the real loop: an openai client over loopback HTTP, the GLM emulator as the
model, real MCP servers. Cut-off calls, leaked XML calls, finish reasons, errors inside 200 answers, retries."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import openai
import pytest
from mcp.server.mcpserver import MCPServer

from tests.fakes.fake_glm import FakeGlm, Garbage, Reply
from tests.helpers import stack

USER: Any = [{"role": "user", "content": "go"}]


def notes_server(received: list[tuple[str, Any]]) -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    def write_file(path: str, content: str) -> str:
        """Write a file."""
        received.append(("write_file", {"path": path, "content": content}))
        return "written"

    @server.tool()
    def delete_note(note_id: int) -> str:
        """Delete a note."""
        received.append(("delete_note", note_id))
        return f"deleted {note_id}"

    return server


async def test_a_call_cut_off_by_the_token_limit_never_runs_and_the_model_is_asked_again() -> None:
    received: list[tuple[str, Any]] = []
    fake = FakeGlm(
        [
            Reply(
                tool_calls=[
                    ("notes__delete_note", '{"note_id": 3}'),
                    ("notes__write_file", '{"path": "notes/x.log", "content": "The quick brown fox jumps over the la'),
                ],
                finish_reason="length",
            ),
            Reply(tool_calls=[("notes__delete_note", '{"note_id": 1')], finish_reason="length"),
            Reply(content="I will write it in parts."),
        ]
    )
    async with stack(fake, {"notes": notes_server(received)}, destructive="allow") as s:
        completion = await s.client.chat.completions.create(model="glm-4.6", messages=USER)
    assert completion.choices[0].message.content == "I will write it in parts."
    assert received == [("delete_note", 3)]
    second = fake.requests[1]["messages"]
    answers = {m["tool_call_id"]: m["content"] for m in second if m["role"] == "tool"}
    calls = second[1]["tool_calls"]
    assert answers[calls[0]["id"]] == "deleted 3"
    cut = answers[calls[1]["id"]]
    assert cut.startswith("Error: the arguments of this call to notes__write_file were cut off")
    assert "'content'" in cut and "token limit" in cut and "not run" in cut
    for request in fake.requests[1:]:
        for message in request["messages"]:
            calls: list[dict[str, Any]] = message.get("tool_calls") or []
            for call in calls:
                json.loads(call["function"]["arguments"])


async def test_calls_leaked_as_glm_xml_run_and_leave_the_streamed_text() -> None:
    received: list[tuple[str, Any]] = []
    leaked = (
        "Deleting it now.<tool_call>notes__delete_note\n<arg_key>note_id</arg_key>\n<arg_value>12</arg_value>\n"
        "</tool_call>"
    )
    for generation in ("2025-09", "2026"):
        received.clear()
        fake = FakeGlm([Reply(content=leaked), Reply(content="Done <b>now</b>.")], generation=generation)
        async with stack(fake, {"notes": notes_server(received)}, destructive="allow") as s:
            stream = await s.client.chat.completions.create(model="glm-4.6", messages=USER, stream=True)
            text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        assert received == [("delete_note", 12)]
        assert text == "Deleting it now.Done <b>now</b>."
        assistant = fake.requests[1]["messages"][1]
        assert "<tool_call>" not in assistant["content"]
        assert assistant["tool_calls"][0]["function"]["name"] == "notes__delete_note"


async def test_a_leaked_block_naming_no_offered_tool_stays_in_the_answer() -> None:
    text = "Example: <tool_call>rm\n<arg_key>path</arg_key>\n<arg_value>/</arg_value>\n</tool_call>"
    fake = FakeGlm([Reply(content=text)], generation="2026")
    async with stack(fake, {"notes": notes_server([])}) as s:
        completion = await s.client.chat.completions.create(model="glm-4.6", messages=USER)
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"


async def test_the_safety_filter_ends_the_run_as_content_filter_with_a_message() -> None:
    for stream in (False, True):
        fake = FakeGlm([Reply(content="Partial", finish_reason="sensitive")], generation="2026")
        async with stack(fake) as s:
            if stream:
                chunks = [
                    c async for c in await s.client.chat.completions.create(model="glm-4.6", messages=USER, stream=True)
                ]
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
            else:
                completion = await s.client.chat.completions.create(model="glm-4.6", messages=USER)
                text, finish = completion.choices[0].message.content or "", [completion.choices[0].finish_reason]
        assert finish == ["content_filter"]
        assert text.startswith("Partial") and "safety filter" in text


@pytest.mark.parametrize(
    ("finish", "said"), [("length", "token limit"), ("model_context_window_exceeded", "context window")]
)
async def test_a_final_answer_cut_by_a_limit_passes_through_with_a_note(finish: str, said: str) -> None:
    fake = FakeGlm([Reply(content="A long answer th", finish_reason=finish)], generation="2026")
    async with stack(fake) as s:
        completion = await s.client.chat.completions.create(model="glm-4.6", messages=USER)
    assert completion.choices[0].finish_reason == finish
    assert completion.choices[0].message.content == "A long answer th"
    assert said in (completion.model_extra or {})["glm_mcp"]["note"]


async def test_a_glm_error_inside_a_200_answer_is_never_answered_with_a_2xx() -> None:
    answers: list[tuple[bool, FakeGlm, int, str]] = [
        (False, FakeGlm([Garbage(200, '{"error": {"code": "1214", "message": "bad field"}}')]), 502, "1214"),
        (True, FakeGlm([Reply(stream_error={"code": "1301", "message": "unsafe"})]), 502, "1301"),
        (True, FakeGlm([Reply(stream_error={"code": "1304", "message": "daily limit"})]), 429, "1304"),
    ]
    for stream, fake, status, code in answers:
        async with stack(fake) as s, httpx2.AsyncClient(base_url=s.url, timeout=10) as http:
            body = {"model": "glm-4.6", "messages": USER, "stream": stream}
            response = await http.post("/v1/chat/completions", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)


async def test_a_stream_aborted_by_network_error_ends_with_the_answer_of_the_retry() -> None:
    fake = FakeGlm(
        [
            Reply(content="The forecast for Oslo", finish_reason="network_error"),
            Reply(content="The forecast for Oslo is sun."),
        ],
        generation="2026",
    )
    async with stack(fake) as s:
        stream = await s.client.chat.completions.create(model="glm-4.6", messages=USER, stream=True)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The forecast for Oslo is sun."
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]
    events = [(c.model_extra or {}).get("glm_mcp", {}).get("event") for c in chunks]
    assert "retry" in events


async def test_the_common_streaming_loops_of_the_openai_sdk_never_crash_on_gateway_events() -> None:
    fake = FakeGlm(
        lambda body: (
            Reply(content="Sunny.")
            if body["messages"][-1]["role"] == "tool"
            else Reply(tool_calls=[("weather__forecast", '{"city": "Oslo"}')])
        ),
        generation="2026",
    )
    async with stack(fake) as s:
        printed: list[str] = []
        async for chunk in await s.client.chat.completions.create(model="glm-4.6", messages=USER, stream=True):
            printed.append(chunk.choices[0].delta.content or "")
        assert "".join(printed) == "Sunny."
        quiet = await s.client.chat.completions.create(
            model="glm-4.6", messages=USER, stream=True, extra_body={"glm_mcp": {"events": False}}
        )
        extras: list[dict[str, Any]] = [(c.model_extra or {}).get("glm_mcp") or {} async for c in quiet]
        assert [extra for extra in extras if extra.get("event")] == []

        def sync_loop() -> str:
            client = openai.OpenAI(base_url=f"{s.url}/v1", api_key="unused", max_retries=0)
            with client:
                stream = client.chat.completions.create(model="glm-4.6", messages=USER, stream=True)
                return "".join(chunk.choices[0].delta.content or "" for chunk in stream)

        assert await anyio.to_thread.run_sync(sync_loop) == "Sunny."


async def test_half_an_emoji_from_the_model_reaches_the_client_as_a_replacement_character() -> None:
    def line(text: str, finish: str | None = None) -> str:
        choice = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
        return "data: " + json.dumps({"id": "c1", "model": "glm-4.6", "choices": [choice]}) + "\n\n"

    streamed = line("Smile \ud83d") + line("\ude00, cut \ud83d") + line("", "stop") + "data: [DONE]\n\n"
    message = {"role": "assistant", "content": "Smile \U0001f600, cut \ud83d"}
    whole = json.dumps({"id": "c1", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    answers = [Garbage(200, streamed, "text/event-stream"), Garbage(200, whole, "application/json")]
    async with stack(FakeGlm(answers)) as s:
        stream = await s.client.chat.completions.create(model="glm-4.6", messages=USER, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        completion = await s.client.chat.completions.create(model="glm-4.6", messages=USER)
    assert text == completion.choices[0].message.content == "Smile \U0001f600, cut \ufffd"
