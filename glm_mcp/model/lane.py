"""`ModelLane`: the gateway's own kept-alive HTTP/1.1 connections to the model endpoint, read with httptools' parser.

One model request is one POST and one answer, and the gateway sends many of them. Through httpx2 each cost the
client stack's whole machinery (the pool's bookkeeping and its locks, redirect and auth hooks, a timeout scope per
operation); measured, that was 57% of the gateway's CPU per completion on the model hop. The lane does only what
the model hop needs: one send of head and body, the answer parsed by httptools (the parser uvicorn uses), gzip or
deflate undone, the connection kept for the next request when the answer said so and was read to its end.

Contract:
- `post()` yields a `LaneResponse` (status, headers, and `aiter_bytes()`: what each read of the connection brought,
  inflated); a connection whose answer was not read to the end is closed, never
  reused;
- an answer whose body has neither a length nor chunks ends when the server closes the connection;
- a kept connection that went stale while idle (closed by the server: readable, or older than `KEEP_ALIVE_SECONDS`)
  is dropped before use; a request whose reused connection fails before any byte of the answer is sent once more
  on a new one (the server closed it without reading the request);
- connecting takes at most `connect_timeout`, each read or write at most `read_timeout` (else `ModelTimeout`); every
  other failure of the connection is `ModelUnreachable`, naming the endpoint. Reads no answer's meaning.
A plain `http://` connection (a local vLLM or SGLang, the common case on the hot path) is written and read on its
socket: a send is one system call with no turn of the loop, a read that finds bytes waiting takes them at once, and a
read that must wait waits for the socket to be readable. An `https://` one goes through anyio's TLS stream.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.abc
import httptools
from anyio.abc import SocketAttribute

from glm_mcp.errors import ModelTimeout, ModelUnreachable
from glm_mcp.redact import redact_url

KEEP_ALIVE_SECONDS = 5.0
"""How long an idle connection is kept (what httpx2 keeps one for)."""
RECEIVE_BYTES = 65536
_T = TypeVar("_T")


class _Unanswered(ModelUnreachable):
    """The connection closed before a byte of the answer came: the server did not take the request."""


class _Link(Protocol):
    """One connection's bytes both ways; each wait bounded by `seconds` (`TimeoutError` past it)."""

    async def send(self, data: bytes, seconds: float) -> None: ...

    async def receive(self, seconds: float) -> bytes:
        """The next bytes; `b""` when the server closed the connection."""
        ...

    async def aclose(self) -> None: ...


async def _within(seconds: float, step: Awaitable[_T]) -> _T:
    """`step` awaited for at most `seconds` (`TimeoutError` past them): the scope `fail_after` makes, without the
    generator context manager around it."""
    with anyio.CancelScope(deadline=anyio.current_time() + seconds):
        return await step
    raise TimeoutError


class _Plain:
    """A plain TCP connection, written and read on its non-blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    async def send(self, data: bytes, seconds: float) -> None:
        view = memoryview(data)
        while True:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                pass
            if not view:
                return
            await _within(seconds, anyio.wait_writable(self.sock))

    async def receive(self, seconds: float) -> bytes:
        while True:
            try:
                return self.sock.recv(RECEIVE_BYTES)
            except BlockingIOError:
                pass
            await _within(seconds, anyio.wait_readable(self.sock))

    async def aclose(self) -> None:
        anyio.notify_closing(self.sock)
        self.sock.close()


class _Streamed:
    """A connection through an anyio byte stream (TLS)."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream

    async def send(self, data: bytes, seconds: float) -> None:
        await _within(seconds, self.stream.send(data))

    async def receive(self, seconds: float) -> bytes:
        try:
            return await _within(seconds, self.stream.receive(RECEIVE_BYTES))
        except anyio.EndOfStream:
            return b""

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.stream.aclose()


