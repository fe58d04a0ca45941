"""Direct tool calls on a stdio server's session, beside the SDK's JSON-RPC dispatcher.

Each request the dispatcher sends costs a tracing span, a request clock, context managers and a spawned task for
its answer: about a fifth of the gateway's CPU per relayed tool call, profiled under `wrk`. `tools/call`, the
request a gateway relays most, goes out here instead, on the same transport streams.

Contract:
- a call is written to the session's write stream as the dispatcher would write it, under an id from a range the
  dispatcher never reaches (`FIRST_ID` on; it counts from 1), with the id as its progress token when progress is
  wanted;
- the read stream the dispatcher reads through `CallLane.reading` keeps back the answers to these calls (their ids
  compared as the dispatcher compares them: an id echoed as a string is the same id); progress
  on them reaches the caller's callback, in the caller's task, and is also passed on as the dispatcher would see
  it (it then finds no request of its own and hands it to the session's notification handler);
- an error answer raises `MCPError` as the dispatcher would; so does a closed session (`CONNECTION_CLOSED`), for
  calls waiting when the server's side ends or the session is left (`close`);
- a call cancelled after it was written is cancelled at the server too (`notifications/cancelled`).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import anyio
import mcp.types as T
from mcp.shared.dispatcher import coerce_request_id
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from glm_mcp.relay.asking import ProgressFnT
from glm_mcp.upstream.transport import ReadStreamWrapper, Receiving

logger = logging.getLogger(__name__)

FIRST_ID = 1_000_000_000
"""The first id of the lane's calls: far above the dispatcher's own ids, which count up from 1."""

CANCEL_WRITE_SECONDS = 1.0
"""How long telling the server of a cancelled call may take."""

_CLOSED = T.ErrorData(code=T.CONNECTION_CLOSED, message="Connection closed")

Outcome = tuple[str, Any]
"""("result", the result), ("error", `ErrorData`) or ("progress", (progress, total, message))."""


class _Sending(Protocol):
    async def send(self, item: SessionMessage, /) -> None: ...


class _Mailbox:
    """What one waiting call hears: outcomes put without waiting, taken in order (lighter per call than a memory object
    stream, which also made a second stream object and closed both)."""

    def __init__(self) -> None:
        self._items: collections.deque[Outcome] = collections.deque()
        self._arrived = anyio.Event()

    def put(self, outcome: Outcome) -> None:
        self._items.append(outcome)
        self._arrived.set()

    async def take(self) -> Outcome:
        while not self._items:
            await self._arrived.wait()
            self._arrived = anyio.Event()
        return self._items.popleft()


class CallLane:
    """The calls of one session that bypass its dispatcher; see the module's contract."""

    def __init__(self, write: _Sending) -> None:
        self._write = write
        self._next_id = FIRST_ID
        self._waiting: dict[int, _Mailbox] = {}
        self._closed = False

    def reading(self, inner: Receiving) -> _LaneReadStream:
        """The read stream to give the dispatcher: `inner` without the answers to this lane's calls."""
        return _LaneReadStream(inner, self)

    async def call(
        self, method: str, params: Mapping[str, Any] | None, on_progress: ProgressFnT | None
    ) -> dict[str, Any]:
        """Send one request and return its raw result.

        Raises:
            MCPError: The server answered with an error, or the session closed.
        """
        if self._closed:
            raise MCPError(code=_CLOSED.code, message=_CLOSED.message)
        ident = self._next_id
        self._next_id += 1
        body = dict(params or {})
        if on_progress is not None:
            body["_meta"] = {**(body.get("_meta") or {}), "progressToken": ident}
        mailbox = self._waiting[ident] = _Mailbox()
        written = False
        try:
            try:
                message = JSONRPCRequest(jsonrpc="2.0", id=ident, method=method, params=body)
                written = True
                await self._write.send(SessionMessage(message))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise MCPError(code=_CLOSED.code, message=_CLOSED.message) from None
            while True:
                kind, value = await mailbox.take()
                if kind == "progress":
                    if on_progress is not None:
                        await _told(on_progress, *value)
                    continue
                if kind == "error":
                    raise MCPError(code=value.code, message=value.message, data=value.data)
                return dict(value)
        except anyio.get_cancelled_exc_class():
            if written:
                with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_WRITE_SECONDS):
                    await self._cancel(ident)
            raise
        finally:
            del self._waiting[ident]

    async def _cancel(self, ident: int) -> None:
        params = {"requestId": ident, "reason": "caller cancelled"}
        note = JSONRPCNotification(jsonrpc="2.0", method="notifications/cancelled", params=params)
        try:
            await self._write.send(SessionMessage(note))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            logger.debug("the cancellation of call %d could not be sent: the session closed", ident)

    def take(self, item: SessionMessage | Exception) -> bool:
        """Route `item` if it concerns a waiting call; True when the dispatcher must not see it."""
        if not isinstance(item, SessionMessage) or not self._waiting:
            return False
        message = item.message
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            waiting = self._waiting.get(_ident(message.id))
            if waiting is None:
                return False
            outcome: Outcome = (
                ("result", message.result) if isinstance(message, JSONRPCResponse) else ("error", message.error)
            )
            waiting.put(outcome)
            return True
        if isinstance(message, JSONRPCNotification) and message.method == "notifications/progress":
            params = message.params or {}
            token, progress = params.get("progressToken"), params.get("progress")
            waiting = self._waiting.get(_ident(token))
            if waiting is not None and isinstance(progress, int | float) and not isinstance(progress, bool):
                total, text = params.get("total"), params.get("message")
                told = (
                    float(progress),
                    float(total) if isinstance(total, int | float) and not isinstance(total, bool) else None,
                    text if isinstance(text, str) else None,
                )
                waiting.put(("progress", told))
        return False

    def close(self) -> None:
        """The session ended: every waiting call fails with `CONNECTION_CLOSED`, and later calls at once."""
        self._closed = True
        for waiting in self._waiting.values():
            waiting.put(("error", _CLOSED))


def _ident(value: object) -> int:
    """A request id or progress token as the lane keys it: an integer, also when the server echoed it as a string
    (the SDK's dispatchers correlate "7" and 7 alike); -1, which no call has, for anything else."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        coerced = coerce_request_id(value)
        return coerced if isinstance(coerced, int) else -1
    return -1


async def _told(on_progress: ProgressFnT, progress: float, total: float | None, message: str | None) -> None:
    try:
        await on_progress(progress, total, message)
    except Exception:  # boundary: a failing progress callback must not fail the call (the dispatcher's rule too)
        logger.exception("progress callback raised")


class _LaneReadStream(ReadStreamWrapper):
    """The dispatcher's read stream with the lane's answers taken out; the end of the stream closes the lane."""

    def __init__(self, inner: Receiving, lane: CallLane) -> None:
        super().__init__(inner)
        self._lane = lane

    async def receive(self) -> SessionMessage | Exception:
        while True:
            try:
                item = await self._inner.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                self._lane.close()
                raise
            if not self._lane.take(item):
                return item
