"""A hand-written MCP server over HTTP (streamable HTTP at `/mcp`, the legacy SSE transport at `/sse`), without the
SDK, to send what the SDK cannot: `cut` answers text holding half of an emoji's surrogate pair, escaped, as a
JavaScript server that cut a string writes it (its JSON written by hand, in small pieces, so the escapes may arrive
split across reads); `huge` answers a JSON body of `HUGE_BYTES`, past what a client should keep of one message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CUT_TEXT = "cut \ud83d, whole \ud83d\ude00"
"""What `cut` answers: a lone high surrogate, then a whole pair (json.dumps escapes both)."""
MENDED_TEXT = "cut \ufffd, whole \U0001f600"
"""What a client should read."""

TOOLS = [
    {"name": "cut", "description": "Answer text with half an emoji.", "inputSchema": {"type": "object"}},
    {"name": "huge", "description": "Answer 17 MiB.", "inputSchema": {"type": "object"}},
]
HUGE_BYTES = 17 * 2**20


def _answer(message: dict[str, Any]) -> dict[str, Any] | None:
    method = message.get("method")
    params: dict[str, Any] = message.get("params") or {}
    if "id" not in message:
        return None
    if method == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "half-emoji", "version": "1"},
        }
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        result = {"content": [{"type": "text", "text": CUT_TEXT}], "isError": False}
    elif method == "ping":
        result = {}
    else:
        return {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": f"no method {method}"}}
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


async def _pieces(text: str) -> AsyncIterator[bytes]:
    data = text.encode()
    for start in range(0, len(data), 5):
        yield data[start : start + 5]
        await anyio.lowlevel.checkpoint()


async def _streamable(request: Request) -> Response:
    message: dict[str, Any] = json.loads(await request.body())
    answer = _answer(message)
    if answer is None:
        return Response(status_code=202)
    headers = {"mcp-session-id": "s1"}
    params: dict[str, Any] = message.get("params") or {}
    if message.get("method") == "tools/call" and params.get("name") == "huge":
        text = "x" * HUGE_BYTES
        huge = {"jsonrpc": "2.0", "id": message["id"], "result": {"content": [{"type": "text", "text": text}]}}
        return JSONResponse(huge, headers=headers)
    if message.get("method") != "tools/call":
        return JSONResponse(answer, headers=headers)
    event = f"event: message\ndata: {json.dumps(answer)}\n\n"
    return StreamingResponse(_pieces(event), media_type="text/event-stream", headers=headers)


class _LegacySse:
    def __init__(self) -> None:
        self.outbox: MemoryObjectSendStream[str] | None = None

    async def stream(self, request: Request) -> Response:
        send, receive = anyio.create_memory_object_stream[str](16)
        self.outbox = send

        async def events() -> AsyncIterator[bytes]:
            yield b"event: endpoint\ndata: /messages?session_id=1\n\n"
            async with send, receive:  # closed when the client goes away
                async for text in receive:
                    async for piece in _pieces(f"event: message\ndata: {text}\n\n"):
                        yield piece

        return StreamingResponse(events(), media_type="text/event-stream")

    async def post(self, request: Request) -> Response:
        answer = _answer(json.loads(await request.body()))
        if answer is not None and self.outbox is not None:
            await self.outbox.send(json.dumps(answer))
        return Response(status_code=202)


def raw_http_app() -> Starlette:
    legacy = _LegacySse()
    return Starlette(
        routes=[
            Route("/mcp", _streamable, methods=["POST"]),
            Route("/sse", legacy.stream, methods=["GET"]),
            Route("/messages", legacy.post, methods=["POST"]),
        ]
    )
