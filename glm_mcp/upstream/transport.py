"""Opening the transport to one configured server, and noticing when it closes.

Contract:
- `open_transport` yields the SDK's (read, write) streams for a stdio, streamable-HTTP, SSE or in-process server;
- the yielded read stream sets `closed` when the server's side ends (a process exit, a dropped stream),
  which the SDK's `Client` does not report by itself;
- a stdio server's stderr is forwarded line by line to the log, and its last lines are kept for error messages;
- a stdio server's stdout is handed to the SDK one whole line at a time (the SDK joins partial chunks by string
  concatenation, quadratic in a long line), and a line longer than `MAX_STDOUT_LINE_CHARS` ends the session:
  the server is stopped and reported, instead of a core spent joining an endless line;
- a stdio server's bytes that are not UTF-8 are read as U+FFFD;
- a lone surrogate escape in what a server sends (half of an emoji, as a JavaScript server that cut a string writes
  it) reaches the SDK as U+FFFD, on every transport: the SDK's parser refuses the whole message otherwise, and the
  request it answers would wait for its timeout. Each server's first such answer is logged.
"""

from __future__ import annotations

import collections
import logging
import os
import shlex
import shutil
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TextIO

import anyio
import httpx2
import mcp.client.stdio
from anyio.streams.text import TextReceiveStream
from mcp import StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage

from glm_mcp import telemetry
from glm_mcp._json import mend_escapes
from glm_mcp.config import (
    BundledUpstreamConfig,
    HttpUpstreamConfig,
    InProcessUpstreamConfig,
    StdioUpstreamConfig,
    UpstreamConfig,
)
from glm_mcp.redact import printable, scrub
from glm_mcp.upstream.mending import MendingTransport, mended_once

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
"""How many of a stdio server's last stderr lines are kept to explain a failure."""

_MAX_STDERR_LINE = 2_000

MAX_STDOUT_LINE_CHARS = 16 * 2**20
"""The longest JSON-RPC message a stdio server may write (one line); a longer one stops the server."""


@dataclass(frozen=True)
class _Reports:
    """What a stdio server's stdout reader reports, and to whom (the server's log lines)."""

    long_line: Callable[[], None]
    stray_line: Callable[[str], None]
    mended: Callable[[], None]


_REPORTS: ContextVar[_Reports | None] = ContextVar("glm_mcp_stdout_reports", default=None)


def _without_stray_lines(text: str) -> str:
    """`text` (whole lines) without the lines that cannot be JSON-RPC (a banner, a `print`): each is reported once
    as a warning naming the server, instead of a traceback from the SDK's parser."""
    if all(line.lstrip().startswith("{") for line in text.splitlines() if line.strip()):
        return text  # the common case, checked without splitting more than once
    reports = _REPORTS.get()
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        if not line.strip() or line.lstrip().startswith("{"):
            kept.append(line)
        elif reports is not None:
            reports.stray_line(line.rstrip())
    return "".join(kept)


def _mended(text: str) -> str:
    mended = mend_escapes(text)
    if mended is not text and (reports := _REPORTS.get()) is not None:
        reports.mended()
    return mended


class _WholeLines(TextReceiveStream):
    """The SDK's stdout text stream, handing on whole lines only, and refusing one past the limit.

    The SDK builds this class from its module's name inside `stdio_client`, in a task that inherits the context
    of `_stdio` below; `install_line_limit` puts it there (checked by a test against SDK upgrades).
    """

    _parts: list[str]
    _size: int

    async def receive(self) -> str:
        parts = getattr(self, "_parts", None)
        if parts is None:
            parts = self._parts = []
            self._size = 0
        while True:
            chunk = await super().receive()
            end = chunk.rfind("\n")
            if end >= 0:
                whole = _mended(_without_stray_lines("".join([*parts, chunk[: end + 1]])))
                parts.clear()
                rest = chunk[end + 1 :]
                if rest:
                    parts.append(rest)
                self._size = len(rest)
                if whole.strip():
                    return whole
                continue
            parts.append(chunk)
            self._size += len(chunk)
            if self._size > MAX_STDOUT_LINE_CHARS:
                parts.clear()
                if (reports := _REPORTS.get()) is not None:
                    reports.long_line()
                # Closing the pipe ends the SDK's drain of the rest too; the server then meets a closed pipe.
                await self.transport_stream.aclose()
                raise anyio.EndOfStream


