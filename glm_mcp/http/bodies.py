"""Request bodies the HTTP routes read whole: bounded in size and in nesting before any handler parses them.

Contract:
- `BoundedBodies` reads the body of a POST to one of its path prefixes (`/admin/`, `/messages/`): past
  `MAX_BODY_BYTES` it answers 413, nested deeper than a parser can take it answers 400, both as JSON bodies,
  and otherwise hands the handler the body it read;
- `nests_too_deep` is the check `/mcp` uses on the body it already holds: cheap for ordinary bodies (a count of
  brackets), exact for the rare ones with many.
"""

from __future__ import annotations

import json

import anyio
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 4 * 2**20
"""The largest body of `/mcp` (the SDK's own limit), `/messages/` and `/admin/*`."""

_FEW_BRACKETS = 200
"""A body with no more opening brackets than this cannot nest too deep for any parser on the way."""

TOO_DEEP = "the body is nested too deeply to be a request; send flatter JSON"


TOO_LARGE = b"too large"
"""What `read_body` answers for a body past `MAX_BODY_BYTES` (the rest of it is not read)."""


async def read_body(receive: Receive) -> bytes | None:
    """A request's whole body; `TOO_LARGE` past `MAX_BODY_BYTES`; None when the client left before it arrived."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return TOO_LARGE
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then what the client sends next (a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def own_request(app: ASGIApp, scope: Scope, body: bytes, seconds: float) -> int | None:
    """Run a request the gateway makes itself through `app` (`body` its whole body, no client to go away), its answer
    dropped; the answer's status, or None when none came within `seconds`."""
    status: list[int] = []

    async def no_more() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def dropped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    with anyio.move_on_after(seconds):
        await app(scope, replaying(body, no_more), dropped)
    return status[0] if status else None


def nests_too_deep(raw: bytes) -> bool:
    """Whether `raw` nests deeper than Python's and the SDK's parsers take (they would fail with a traceback)."""
    if raw.count(b"[") + raw.count(b"{") <= _FEW_BRACKETS:
        return False
    try:
        json.loads(raw)
    except RecursionError:
        return True
    except ValueError:
        return False  # not JSON at all: the handler says so in its own words
    return False


class BoundedBodies:
    """Bounds the bodies of POSTs under `prefixes` (see the module's contract)."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client went away before its body arrived
        if body is TOO_LARGE:
            await _refuse(scope, receive, send, 413, f"the body is larger than {MAX_BODY_BYTES} bytes")
            return
        if nests_too_deep(body):
            await _refuse(scope, receive, send, 400, TOO_DEEP)
            return
        await self.app(scope, replaying(body, receive), send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None, "param": None}}
    await JSONResponse(body, status_code=status)(scope, receive, send)
