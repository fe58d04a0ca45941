"""The model lane (`model/lane.py`) over real sockets: kept connections, servers that close them, TLS with the system's
trust and `SSL_CERT_FILE`, compressed answers, and a proxy from the environment (then httpx2 carries the request)."""

from __future__ import annotations

import base64
import gzip
import json
import socket
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
from pydantic import SecretStr

from glm_mcp.config import ModelConfig
from glm_mcp.errors import ModelHTTPError, ModelUnreachable
from glm_mcp.model.client import GlmClient
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import serve_asgi
from tests.tls import self_signed

BODY = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}

AnswerFnT = Callable[[int, bytes], tuple[bytes, bool]]
"""(connection number, request head) -> (raw HTTP answer, whether to close the connection after it)."""


def _config(url: str) -> ModelConfig:
    return ModelConfig(base_url=url, api_key=SecretStr("k-123"), name="glm-4.6", max_retries=0, read_timeout=10)


def _http(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@asynccontextmanager
async def raw_server(answer: AnswerFnT) -> AsyncGenerator[tuple[str, list[bytes]], None]:
    """A hand-driven HTTP/1.1 server on 127.0.0.1: each request's head is recorded, and answered as `answer` says.
    Yields its URL and the heads it received."""
    heads: list[bytes] = []
    connections = [0]

    async def serve(stream: anyio.abc.SocketStream) -> None:
        connections[0] += 1
        number = connections[0]
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(buffer) < length:
                    buffer += await stream.receive()
                buffer = buffer[length:]
                heads.append(head)
                raw, close = answer(number, head)
                await stream.send(raw)
                if close:
                    return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}/v4", heads
        tg.cancel_scope.cancel()


async def test_a_connection_the_server_closed_after_an_answer_is_replaced_by_a_new_one() -> None:
    seen: list[int] = []

    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        seen.append(connection)
        return _http(json.dumps(ANSWER).encode()), True  # kept alive by its headers, yet closed: the race a pool meets

    async with raw_server(answer) as (url, heads), GlmClient(_config(url)).running() as client:
        turns = [await client.complete(BODY) for _ in range(3)]
    assert [turn.content for turn in turns] == ["hello"] * 3
    assert seen == [1, 2, 3] and len(heads) == 3


async def test_answers_that_keep_the_connection_share_one_and_connection_close_is_obeyed() -> None:
    seen: list[int] = []

    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        seen.append(connection)
        closing = len(seen) == 2
        return _http(json.dumps(ANSWER).encode(), *(["Connection: close"] if closing else [])), closing

    async with raw_server(answer) as (url, _), GlmClient(_config(url)).running() as client:
        for _ in range(4):
            assert (await client.complete(BODY)).content == "hello"
    assert seen == [1, 1, 2, 2]


async def test_an_answer_without_a_length_is_read_to_the_close_and_a_cut_chunked_one_is_an_error() -> None:
    whole = json.dumps(ANSWER).encode()

    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        if connection == 1:  # an HTTP/1.0-style body: no length, no chunks, ended by the close
            return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + whole, True
        chunk = f"{len(whole):x}\r\n".encode() + whole[:10]  # a chunk cut short, then the close
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk, True

    async with raw_server(answer) as (url, _), GlmClient(_config(url)).running() as client:
        assert (await client.complete(BODY)).content == "hello"
        with pytest.raises(ModelUnreachable) as cut:
            await client.complete(BODY)
    assert "closed before the answer ended" in cut.value.message


async def test_a_reload_reaches_the_new_endpoint_with_the_new_key_and_a_new_key_alone_keeps_the_connection() -> None:
    seen: list[tuple[str, int, str]] = []

    def answering(name: str) -> AnswerFnT:
        def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
            key = next(line for line in head.decode().split("\r\n") if line.lower().startswith("authorization"))
            seen.append((name, connection, key.split()[-1]))
            return _http(json.dumps(ANSWER).encode()), False

        return answer

    async with raw_server(answering("a")) as (first, _), raw_server(answering("b")) as (second, _):
        client = GlmClient(_config(first))
        async with client.running():
            await client.complete(BODY)
            client.reconfigure(_config(second).model_copy(update={"api_key": SecretStr("k-456")}))
            await client.complete(BODY)
            client.reconfigure(_config(second).model_copy(update={"api_key": SecretStr("k-789")}))
            await client.complete(BODY)
    assert seen == [("a", 1, "k-123"), ("b", 1, "k-456"), ("b", 1, "k-789")]


async def test_a_gzip_compressed_answer_is_read() -> None:
    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        assert b"accept-encoding: gzip, deflate" in head.lower()
        return _http(gzip.compress(json.dumps(ANSWER).encode()), "Content-Encoding: gzip"), False

    async with raw_server(answer) as (url, _), GlmClient(_config(url)).running() as client:
        assert (await client.complete(BODY)).content == "hello"


