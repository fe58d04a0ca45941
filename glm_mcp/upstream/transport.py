"""Opening the transport to one configured server, and noticing when it closes.

Contract:
- `open_transport` yields the SDK's (read, write) streams for a stdio, streamable-HTTP, SSE or in-process server;
- the yielded read stream sets `closed` when the server's side ends (a process exit, a dropped stream),
  which the SDK's `Client` does not report by itself;
- a stdio server's stderr is forwarded line by line to the log, and its last lines are kept for error messages;
- a stdio server's bytes that are not UTF-8 are read as U+FFFD;
- what every server sends is read whole, within bounds, and mended where the SDK's parser would refuse it (see
  `upstream.inbound`).
"""

from __future__ import annotations

import collections
import logging
import os
import shlex
import shutil
import sys
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Protocol, Self, TextIO

import anyio
import httpx2
from mcp import StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage

from glm_mcp import telemetry
from glm_mcp.config import (
    BundledUpstreamConfig,
    HttpUpstreamConfig,
    InProcessUpstreamConfig,
    StdioUpstreamConfig,
    UpstreamConfig,
)
from glm_mcp.redact import printable, scrub
from glm_mcp.upstream.inbound import MAX_MESSAGE_CHARS, InboundTransport, install_limits, mended_once, report_to

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
"""How many of a stdio server's last stderr lines are kept to explain a failure."""

_MAX_STDERR_LINE = 2_000

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
        message = f"[glm-mcp] the server wrote a stdout line longer than {MAX_MESSAGE_CHARS} characters; stopped"
        tail.lines.append(message)
        logger.error("server '%s': %s", server, message.removeprefix("[glm-mcp] "))

    def stray_line(line: str) -> None:
        shown = printable(scrub(line[:300]))
        tail.lines.append(f"[stdout, not JSON-RPC] {shown}")
        logger.warning(
            "server '%s' printed a line on stdout that is not MCP (it should log to stderr); ignored: %s", server, shown
        )

    report_to(long_line, stray_line, mended_once(server))
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
    install_limits()
    async with AsyncExitStack() as stack:
        if isinstance(config, StdioUpstreamConfig):
            read, write = await stack.enter_async_context(_stdio(config, server, tail))
        elif isinstance(config, HttpUpstreamConfig):
            inbound = InboundTransport(mended_once(server))
            if config.type == "sse":

                def sse_http(
                    headers: dict[str, str] | None = None,
                    timeout: httpx2.Timeout | None = None,
                    auth: httpx2.Auth | None = None,
                ) -> httpx2.AsyncClient:
                    return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=inbound)

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
                        transport=inbound,
                    )
                )
                # A result past the SDK's default (1 MiB per event) failed as "event too large".
                answers = streamable_http_client(config.url, http_client=http, max_sse_event_size=MAX_MESSAGE_CHARS)
                read, write = await stack.enter_async_context(answers)
        else:
            # In-process servers (tests, embedding, the bundled ones) are spoken to in memory; the SDK keeps that
            # transport in a private module (`tests/upstream/test_sdk_seams.py` checks it is still there).
            from mcp.client._memory import InMemoryTransport

            read, write = await stack.enter_async_context(InMemoryTransport(_in_process(config)))
        yield _WatchedReadStream(read, closed), write
