"""Fast checks that fail loudly the day a `uvicorn` upgrade moves an internal the gateway relies on.

`uvicorn` is pinned to the minor version these were checked against (`pyproject.toml`); each internal is used in
one place only:
- `HostServer` (`http/server.py`) replaces `main_loop` and `shutdown` and reads `servers`, `server_state.connections`
  and `.tasks`, `connection.shutdown()`, `lifespan` and `on_tick`; if they moved, `serve` would stop slowly, cut
  calls short without warning, or never refresh its Date header;
- the connection bounds (`http/connection_limits.py`) subclass the httptools protocol and hook `connection_made`,
  `on_message_begin`, `on_headers_complete`, `on_response_complete` and `connection_lost`, reading `connections`,
  `transport` and `loop`;
  if those moved, the flood protection would silently go;
- a `receive()` waiting when the response completes returns `http.disconnect` (`faces/openai/app.py` lets a chat
  request's disconnect listener end that way instead of cancelling it); if that changed, every chat request on a
  kept-alive connection would hang after its answer.
"""

from __future__ import annotations

import inspect
import logging
import socket
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from glm_mcp.http.server import HostServer, listening_socket


def test_the_server_methods_and_state_the_host_server_uses_are_still_there() -> None:
    for name in ("main_loop", "shutdown", "on_tick", "startup", "serve"):
        assert inspect.iscoroutinefunction(getattr(uvicorn.Server, name)), name
    assert "sockets" in inspect.signature(uvicorn.Server.shutdown).parameters
    assert "counter" in inspect.signature(uvicorn.Server.on_tick).parameters
    state = uvicorn.Server(uvicorn.Config(Starlette())).server_state
    assert isinstance(state.connections, set) and isinstance(state.tasks, set)
    assert isinstance(state.default_headers, list)


async def test_the_protocol_hooks_the_connection_bounds_override_are_still_there() -> None:
    for name in (
        "connection_made",
        "on_message_begin",
        "on_headers_complete",
        "on_response_complete",
        "connection_lost",
        "shutdown",
    ):
        assert callable(getattr(HttpToolsProtocol, name)), name
    state = ServerState()
    protocol = HttpToolsProtocol(uvicorn.Config(Starlette()), state, {})
    assert protocol.connections is state.connections and protocol.loop is not None


async def _serve_until_stopped(server: HostServer, sock: socket.socket, done: anyio.Event) -> None:
    try:
        await server.serve([sock])
    finally:
        done.set()


async def test_a_stop_lets_a_request_in_flight_finish_then_runs_the_lifespan_shutdown() -> None:
    release, started = anyio.Event(), anyio.Event()
    stopped_app = anyio.Event()

    async def slow(request: Request) -> PlainTextResponse:
        started.set()
        await release.wait()
        return PlainTextResponse("finished")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None, None]:
        yield
        stopped_app.set()

    sock = listening_socket("127.0.0.1", 0)
    app = Starlette(routes=[Route("/slow", slow)], lifespan=lifespan)
    server = HostServer(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    answers: list[str] = []
    done = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_serve_until_stopped, server, sock, done)
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:

            async def ask() -> None:
                answers.append((await http.get("/slow")).text)

            tg.start_soon(ask)
            await started.wait()
            server.stop()
            await anyio.wait_all_tasks_blocked()
            assert not stopped_app.is_set()  # the request in flight holds the shutdown
            release.set()
            with anyio.fail_after(20):  # hang guard
                await done.wait()
    sock.close()
    assert answers == ["finished"] and stopped_app.is_set()


async def test_a_request_still_running_after_the_grace_period_is_cut_short_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = anyio.Event()

    async def forever(request: Request) -> PlainTextResponse:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    sock = listening_socket("127.0.0.1", 0)
    server = HostServer(
        uvicorn.Config(Starlette(routes=[Route("/forever", forever)]), log_level="warning", timeout_graceful_shutdown=1)
    )
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    caplog.set_level(logging.WARNING, logger="glm_mcp.http.server")
    done = anyio.Event()
    outcomes: list[int | str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_serve_until_stopped, server, sock, done)
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:

            async def ask() -> None:
                try:
                    outcomes.append((await http.get("/forever")).status_code)
                except httpx2.HTTPError as exc:
                    outcomes.append(type(exc).__name__)

            tg.start_soon(ask)
            await started.wait()
            server.stop()
            with anyio.fail_after(20):  # hang guard
                await done.wait()
    sock.close()
    assert any(
        "1 call(s) still running after the 1 s grace period were cut short" in r.getMessage() for r in caplog.records
    )


async def test_a_receive_waiting_when_the_response_completes_returns_a_disconnect() -> None:
    heard: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive())["more_body"]:
            pass
        async with anyio.create_task_group() as tg:

            async def listen() -> None:
                heard.append((await receive())["type"])

            tg.start_soon(listen)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

    sock = listening_socket("127.0.0.1", 0)
    server = HostServer(uvicorn.Config(app, log_level="warning"))
    done = anyio.Event()
    answers: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_serve_until_stopped, server, sock, done)
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=10) as http:
            answers += [(await http.post("/", content=b"x")).text, (await http.post("/", content=b"y")).text]
        server.stop()
        with anyio.fail_after(20):  # hang guard
            await done.wait()
    sock.close()
    assert (answers, heard) == (["ok", "ok"], ["http.disconnect", "http.disconnect"])