async def test_the_request_carries_the_key_the_path_and_the_json_body() -> None:
    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        return _http(json.dumps(ANSWER).encode()), False

    async with raw_server(answer) as (url, heads), GlmClient(_config(url)).running() as client:
        await client.complete(BODY)
    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "POST /v4/chat/completions HTTP/1.1"
    assert {"authorization: bearer k-123", "content-type: application/json"} <= {line.lower() for line in lines}
    assert f"Host: {url.split('//')[1].split('/')[0]}" in lines


async def test_a_proxy_named_in_the_environment_carries_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        return _http(json.dumps(ANSWER).encode()), False

    async with raw_server(answer) as (proxy, heads):
        monkeypatch.setenv("HTTP_PROXY", proxy.removesuffix("/v4"))
        async with GlmClient(_config("http://glm.invalid/api/paas/v4")).running() as client:
            assert (await client.complete(BODY)).content == "hello"
    assert heads[0].startswith(b"POST http://glm.invalid/api/paas/v4/chat/completions HTTP/1.1")


async def test_credentials_in_the_url_go_as_basic_auth_through_httpx2() -> None:
    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        return _http(json.dumps(ANSWER).encode()), False

    async with raw_server(answer) as (url, heads):
        config = _config(url.replace("http://", "http://ada:secret@")).model_copy(update={"api_key": None})
        async with GlmClient(config).running() as client:
            assert (await client.complete(BODY)).content == "hello"
    assert b"authorization: basic " + base64.b64encode(b"ada:secret").lower() in heads[0].lower()


async def test_an_https_model_is_verified_against_ssl_cert_file_and_refused_when_untrusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    fake = FakeGlm(lambda body: Reply(content="over TLS"))
    async with serve_asgi(fake.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        async with GlmClient(_config(url)).running() as client:
            turns = [await client.complete(BODY), await client.complete(BODY)]
        monkeypatch.delenv("SSL_CERT_FILE")  # the system's trust, which has never heard of this certificate
        async with GlmClient(_config(url)).running() as client:
            with pytest.raises(ModelUnreachable) as refused:
                await client.complete(BODY)
    assert [turn.content for turn in turns] == ["over TLS", "over TLS"]
    assert len(set(fake.connections)) == 1  # one TLS connection, kept
    assert "CERTIFICATE_VERIFY_FAILED" in refused.value.message and url in refused.value.message


async def test_a_request_larger_than_the_socket_buffers_arrives_whole_as_the_json_sent() -> None:
    fake = FakeGlm(lambda body: Reply(content=f"read {len(body['messages'][0]['content'])} characters"))
    long_text = "ünïcödé and 漢字 " * 200_000  # 3.6 MB encoded: written in many sends, waiting while the socket is full
    body = {"model": "glm-4.6", "messages": [{"role": "user", "content": long_text}]}
    async with serve_asgi(fake.app) as url, GlmClient(_config(url)).running() as client:
        turn = await client.complete(body)
    assert turn.content == f"read {len(long_text)} characters"
    assert fake.requests[0]["messages"] == body["messages"] and fake.requests[0]["model"] == "glm-4.6"


async def test_a_model_endpoint_nobody_listens_on_is_unreachable_naming_it() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v4"
    async with GlmClient(_config(url)).running() as client:
        with pytest.raises(ModelUnreachable) as refused:
            await client.complete(BODY)
    assert "ConnectError" in refused.value.message and url in refused.value.message


def _sse(*events: dict[str, object] | str) -> bytes:
    """A chunked SSE answer, one HTTP chunk per event (as GLM sends them); a string event goes as it is."""
    parts = [f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode() for event in events]
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head.encode() + b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in parts) + b"0\r\n\r\n"


def _delta(**delta: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta}]}


async def test_a_stream_arriving_in_one_packet_is_handed_on_in_order_and_its_text_before_an_error_is_kept() -> None:
    answers = [
        _sse(_delta(reasoning_content="Think"), _delta(reasoning_content="ing."), _delta(content="Hel"),
             _delta(content="lo"), {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, "[DONE]"),
        _sse(_delta(content="Half an ans"), _delta(content="wer"), {"error": {"code": "1234", "message": "cut"}}),
    ]  # fmt: skip

    def answer(connection: int, head: bytes) -> tuple[bytes, bool]:
        return answers.pop(0), False  # each whole stream in one send: one read of the gateway's

    got: list[tuple[str, str]] = []

    async def on_delta(kind: str, text: str) -> None:
        got.append((kind, text))

    async with raw_server(answer) as (url, _), GlmClient(_config(url)).running() as client:
        turn = await client.stream({**BODY, "stream": True}, on_delta)
        assert (turn.reasoning_content, turn.content, turn.finish_reason) == ("Thinking.", "Hello", "stop")
        kinds = [kind for position, (kind, _) in enumerate(got) if position == 0 or got[position - 1][0] != kind]
        assert kinds == ["reasoning_content", "content"]  # the reasoning first, as GLM sent it
        assert "".join(text for _, text in got) == "Thinking.Hello"
        got.clear()
        with pytest.raises(ModelHTTPError) as failed:
            await client.stream({**BODY, "stream": True}, on_delta)
    assert failed.value.code == "1234" and "".join(text for _, text in got) == "Half an answer"
