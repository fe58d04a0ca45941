"""A model hop without uvicorn: the least any Python relay on uvloop can add, for comparison with the relay floor.

    python bench/raw_relay.py <model port on 127.0.0.1> <port>

An asyncio protocol that parses each request with httptools, sends its body to the model on one kept connection,
and writes the model's answer bytes back as they arrive, framing and all. No ASGI, no headers read, one client at a
time. Measured beside `bench/relay_floor.py` (the same relay on `serve`'s uvicorn stack), the difference is what
uvicorn's per-request machinery costs; the gap between the floor and glm-mcp is the gateway's own work.
"""

from __future__ import annotations

import asyncio  # noqa: TID251  # a protocol below any ASGI server: asyncio's own
import socket
import sys
from typing import cast

import httptools
import uvloop


class _Model(asyncio.Protocol):
    """The kept connection to the model; relays each answer's bytes to the client of the moment."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.client: asyncio.Transport | None = None
        self.done: asyncio.Future[None] | None = None
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.client is not None
        self.client.write(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        if self.done is not None:
            self.done.set_result(None)


class _Client(asyncio.Protocol):
    model: _Model | None = None
    model_port = 0

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        asyncio.get_running_loop().create_task(self._relay(body))

    async def _relay(self, body: bytes) -> None:
        loop = asyncio.get_running_loop()
        if _Client.model is None:
            _, _Client.model = await loop.create_connection(_Model, "127.0.0.1", _Client.model_port)
        model = _Client.model
        assert model.transport is not None
        model.client, model.done = self.transport, loop.create_future()
        head = b"POST /chat/completions HTTP/1.1\r\nHost: model\r\nContent-Type: application/json\r\n"
        model.transport.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await model.done


async def _serve(port: int) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    server = await asyncio.get_running_loop().create_server(_Client, sock=listener)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    _Client.model_port = int(sys.argv[1])
    uvloop.run(_serve(int(sys.argv[2])))
