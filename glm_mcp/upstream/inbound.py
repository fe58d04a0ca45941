"""What servers send, on the way in: read whole, within bounds, and readable by the SDK's parser.

Contract:
- a stdio server's stdout is handed to the SDK one whole line at a time (the SDK joins partial chunks by string
  concatenation, quadratic in a long line), and a line longer than `MAX_MESSAGE_CHARS` ends the session: the server
  is stopped and reported, instead of a core spent joining an endless line; lines that cannot be JSON-RPC (a banner,
  a `print`) are dropped, each reported;
- an HTTP server's SSE events may be as long as a stdio line (the SDK's own limit is 1 MiB, which failed larger
  results); `install_limits` sets both in the SDK (process-wide, checked by a test against SDK upgrades);
- `InboundTransport` wraps an HTTP transport: it asks for answers uncompressed, and a JSON answer past
  `MAX_MESSAGE_CHARS` fails the request it answers (`AnswerTooLarge`, reported by the SDK) instead of filling memory;
- a lone surrogate escape (half of a UTF-16 pair, as a JavaScript server that cut a string in the middle of an emoji
  writes it) becomes U+FFFD before the SDK parses it: its parser refuses such a message whole, so the request it
  answered would wait for its timeout. On stdio the whole line is mended; over HTTP the bodies of answers (JSON, and
  event streams as they come; not an answer compressed although asked not to be) are handed on with every lone
  surrogate escape written as `\\ufffd` and every other byte unchanged; only a piece's last bytes that may open an
  escape (at most 12) wait for the next piece;
- `mended_once(server)` reports a server's first mended answer as a warning naming the server, once per connection.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass

import anyio
import httpx2
import mcp.client.sse
import mcp.client.stdio
from anyio.streams.text import TextReceiveStream

from glm_mcp._json import mend_escapes, mend_escapes_bytes

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 16 * 2**20
"""The longest JSON-RPC message a stdio server may write (one line); a longer one stops the server. An HTTP server's
events may be as long (an event past it fails the request it answers)."""


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
    of `transport._stdio`; `install_limits` puts it there (checked by a test against SDK upgrades).
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
            if self._size > MAX_MESSAGE_CHARS:
                parts.clear()
                if (reports := _REPORTS.get()) is not None:
                    reports.long_line()
                # Closing the pipe ends the SDK's drain of the rest too; the server then meets a closed pipe.
                await self.transport_stream.aclose()
                raise anyio.EndOfStream


def report_to(long_line: Callable[[], None], stray_line: Callable[[str], None], mended: Callable[[], None]) -> None:
    """Where the stdout reader of the stdio server started in this context reports (its log lines)."""
    _REPORTS.set(_Reports(long_line, stray_line, mended))


def install_limits() -> None:
    """Make the SDK's stdio client read through `_WholeLines`, and its SSE client take events as long as a stdio
    line (process-wide; idempotent; done before the first server starts)."""
    if getattr(mcp.client.stdio, "TextReceiveStream", None) is not _WholeLines:
        setattr(mcp.client.stdio, "TextReceiveStream", _WholeLines)  # noqa: B010
    opener = vars(mcp.client.sse).get("sse_within_origin")
    if opener is not None and not isinstance(opener, functools.partial):
        # The SDK's default is 1 MiB: a larger result (a file read, a page fetched) failed as "event too large".
        long_events = functools.partial(opener, max_event_size=MAX_MESSAGE_CHARS)
        setattr(mcp.client.sse, "sse_within_origin", long_events)  # noqa: B010


_OPEN_ESCAPE = re.compile(
    rb"(?:\\u[dD][89abAB][0-9a-fA-F]{2}(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]{0,2})?)?)?)?"
    rb"|\\(?:u(?:[dD](?:[89a-fA-F][0-9a-fA-F]?)?)?)?)\Z"
)
"""The end of a piece that may still become a surrogate escape or pair: a high half's escape, with as much of the
low half's as came (`\\uD83D`, `\\uD83D\\uDE`), or the first bytes of an escape (`\\`, `\\u`, `\\uD8`). Escapes are
only found inside strings, and no string ends a message, so what a piece keeps is followed by more."""

_HOLD = 12
"""An escaped pair's length: nothing further from a piece's end can be part of an open escape."""


def mended_once(server: str) -> Callable[[], None]:
    """The report of `server`'s mended answers: a warning the first time, nothing after."""
    told: list[bool] = []

    def report() -> None:
        if not told:
            told.append(True)
            logger.warning(
                "server '%s' sent half of a UTF-16 surrogate pair (an escape such as \\ud83d, a cut emoji); "
                "it was read as U+FFFD. Later ones are mended without a word",
                server,
            )

    return report


def _cut(data: bytes) -> int:
    """How much of `data` may go on now: all of it, or up to an escape that may be open at its end (moved back over
    an even number of the backslashes before it, so the rest keeps its meaning)."""
    found = _OPEN_ESCAPE.search(data, max(0, len(data) - _HOLD))
    if found is None:
        return len(data)
    start = run = found.start()
    while run > 0 and data[run - 1] == 0x5C:
        run -= 1
    return run + (start - run) // 2 * 2


class AnswerTooLarge(httpx2.StreamError):
    """A server's JSON answer ran past `MAX_MESSAGE_CHARS`; the SDK fails the request it answers with this message."""


class _InboundBody(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, report: Callable[[], None], limit: int | None) -> None:
        self._inner = inner
        self._report = report
        self._limit = limit

    def _mend(self, piece: bytes) -> bytes:
        mended = mend_escapes_bytes(piece)
        if mended is not piece:
            self._report()
        return mended

    async def __aiter__(self) -> AsyncIterator[bytes]:
        held = b""
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if self._limit is not None and size > self._limit:
                raise AnswerTooLarge(f"the server's answer is larger than {self._limit // 2**20} MiB; not read further")
            data = held + chunk if held else chunk
            cut = _cut(data)
            held = data[cut:]
            if cut:
                yield self._mend(data[:cut])
        if held:
            yield self._mend(held)

    async def aclose(self) -> None:
        await self._inner.aclose()


class InboundTransport(httpx2.AsyncBaseTransport):
    """An HTTP transport whose answers come uncompressed, mended, and (JSON ones) bounded; see the module's
    contract."""

    def __init__(self, report: Callable[[], None], inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport()
        self._report = report

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        # Asked uncompressed: the bytes this reads are the bytes the SDK parses (a compressed answer could not be
        # mended here, and its size would say nothing of what it inflates to).
        request.headers["accept-encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        kind = response.headers.get("content-type", "")
        encoded = response.headers.get("content-encoding", "identity") != "identity"  # compressed anyway: left alone
        if encoded or not isinstance(stream, httpx2.AsyncByteStream) or not ("json" in kind or "event-stream" in kind):
            return response
        limit = None if "event-stream" in kind else MAX_MESSAGE_CHARS  # the SDK bounds each event itself
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_InboundBody(stream, self._report, limit),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
