"""`GlmClient` against recorded GLM answers and against the emulator: every wire quirk, retries, failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from glm_mcp.config import ModelConfig
from glm_mcp.errors import ModelHTTPError, ModelResponseError, ModelTimeout, ModelUnreachable
from glm_mcp.faces.openai.writer import status_for
from glm_mcp.model.client import GlmClient
from glm_mcp.model.messages import Turn
from glm_mcp.model.stream import read_stream
from tests.fakes.fake_glm import Failure, FakeGlm, Garbage, Reply
from tests.helpers import serve_asgi
from tests.replay import exchanges, recordings, sse_chunks

CONFIG = ModelConfig(base_url="http://glm/api/paas/v4", api_key=SecretStr("k-123"), name="glm-4.6")


def _replay(body: str, streamed: bool) -> httpx2.MockTransport:
    content_type = "text/event-stream;charset=UTF-8" if streamed else "application/json; charset=UTF-8"

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body.encode(), headers={"content-type": content_type})

    return httpx2.MockTransport(handler)


def _expected(body: str, streamed: bool) -> tuple[list[tuple[str, str]], str]:
    """(tool calls, finish reason) read straight off a recorded answer."""
    if not streamed:
        choice = json.loads(body)["choices"][0]
        calls = [(c["function"]["name"], c["function"]["arguments"]) for c in choice["message"].get("tool_calls", [])]
        return calls, choice["finish_reason"]
    calls: list[tuple[str, str]] = []
    finish = ""
    for chunk in sse_chunks(body):
        if isinstance(chunk, dict):
            choice = chunk["choices"][0]
            calls += [
                (c["function"]["name"], c["function"]["arguments"]) for c in choice["delta"].get("tool_calls", [])
            ]
            finish = choice.get("finish_reason") or finish
    return calls, finish


@pytest.mark.parametrize("path", recordings("*.yaml"), ids=lambda p: f"{p.parent.name}/{p.name}")
async def test_every_recorded_answer_is_read_whole(path: Path) -> None:
    """Every tool call of every generation is kept, wherever `finish_reason` first appears."""
    streamed = "stream" in path.name
    seen: list[str] = []

    async def on_delta(kind: str, text: str) -> None:
        seen.append(kind)

    for exchange in exchanges(path):
        seen.clear()
        async with GlmClient(CONFIG, transport=_replay(exchange.body, streamed)).running() as client:
            turn = await (client.stream(exchange.request, on_delta) if streamed else client.complete(exchange.request))
        calls, finish = _expected(exchange.body, streamed)
        assert [(call.name, call.arguments) for call in turn.tool_calls] == calls
        assert turn.finish_reason == finish
        assert turn.usage is not None and turn.usage["total_tokens"] > 0
        if streamed:
            assert "reasoning_content" in seen


async def _run(fake: FakeGlm, body: dict[str, object], *, stream: bool = False, **config: object) -> Turn:
    model = CONFIG.model_copy(update=config)
    async with GlmClient(model, transport=httpx2.ASGITransport(fake.app)).running() as client:
        if stream:

            async def ignore(kind: str, text: str) -> None:
                return None

            return await client.stream(body, ignore)
        return await client.complete(body)


BODY: dict[str, object] = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("generation", ["2025-09", "2025-11", "2026"])
@pytest.mark.parametrize("tool_stream", [False, True])
async def test_parallel_tool_calls_survive_every_stream_generation(generation: str, tool_stream: bool) -> None:
    calls = [("a__x", '{"n": 1}'), ("b__y", '{"text": "hello, world"}'), ("a__z", "{}")]
    fake = FakeGlm([Reply(reasoning="think", tool_calls=calls)], generation=generation)
    turn = await _run(fake, {**BODY, "tool_stream": tool_stream}, stream=True)
    assert [(c.name, c.arguments) for c in turn.tool_calls] == calls
    assert len({c.id for c in turn.tool_calls}) == 3
    assert turn.reasoning_content.lstrip("\n") == "think"  # 2025-11 opens its reasoning with a newline
    assert fake.requests[0]["stream"] is True


async def test_the_key_goes_as_a_bearer_token() -> None:
    fake = FakeGlm([Reply(content="ok")])
    await _run(fake, BODY)
    assert fake.headers[0]["authorization"] == "Bearer k-123"


@pytest.mark.parametrize(
    "failure",
    [
        Failure(429, "1302", "High concurrency", retry_after="0"),
        Failure(429, "1303", "High frequency", retry_after="0"),
        Failure(429, "1305", "Rate limit", retry_after="0"),
        Failure(503, "1312", "Model busy", retry_after="0"),
        Failure(500, "500", "Internal error", retry_after="0"),
    ],
    ids=lambda f: f.code,
)
async def test_transient_failures_are_retried(failure: Failure) -> None:
    fake = FakeGlm([failure, failure, Reply(content="finally")])
    turn = await _run(fake, BODY)
    assert turn.content == "finally"
    assert len(fake.requests) == 3


async def test_network_error_finish_is_retried() -> None:
    fake = FakeGlm([Reply(content="half", finish_reason="network_error"), Reply(content="whole")])
    turn = await _run(fake, BODY)
    assert turn.content == "whole"


async def test_retries_stop_at_the_limit_with_glms_code_and_status() -> None:
    failure = Failure(429, "1302", "High concurrency", retry_after="0")
    fake = FakeGlm([failure] * 3)
    with pytest.raises(ModelHTTPError) as caught:
        await _run(fake, BODY, max_retries=2)
    assert (caught.value.upstream_status, caught.value.code, caught.value.message) == (429, "1302", "High concurrency")
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (401, "1001", "set model.api_key"),
        (401, "1002", "check model.api_key"),
        (429, "1113", "no balance left"),
        (400, "1211", "check model.name"),
        (400, "1261", "shorten the conversation"),
    ],
)
async def test_key_balance_model_and_length_errors_fail_fast_saying_what_to_do(
    status: int, code: str, hint: str
) -> None:
    fake = FakeGlm([Failure(status, code, "refused")])
    with pytest.raises(ModelHTTPError) as caught:
        await _run(fake, BODY)
    assert len(fake.requests) == 1
    assert caught.value.code == code and status_for(caught.value) == status
    assert caught.value.message.startswith("refused (") and hint in caught.value.message


async def test_an_error_inside_a_200_stream_is_an_error_with_its_code() -> None:
    fake = FakeGlm([Reply(content="partial", stream_error={"code": "1301", "message": "unsafe content"})])
    with pytest.raises(ModelHTTPError) as caught:
        await _run(fake, BODY, stream=True)
    assert (caught.value.code, caught.value.message) == ("1301", "unsafe content")


async def test_garbage_from_the_endpoint_is_a_clear_error() -> None:
    fake = FakeGlm([Garbage(200, "<html>oops</html>")])
    with pytest.raises(ModelResponseError) as caught:
        await _run(fake, BODY)
    assert "non-JSON" in caught.value.message and status_for(caught.value) == 502


async def test_an_unreachable_endpoint_is_a_502_naming_it() -> None:
    config = CONFIG.model_copy(update={"base_url": "http://127.0.0.1:9/v4", "connect_timeout": 2.0})
    async with GlmClient(config).running() as client:
        with pytest.raises(ModelUnreachable) as caught:
            await client.complete(BODY)
    assert (
        isinstance(caught.value, ModelUnreachable)
        and status_for(caught.value) == 502
        and "http://127.0.0.1:9/v4" in caught.value.message
    )


async def test_a_slow_endpoint_times_out_with_504_over_real_http() -> None:
    fake = FakeGlm([Reply(content="late")])
    fake.hold = anyio.Event()
    async with serve_asgi(fake.app) as url:
        config = CONFIG.model_copy(update={"base_url": url, "read_timeout": 0.3})
        async with GlmClient(config).running() as client:
            with pytest.raises(ModelTimeout) as caught:
                await client.complete(BODY)
        fake.hold.set()
    assert (
        isinstance(caught.value, ModelTimeout)
        and status_for(caught.value) == 504
        and "timed out" in caught.value.message
    )


async def test_concurrency_is_limited_per_model() -> None:
    in_flight = 0
    peak = 0
    release = anyio.Event()
    arrived = anyio.Event()

    def script(body: dict[str, object]) -> Reply:
        return Reply(content="ok")

    fake = FakeGlm(script)

    async def app(scope: object, receive: object, send: object) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 2:
            arrived.set()
        await release.wait()
        try:
            await fake.app(scope, receive, send)  # pyright: ignore[reportArgumentType]  # starlette's ASGI types against httpx2's
        finally:
            in_flight -= 1

    config = CONFIG.model_copy(update={"max_concurrency": 2})
    async with GlmClient(config, transport=httpx2.ASGITransport(app)).running() as client:
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(client.complete, BODY)
            with anyio.fail_after(5):
                await arrived.wait()
            await anyio.wait_all_tasks_blocked()
            assert in_flight == 2
            release.set()
    assert peak == 2
    assert len(fake.requests) == 5


async def _streamed(fake: FakeGlm) -> tuple[Turn, list[tuple[str, str]]]:
    heard: list[tuple[str, str]] = []

    async def hear(kind: str, text: str) -> None:
        heard.append((kind, text))

    async with GlmClient(CONFIG, transport=httpx2.ASGITransport(fake.app)).running() as client:
        turn = await client.stream(BODY, hear)
    return turn, heard


async def test_a_stream_aborted_by_network_error_is_retried_without_repeating_what_the_reader_has() -> None:
    fake = FakeGlm(
        [Reply(content="The answer is", finish_reason="network_error"), Reply(content="The answer is 4.")],
        generation="2026",
    )
    turn, heard = await _streamed(fake)
    assert turn.content == "The answer is 4."
    content = "".join(text for kind, text in heard if kind == "content")
    assert content == "The answer is 4."
    retries = [json.loads(text) for kind, text in heard if kind == "retry"]
    assert [set(event) for event in retries] == [{"attempt", "reason"}]


async def test_a_retry_whose_text_differs_says_from_where_it_replaces_before_the_new_text() -> None:
    fake = FakeGlm(
        [Reply(content="The answer is", finish_reason="network_error"), Reply(content="The result: 4")],
        generation="2026",
    )
    turn, heard = await _streamed(fake)
    assert turn.content == "The result: 4"
    replaced = [i for i, (kind, text) in enumerate(heard) if kind == "retry" and "replaces" in json.loads(text)]
    assert len(replaced) == 1
    event = json.loads(heard[replaced[0]][1])
    assert event["replaces"] == {"kind": "content", "from_char": len("The ")}
    after = "".join(text for kind, text in heard[replaced[0] + 1 :] if kind == "content")
    assert "The answer is"[:4] + after == "The result: 4"


async def test_an_error_inside_a_200_body_is_reported_as_502_and_a_rate_limit_as_429() -> None:
    def mock(code: str) -> httpx2.MockTransport:
        body = json.dumps({"error": {"code": code, "message": "no"}})
        return httpx2.MockTransport(lambda request: httpx2.Response(200, content=body.encode()))

    for code, status in (("1301", 502), ("1305", 429)):
        async with GlmClient(CONFIG.model_copy(update={"max_retries": 0}), transport=mock(code)).running() as client:
            with pytest.raises(ModelHTTPError) as caught:
                await client.complete(BODY)
        assert (status_for(caught.value), caught.value.upstream_status, caught.value.code) == (status, 200, code)


async def test_streamed_requests_reuse_one_connection_to_the_model() -> None:
    """A stream left unread after `[DONE]` cost every streamed request a new connection (found by the model-hop
    benchmark); the end of the body is now read, and the connection goes back to the pool."""
    fake = FakeGlm(lambda body: Reply(reasoning="Think.", content="A few words of answer."))
    heard: list[str] = []

    async def on_delta(kind: str, text: str) -> None:
        heard.append(text)

    async with serve_asgi(fake.app) as url:
        async with GlmClient(CONFIG.model_copy(update={"base_url": url})).running() as client:
            for _ in range(3):
                turn = await client.stream(BODY, on_delta)
                assert turn.content == "A few words of answer."
            await client.complete(BODY)
    assert len(fake.connections) == 4 and len(set(fake.connections)) == 1


def _escaped_line(**delta: object) -> str:
    """A stream line as a server that escapes non-ASCII text writes it (a lone surrogate becomes `\\ud83d`)."""
    return "data: " + json.dumps({"id": "c1", "model": "glm-4.6", "choices": [{"index": 0, "delta": delta}]})


async def test_half_an_emoji_from_the_model_is_joined_across_reads_or_read_as_a_replacement_character() -> None:
    async def batches() -> AsyncIterator[list[str]]:
        yield [_escaped_line(reasoning_content="Hmm \ud83d")]  # a high half, never followed by its low half
        yield [_escaped_line(content="Smile \ud83d")]  # a pair split between two reads of the connection
        yield [_escaped_line(content="\ude00, cut \ude00 \ud83d")]  # a pair, then two lone halves
        call = {"index": 0, "id": "call_1", "function": {"name": "notes__write", "arguments": '{"t": "\ud83d'}}
        yield [_escaped_line(content="!", tool_calls=[call])]
        more = {"index": 0, "function": {"arguments": '\ude00 \ud83d"}'}}
        yield [_escaped_line(tool_calls=[more]), "data: [DONE]"]

    got: list[tuple[str, str]] = []

    async def on_delta(kind: str, text: str) -> None:
        text.encode()  # every piece handed on is text a client can be sent
        got.append((kind, text))

    turn = (await read_stream(batches(), on_delta)).turn()
    assert "".join(text for kind, text in got if kind == "content") == "Smile \U0001f600, cut \ufffd \ufffd!"
    assert "".join(text for kind, text in got if kind == "reasoning_content") == "Hmm \ufffd"
    assert (turn.content, turn.reasoning_content) == ("Smile \U0001f600, cut \ufffd \ufffd!", "Hmm \ufffd")
    assert turn.tool_calls[0].arguments == '{"t": "\U0001f600 \ufffd"}'  # fragments joined before mending


async def test_half_an_emoji_in_a_whole_answer_is_read_as_a_replacement_character() -> None:
    message = {"role": "assistant", "content": "cut \ud83d", "reasoning_content": "\ude00 \ud83d\ude00"}
    body = json.dumps({"id": "c1", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    async with GlmClient(CONFIG, transport=_replay(body, streamed=False)).running() as client:
        turn = await client.complete(BODY)
    assert (turn.content, turn.reasoning_content) == ("cut \ufffd", "\ufffd \U0001f600")


async def test_an_answer_past_64_mib_is_refused_not_kept_saying_what_to_check() -> None:
    # A base_url that leads to a file server, not a model: its body must not fill the gateway's memory.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def endless(request: Request) -> StreamingResponse:
        streamed = (await request.json()).get("stream")

        async def body() -> AsyncIterator[bytes]:
            yield b"data: " if streamed else b'{"choices": "'
            for _ in range(65):
                yield b"x" * 2**20  # 65 MiB, and never a line end

        return StreamingResponse(body(), media_type="text/event-stream" if streamed else "application/json")

    async def ignore(kind: str, text: str) -> None:
        return None

    app = Starlette(routes=[Route("/v1/chat/completions", endless, methods=["POST"])])
    async with serve_asgi(app) as url, GlmClient(CONFIG.model_copy(update={"base_url": f"{url}/v1"})).running() as c:
        with pytest.raises(ModelResponseError, match="answer is larger than 64 MiB; is model.base_url a model's API"):
            await c.complete(BODY)
        with pytest.raises(ModelResponseError, match="line longer than 64 MiB; is model.base_url a model's API"):
            await c.stream({**BODY, "stream": True}, ignore)
