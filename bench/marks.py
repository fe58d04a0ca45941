"""Runs glm-mcp or the GLM mock with time marks, for `bench.model_timeline`.

    python -m bench.marks gateway serve --port P --config F
    python -m bench.marks mock --port P --answer

Each mark is a line `<monotonic seconds> <name>` appended to `$MARKS_FILE`: a POST arriving (`request_in`), the
response's headers and each non-empty body message handed to uvicorn (`headers_out`, `body_out`), and in glm-mcp the
request reaching its app (`app_in`), the request to the model (`model_send`) and each read of its answer (`model_read`). The hooks wrap uvicorn's HTTP
protocol and the model lane; they measure, and change nothing that is measured.
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from typing import Any

_marks = open(os.environ["MARKS_FILE"], "a", buffering=1)  # open for the process's life


def mark(name: str) -> None:
    _marks.write(f"{time.perf_counter()} {name}\n")


def _hook_uvicorn(prefix: str) -> None:
    from uvicorn.protocols.http import httptools_impl as http

    received = http.HttpToolsProtocol.data_received
    sent = http.RequestResponseCycle.send

    def data_received(self: Any, data: bytes) -> None:
        if data.startswith(b"POST"):
            mark(f"{prefix}.request_in")
        received(self, data)

    async def send(self: Any, message: Any) -> None:
        if message["type"] == "http.response.start":
            mark(f"{prefix}.headers_out")
        elif message["type"] == "http.response.body" and message.get("body"):
            mark(f"{prefix}.body_out")
        await sent(self, message)

    http.HttpToolsProtocol.data_received = data_received  # type: ignore[method-assign]
    http.RequestResponseCycle.send = send  # type: ignore[method-assign]


def _hook_app() -> None:
    from glm_mcp.http import app

    called = app.GatewayApp.__call__

    async def marked_call(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            mark("gw.app_in")
        await called(self, scope, receive, send)

    app.GatewayApp.__call__ = marked_call  # type: ignore[method-assign]


def _hook_lane() -> None:
    from glm_mcp.model import lane

    exchange = lane.ModelLane._exchange  # pyright: ignore[reportPrivateUsage]
    receive = lane._receive_into  # pyright: ignore[reportPrivateUsage]

    async def marked_exchange(self: Any, *args: Any) -> Any:
        mark("gw.model_send")
        return await exchange(self, *args)

    async def marked_receive(*args: Any) -> None:
        await receive(*args)
        mark("gw.model_read")

    lane.ModelLane._exchange = marked_exchange  # type: ignore[method-assign]
    lane._receive_into = marked_receive  # pyright: ignore[reportPrivateUsage]


def main() -> None:
    role, rest = sys.argv[1], sys.argv[2:]
    if role == "gateway":
        _hook_uvicorn("gw")
        _hook_app()
        _hook_lane()
        from glm_mcp.cli.main import main as glm_mcp

        sys.argv = ["glm-mcp", *rest]
        glm_mcp()
    else:
        _hook_uvicorn("mock")
        script = os.path.join(os.path.dirname(__file__), "fake_glm_server.py")
        sys.argv = [script, *rest]
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
