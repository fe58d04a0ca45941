"""The MCP face over stdio: the editor's stdin read in the event loop, so `stdio` stops at once when it must."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, cast

import anyio
from mcp.server.stdio import stdio_server

from glm_mcp.agent.loop import Agent
from glm_mcp.faces.mcp.first_answer import FirstAnswer
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway


class _StdinLines:
    """The editor's lines on a non-blocking descriptor, read in the event loop: unlike the SDK's default (a worker
    thread blocked in `read`), waiting for the next line can be cancelled, so `stdio` stops at once when the gateway
    must (a config error, a signal), not when the editor next writes."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self._ended = False

    def __aiter__(self) -> _StdinLines:
        return self

    async def __anext__(self) -> str:
        while b"\n" not in self._pending and not self._ended:
            await anyio.wait_readable(self._fd)
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                continue
            self._ended = not chunk
            self._pending += chunk
        if not self._pending:
            raise StopAsyncIteration
        line, newline, self._pending = self._pending.partition(b"\n")
        return (line + newline).decode("utf-8", "replace")


@contextmanager
def _claimed_stdin() -> Generator[_StdinLines | None, None, None]:
    """The editor's stdin as `_StdinLines` on a private descriptor, fd 0 pointing at the null device meanwhile (so
    nothing else in the process reads the editor's messages); None where stdin cannot be waited on (a regular
    file), which the SDK then reads its own way."""
    try:
        if stat.S_ISREG(os.fstat(0).st_mode):
            yield None
            return
        private = os.dup(0)
    except OSError:
        yield None
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.set_blocking(private, False)
    try:
        yield _StdinLines(private)
    finally:
        os.dup2(private, 0)
        os.close(private)


class _AfterFirstAnswer:
    """The editor's stdout for the SDK, once `first_answer` answered its `initialize`: the SDK's own answer to it is
    left out, everything else written as the SDK's transport writes it."""

    def __init__(self, first: FirstAnswer) -> None:
        self._first = first
        self._file = anyio.wrap_file(io.TextIOWrapper(os.fdopen(first.stdout, "wb", closefd=False), encoding="utf-8"))

    async def write(self, text: str) -> int:
        return await self._file.write(text) if self._first.filtered(text) else len(text)

    async def flush(self) -> None:
        await self._file.flush()


async def serve_stdio(gateway: Gateway, agent: Agent | None = None, first: FirstAnswer | None = None) -> None:
    """Serve the catalog on this process's stdin and stdout until the editor closes them; with `first`, on the
    stdio it claimed (the editor's `initialize` may have been answered already)."""
    server = build_server(gateway, agent)
    if first is not None:
        lines, out = _StdinLines(first.stdin), _AfterFirstAnswer(first)
        async with stdio_server(stdin=cast(Any, lines), stdout=cast(Any, out)) as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    with _claimed_stdin() as lines:
        async with stdio_server(stdin=cast(Any, lines)) as (read, write):
            await server.run(read, write, server.create_initialization_options())
