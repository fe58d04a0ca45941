"""What `serve`'s HTTP host writes reaches the client at once, whole and in order, though the writes of one turn of
the event loop leave together (`http/coalescing.py`)."""

from __future__ import annotations

import asyncio  # noqa: TID251  # the transport under uvicorn's protocol is asyncio's own
import contextlib
import socket
import threading

import anyio
import anyio.to_thread
import httpx2
import pytest
from starlette.types import Receive, Scope, Send

from glm_mcp.config import ServeConfig
from glm_mcp.http.coalescing import FLUSH_BYTES, CoalescingTransport
from glm_mcp.http.connection_limits import serve_protocol
from tests.helpers import serve_asgi

PIECES = 300
PIECE = 10_000


async def _start(send: Send, *headers: tuple[bytes, bytes]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain"), *headers]})


async def test_a_streamed_chunk_reaches_the_client_while_its_writer_waits_for_more() -> None:
    go_on = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _start(send)
        await send({"type": "http.response.body", "body": b"first words", "more_body": True})
        await go_on.wait()  # as a stream waits for the model's next bytes
        await send({"type": "http.response.body", "body": b" and the rest", "more_body": False})

    async with serve_asgi(app, protocol=serve_protocol(ServeConfig())) as url, httpx2.AsyncClient() as http:
        async with http.stream("GET", url) as response:
            chunks = response.aiter_raw()
            with anyio.fail_after(10):  # a hang guard: the first words must come while the writer still waits
                first = await anext(chunks)
            assert first == b"first words"
            go_on.set()
            assert b"".join([first] + [chunk async for chunk in chunks]) == b"first words and the rest"


async def test_an_answer_written_in_one_go_arrives_whole_and_in_order() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _start(send)
        for number in range(PIECES):  # 3 MB without giving the loop back between writes, past any buffer kept
            await send({"type": "http.response.body", "body": b"%09d\n" % number * (PIECE // 10), "more_body": True})
        await send({"type": "http.response.body", "body": b"end", "more_body": False})

    async with serve_asgi(app, protocol=serve_protocol(ServeConfig())) as url, httpx2.AsyncClient() as http:
        response = await http.get(url)
    body = response.content
    assert len(body) == PIECES * PIECE + 3 and body.endswith(b"end")
    numbers = [int(line) for line in body[:-3].splitlines()]
    assert numbers == [number for number in range(PIECES) for _ in range(PIECE // 10)]


async def test_an_answer_that_closes_its_connection_sends_every_byte_before_the_close() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _start(send, (b"connection", b"close"))
        await send({"type": "http.response.body", "body": b"the whole answer", "more_body": False})

    async with serve_asgi(app, protocol=serve_protocol(ServeConfig())) as url, httpx2.AsyncClient() as http:
        for _ in range(3):  # each on a new connection, closed by the server right after the answer
            response = await http.get(url)
            assert response.text == "the whole answer" and response.headers["connection"] == "close"


async def test_an_answer_leaves_at_once_though_its_task_goes_on_without_giving_the_loop_back() -> None:
    received = threading.Event()
    waited: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _start(send)
        await send({"type": "http.response.body", "body": b"done", "more_body": False})
        # Work after the answer that holds the loop, as a request's bookkeeping does: the answer must not wait for it.
        waited.append(received.wait(10))

    async with serve_asgi(app, protocol=serve_protocol(ServeConfig())) as url:

        def fetch() -> str:
            text = httpx2.get(url, timeout=30).text
            received.set()
            return text

        assert await anyio.to_thread.run_sync(fetch) == "done"
    assert waited == [True]


async def test_writes_past_the_kept_bytes_reach_the_socket_at_once_so_a_slow_reader_pauses_the_writer() -> None:
    # Bytes kept to the turn's end are out of the real transport's sight: past FLUSH_BYTES they must be handed on
    # within the turn, or a writer that never yields would pile a whole answer up in memory unpaused.
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=ours)
    writes = CoalescingTransport(transport, asyncio.get_running_loop())
    piece = b"x" * (FLUSH_BYTES // 3 + 1)
    try:
        writes.write(piece)
        with pytest.raises(BlockingIOError):  # one piece is kept for the end of the turn
            peer.recv(FLUSH_BYTES)
        writes.write(piece)
        writes.write(piece)  # past FLUSH_BYTES: handed on now, within the same turn
        received = b""
        with contextlib.suppress(BlockingIOError):
            while len(received) < 3 * len(piece):
                received += peer.recv(1 << 20)
        assert received == piece * 3
    finally:
        transport.close()
        peer.close()