async def _connect_plain(host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket to the first of `host`'s addresses that takes it."""
    failure: OSError | None = None
    for family, kind, proto, _, address in await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            try:
                sock.connect(address)
            except BlockingIOError:
                await anyio.wait_writable(sock)
                if code := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise OSError(code, os.strerror(code)) from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except BaseException as exc:
            anyio.notify_closing(sock)
            sock.close()
            if not isinstance(exc, OSError):
                raise
            failure = exc
    raise failure or OSError(errno.EHOSTUNREACH, f"no address for {host}")


@dataclass
class _Connection:
    link: _Link
    raw: socket.socket | None
    endpoint: str
    """The base URL, as errors show it."""
    idle_since: float = 0.0

    def stale(self, now: float) -> bool:
        if now - self.idle_since > KEEP_ALIVE_SECONDS or self.raw is None:
            return True
        try:  # an idle connection has nothing to read: readable means closed by the server (or garbage)
            return bool(select.select([self.raw], [], [], 0)[0])
        except (OSError, ValueError):
            return True


class _Answer:
    """One answer as httptools' callbacks collect it, with its parser."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: deque[bytes] = deque()
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    @property
    def until_close(self) -> bool:
        """Whether the body, having neither a length nor chunks, runs until the server closes the connection."""
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return self.headers_done and not self.complete and "content-length" not in self.headers and not chunked

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True  # the parser says whether the connection stays open only while it reads the message
        self.keep_alive = self.parser.should_keep_alive()


class LaneResponse:
    """One answer: its status and headers at once, its body as it arrives."""

    def __init__(self, url: str, connection: _Connection, answer: _Answer, timeout: float) -> None:
        self.url = url
        self.status_code: int = answer.parser.get_status_code()
        self.headers = answer.headers
        self._connection = connection
        self._answer = answer
        self._timeout = timeout
        encoding = answer.headers.get("content-encoding", "identity").strip().lower()
        self._inflate = None if encoding in ("", "identity") else zlib.decompressobj(47 if "gzip" in encoding else 15)

    @property
    def reusable(self) -> bool:
        """Whether the connection may carry the next request: the answer was read to its end and kept it open."""
        return self._answer.complete and self._answer.keep_alive

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives: all of it that one read of the connection brought, at a time."""
        answer = self._answer
        while True:
            if answer.body:
                data = answer.body[0] if len(answer.body) == 1 else b"".join(answer.body)
                answer.body.clear()
                yield self._inflate.decompress(data) if self._inflate is not None else data
            if answer.complete:
                return
            await _receive_into(self._connection, answer, self._timeout)


async def _receive_into(connection: _Connection, answer: _Answer, read_seconds: float, first: bool = False) -> None:
    try:
        data = await connection.link.receive(read_seconds)
    except TimeoutError:
        raise ModelTimeout("the model endpoint timed out (ReadTimeout)") from None
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
        reason = f"the connection closed before the answer ended ({type(exc).__name__})"
        error = _Unanswered if first else ModelUnreachable
        raise error(f"cannot reach the model endpoint {connection.endpoint}: {reason}") from None
    if not data:
        if answer.until_close:
            answer.complete, answer.keep_alive = True, False  # a body without a length ends with the connection
            return
        error = _Unanswered if first else ModelUnreachable
        reason = "the connection closed before the answer ended (EndOfStream)"
        raise error(f"cannot reach the model endpoint {connection.endpoint}: {reason}")
    try:
        answer.parser.feed_data(data)
    except httptools.HttpParserError as exc:
        reason = f"its answer is not HTTP/1.1 ({exc})"
        raise ModelUnreachable(f"cannot reach the model endpoint {connection.endpoint}: {reason}") from None


class ModelLane:
    """Kept-alive connections to one `http://` or `https://` endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        keep: int,
        tls: Callable[[], ssl.SSLContext] = ssl.create_default_context,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/") + "/")
        self.base_url = base_url.rstrip("/") + "/"
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._tls else 80)
        default_port = self._port == (443 if self._tls else 80)
        authority = f"[{self._host}]" if ":" in self._host else self._host
        self._authority = authority if default_port else f"{authority}:{self._port}"
        self._path = parts.path
        self._fixed_head = "\r\n".join(
            (
                f"Host: {self._authority}",
                "Accept: */*",
                "Accept-Encoding: gzip, deflate",
                "User-Agent: glm-mcp",
                "Content-Type: application/json",
            )
        )
        """The head's lines every request repeats."""
        self._make_tls = tls
        self._ssl_context: ssl.SSLContext | None = None
        """Made at the first connection (loading the trusted certificates takes 20 ms)."""
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._keep = keep
        self._idle: deque[_Connection] = deque()
        self._shown = redact_url(base_url)

    async def _connect(self) -> _Connection:
        if self._tls and self._ssl_context is None:
            self._ssl_context = self._make_tls()
        try:
            with anyio.fail_after(self.connect_timeout):
                if not self._tls:
                    sock = await _connect_plain(self._host, self._port)
                    return _Connection(_Plain(sock), sock, self._shown)
                stream = await anyio.connect_tcp(
                    self._host, self._port, ssl_context=self._ssl_context, tls=True, tls_standard_compatible=False
                )
        except TimeoutError:
            raise ModelTimeout("the model endpoint timed out (ConnectTimeout)") from None
        except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
            raise ModelUnreachable(f"cannot reach the model endpoint {self._shown}: ConnectError: {exc}") from None
        return _Connection(_Streamed(stream), stream.extra(SocketAttribute.raw_socket, None), self._shown)

    async def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.stale(now):
                return connection
            await _close(connection)
        return None

    def _head(self, path: str, length: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"POST {self._path}{path} HTTP/1.1", self._fixed_head, f"Content-Length: {length}"]
        lines += [f"{name}: {value}" for name, value in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @asynccontextmanager
    async def post(self, path: str, body: bytes, headers: list[tuple[str, str]]) -> AsyncGenerator[LaneResponse, None]:
        """POST `body` (JSON) to `path` under the base URL; the answer, whose body is read inside the block."""
        data = self._head(path, len(body), headers) + body
        reused = await self._take()
        connection = reused or await self._connect()
        try:
            try:
                response = await self._exchange(connection, data, path)
            except _Unanswered:
                if reused is None:
                    raise
                await _close(connection)  # the kept connection was closed under us: once more, on a new one
                connection = await self._connect()
                response = await self._exchange(connection, data, path)
            yield response
        except BaseException:
            await _close(connection)
            raise
        if response.reusable and len(self._idle) < self._keep:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            await _close(connection)

    async def _exchange(self, connection: _Connection, data: bytes, path: str) -> LaneResponse:
        try:
            await connection.link.send(data, self.read_timeout)
        except TimeoutError:
            raise ModelTimeout("the model endpoint timed out (WriteTimeout)") from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            reason = f"the connection closed while sending ({type(exc).__name__})"
            raise _Unanswered(f"cannot reach the model endpoint {self._shown}: {reason}") from None
        answer = _Answer()
        first = True
        while not answer.headers_done:
            await _receive_into(connection, answer, self.read_timeout, first)
            first = False
        return LaneResponse(self.base_url + path, connection, answer, self.read_timeout)

    async def aclose(self) -> None:
        while self._idle:
            await _close(self._idle.pop())


async def _close(connection: _Connection) -> None:
    try:
        await connection.link.aclose()
    except (OSError, anyio.BrokenResourceError, ssl.SSLError):
        pass
