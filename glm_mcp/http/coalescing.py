"""`CoalescingTransport`: what a connection's answer writes in one turn of the event loop leaves in one write.

uvicorn writes each ASGI message to its transport at once: a response's head and its body are two system calls, and
a stream's every chunk is one. On loopback a send costs about as much CPU as the gateway's own work on a request
(measured: the sends were a third of the gateway's CPU per chat completion), and each one can wake the client. The
transport under uvicorn's protocol keeps the writes of one turn and hands them to the real transport together when
the writing task gives the loop back (it always does soon: it waits for the next bytes to relay, or it is done).

Contract:
- bytes leave in the order written, no later than the end of the loop turn they were written in, and a response's
  last bytes at once (`flush()`, which the protocol calls when a response completes: the request's bookkeeping
  comes after them);
- past `FLUSH_BYTES` kept, they are handed on at once, so the real transport's flow control (pausing the writer when
  the client reads slowly) sees them as before;
- `close()` and `write_eof()` hand on what is kept first; `abort()` drops it, as the real one drops its own buffer;
- everything else (flow control, extra info, `is_closing`) is the real transport's.
"""

from __future__ import annotations

import asyncio  # noqa: TID251  # uvicorn's protocol layer is asyncio's own
from typing import Any

FLUSH_BYTES = 65536
"""Bytes kept at most before they are handed on within the turn."""


class CoalescingTransport:
    """Wraps a connection's transport; writes of one loop turn become one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._kept: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._kept.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._at_turn_end)

    def _at_turn_end(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Hand what is kept to the real transport now."""
        if not self._kept:
            return
        data = self._kept[0] if len(self._kept) == 1 else b"".join(self._kept)
        self._kept.clear()
        self._size = 0
        self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._kept.clear()
        self._size = 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
