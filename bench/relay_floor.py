"""The floor of a model hop on glm-mcp's HTTP stack: the least a gateway built on it can do.

    python bench/relay_floor.py <model base URL> <port>

An ASGI app on uvicorn with `glm-mcp serve`'s own HTTP protocol (httptools, uvloop, its connection bounds and
write coalescing) that relays each POST's bytes to the model
through glm-mcp's model lane and the answer's bytes back as they come. It reads nothing: no token, no request, no
answer, no tool offer. `bench.model_hop` measures it beside glm-mcp, so what glm-mcp adds over it is the cost of
its own work, and what it adds over a direct request is the cost of the stack.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from starlette.types import Receive, Scope, Send

from glm_mcp.config import ServeConfig
from glm_mcp.http.connection_limits import serve_protocol
from glm_mcp.model.lane import ModelLane


def relay(base_url: str) -> object:
    lane = ModelLane(base_url, connect_timeout=5, read_timeout=60, keep=16)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await lane.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        async with lane.post("chat/completions", body, [("Authorization", "Bearer bench")]) as answer:
            kind = answer.headers.get("content-type", "application/json").encode()
            await send(
                {"type": "http.response.start", "status": answer.status_code, "headers": [(b"content-type", kind)]}
            )
            async for chunk in answer.aiter_bytes():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


if __name__ == "__main__":
    uvicorn.run(
        relay(sys.argv[1]),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http=serve_protocol(ServeConfig()),
        log_level="warning",
        access_log=False,
    )
