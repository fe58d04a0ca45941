"""A server's answers made readable on the way in: each lone surrogate escape (half of a UTF-16 pair, as a
JavaScript server that cut a string in the middle of an emoji writes it) becomes U+FFFD before the SDK parses it.
The SDK's parser refuses such a message whole, so the request it answered would wait for its timeout.

Contract:
- `MendingTransport` wraps an HTTP transport: the bodies of its answers (JSON, and event streams as they come; not
  compressed ones) are handed on with every lone surrogate escape written as `\\ufffd` and every other byte
  unchanged; only a piece's last bytes that may open an escape (at most 12) wait for the next piece;
- `mended_once(server)` reports a server's first mended answer as a warning naming the server, once per connection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable

import httpx2

from glm_mcp._json import mend_escapes_bytes

logger = logging.getLogger(__name__)

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


class _MendedBody(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, report: Callable[[], None]) -> None:
        self._inner = inner
        self._report = report

    def _mend(self, piece: bytes) -> bytes:
        mended = mend_escapes_bytes(piece)
        if mended is not piece:
            self._report()
        return mended

    async def __aiter__(self) -> AsyncIterator[bytes]:
        held = b""
        async for chunk in self._inner:
            data = held + chunk if held else chunk
            cut = _cut(data)
            held = data[cut:]
            if cut:
                yield self._mend(data[:cut])
        if held:
            yield self._mend(held)

    async def aclose(self) -> None:
        await self._inner.aclose()


class MendingTransport(httpx2.AsyncBaseTransport):
    """An HTTP transport whose answers' bodies are mended (see the module's contract)."""

    def __init__(self, report: Callable[[], None], inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport()
        self._report = report

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        kind = response.headers.get("content-type", "")
        encoded = response.headers.get("content-encoding", "identity") != "identity"  # compressed bytes: left alone
        if encoded or not isinstance(stream, httpx2.AsyncByteStream) or not ("json" in kind or "event-stream" in kind):
            return response
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_MendedBody(stream, self._report),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