def install_line_limit() -> None:
    """Make the SDK's stdio client read through `_WholeLines` (process-wide; idempotent; done before the first
    stdio server starts)."""
    if getattr(mcp.client.stdio, "TextReceiveStream", None) is not _WholeLines:
        setattr(mcp.client.stdio, "TextReceiveStream", _WholeLines)  # noqa: B010


TransportStreams = tuple[Any, Any]
"""The (read, write) stream pair an SDK transport yields."""


class Receiving(Protocol):
    """What a read stream offers the wrappers below."""

    async def receive(self) -> SessionMessage | Exception: ...

    async def aclose(self) -> None: ...


class ReadStreamWrapper:
    """A read stream around another, for the SDK's dispatcher: subclasses change `receive`, the rest is the
    stream protocol, delegated."""

    def __init__(self, inner: Receiving) -> None:
        self._inner = inner

    async def receive(self) -> SessionMessage | Exception:
        return await self._inner.receive()

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


class _WatchedReadStream(ReadStreamWrapper):
    """A read stream that sets an event at end of stream."""

    def __init__(self, inner: Receiving, closed: anyio.Event) -> None:
        super().__init__(inner)
        self._closed = closed

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._closed.set()
            raise

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)


class StderrTail:
    """The last lines a stdio server wrote to stderr; for an HTTP server, its last error answer."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.http_error: str | None = None

    async def heard(self, response: httpx2.Response) -> None:
        """An HTTP response hook: keeps the last error status (a 401 says more than the SDK's -32603)."""
        if response.status_code >= 400:
            self.http_error = f"HTTP {response.status_code} {response.reason_phrase} from {response.request.url}"

    def text(self) -> str:
        return "\n".join(self.lines)

    def useful(self, last: int = 3) -> str:
        """The lines that explain a failure best: the first that speaks of an error (a traceback's last line
        often does not), then the last few, joined by ` | `."""
        lines = list(self.lines)
        first_error = next((line for line in lines if "error" in line.lower()), None)
        chosen = lines[-last:]
        if first_error is not None and first_error not in chosen:
            chosen = [first_error, "…", *chosen]
        return " | ".join(chosen)


async def _pump_stderr(fd: int, server: str, tail: StderrTail) -> None:
    server_logger = logging.getLogger(f"glm_mcp.servers.{server}")
    pending = b""
    try:
        while True:
            await anyio.wait_readable(fd)
            try:
                chunk = os.read(fd, 65_536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = printable(scrub(raw.decode("utf-8", "replace").rstrip()[:_MAX_STDERR_LINE]))
                if line:
                    tail.lines.append(line)
                    server_logger.info("%s", line)
            pending = pending[-_MAX_STDERR_LINE:]
    finally:
        os.close(fd)


def _command_line(config: StdioUpstreamConfig) -> tuple[str, list[str]]:
    """The command to spawn: on Linux under `setpriv --pdeathsig KILL`, so the child dies with the gateway.

    A gateway killed with SIGKILL cannot end its children; the kernel does it for us.

    Raises:
        FileNotFoundError: The command is not found (checked here, since setpriv would hide it).
    """
    path = config.env.get("PATH") or os.environ.get("PATH")
    cwd = config.cwd or os.getcwd()
    command = config.command
    if os.sep not in command:
        found = shutil.which(command, path=path)
        if found is None:
            raise FileNotFoundError(2, "No such file or directory", command)
        command = found
    elif not os.path.exists(os.path.join(cwd, command)):
        raise FileNotFoundError(2, "No such file or directory", command)
    if sys.platform == "linux" and _SETPRIV is not None:
        return _SETPRIV, ["--pdeathsig", "KILL", "--", command, *config.args]
    return command, list(config.args)


_SETPRIV = shutil.which("setpriv")


@asynccontextmanager
async def _stdio(config: StdioUpstreamConfig, server: str, tail: StderrTail) -> AsyncGenerator[TransportStreams, None]:
    install_line_limit()
    command, args = _command_line(config)
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    errlog: TextIO = os.fdopen(write_fd, "w")
    env = {**config.inherited, **config.env}
    # Bytes that are not UTF-8 (a server writing Latin-1) are read as U+FFFD: strict decoding ended the session,
    # and the call it answered waited for its timeout.
    params = StdioServerParameters(
        command=command, args=args, env=env, cwd=config.cwd, encoding_error_handler="replace"
    )
    logger.debug(
        "server '%s': spawning %s in %s (environment: the defaults and %s)",
        server,
        shlex.join([command, *args]),
        config.cwd or os.getcwd(),
        ", ".join(sorted(env)) or "nothing more",
    )

    def long_line() -> None:
        message = f"[glm-mcp] the server wrote a stdout line longer than {MAX_STDOUT_LINE_CHARS} characters; stopped"
        tail.lines.append(message)
        logger.error("server '%s': %s", server, message.removeprefix("[glm-mcp] "))

    def stray_line(line: str) -> None:
        shown = printable(scrub(line[:300]))
        tail.lines.append(f"[stdout, not JSON-RPC] {shown}")
        logger.warning(
            "server '%s' printed a line on stdout that is not MCP (it should log to stderr); ignored: %s", server, shown
        )

    _REPORTS.set(_Reports(long_line, stray_line, mended_once(server)))
    async with anyio.create_task_group() as tg:
        tg.start_soon(_pump_stderr, read_fd, server, tail)
        try:
            async with stdio_client(params, errlog=errlog) as streams:
                # The child holds its own copy; ours must go or the pump never sees end of file.
                errlog.close()
                yield streams
        finally:
            if not errlog.closed:
                errlog.close()


async def _traced(request: httpx2.Request) -> None:
    """Pass the current trace on to an HTTP server (`traceparent`; nothing when tracing is off)."""
    telemetry.inject(request.headers)


def _in_process(config: InProcessUpstreamConfig | BundledUpstreamConfig) -> Any:
    """The server object to speak to in memory: the configured one, or the bundled server set up with its args.

    Raises:
        OSError: A bundled server's `args` are not its own (said like a command that cannot start).
    """
    if isinstance(config, InProcessUpstreamConfig):
        return config.server
    from servers import ArgumentsError, bundled_server  # the bundled servers' modules load with their first use

    try:
        return bundled_server(config.bundled, config.args)
    except ArgumentsError as exc:
        raise OSError(f"the bundled {config.bundled} server's args: {exc}") from None


@asynccontextmanager
async def open_transport(
    config: UpstreamConfig, server: str, closed: anyio.Event, tail: StderrTail, auth: httpx2.Auth | None = None
) -> AsyncGenerator[TransportStreams, None]:
    """Open the streams to `server` as configured; `closed` is set when the server's side ends.

    A stdio server's stderr lines land in `tail`; an HTTP server's requests go through `auth` (its OAuth client).

    Raises:
        OSError: A stdio command cannot be started.
        httpx2.HTTPError: An HTTP server cannot be reached (possibly inside an ExceptionGroup).
    """
    async with AsyncExitStack() as stack:
        if isinstance(config, StdioUpstreamConfig):
            read, write = await stack.enter_async_context(_stdio(config, server, tail))
        elif isinstance(config, HttpUpstreamConfig):
            mending = MendingTransport(mended_once(server))
            if config.type == "sse":

                def sse_http(
                    headers: dict[str, str] | None = None,
                    timeout: httpx2.Timeout | None = None,
                    auth: httpx2.Auth | None = None,
                ) -> httpx2.AsyncClient:
                    return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=mending)

                read, write = await stack.enter_async_context(
                    sse_client(config.url, headers=dict(config.headers), auth=auth, httpx_client_factory=sse_http)
                )
            else:
                http = await stack.enter_async_context(
                    httpx2.AsyncClient(
                        headers=dict(config.headers),
                        timeout=httpx2.Timeout(30, read=300),
                        auth=auth,
                        event_hooks={"request": [_traced], "response": [tail.heard]},
                        transport=mending,
                    )
                )
                read, write = await stack.enter_async_context(streamable_http_client(config.url, http_client=http))
        else:
            # In-process servers (tests, embedding, the bundled ones) are spoken to in memory; the SDK keeps that
            # transport in a private module (`tests/upstream/test_sdk_seams.py` checks it is still there).
            from mcp.client._memory import InMemoryTransport

            read, write = await stack.enter_async_context(InMemoryTransport(_in_process(config)))
        yield _WatchedReadStream(read, closed), write
