"""The uvicorn server that hosts the gateway's HTTP app, shared by `glm-mcp serve` and the tests.

Contract:
- sockets are bound and listening before the app starts (`listening_socket`, `listen`): early connections wait
  in the backlog instead of being refused;
- `HostServer.stop()` ends the main loop at once (no polling interval); the Date header is still refreshed each
  second while it runs;
- on stop, connections are asked to close and in-flight requests get `timeout_graceful_shutdown`; what still runs
  then is cancelled and said in one warning; the lifespan then stops the gateway in order;
- signals are not uvicorn's: the caller handles them (uvicorn's own handler would re-raise SIGTERM after the
  graceful shutdown and turn a clean stop into exit code -15).

The uvicorn internals used here (`servers`, `server_state.connections`/`tasks`, `connection.shutdown()`,
`lifespan`, `on_tick`) are pinned by `tests/test_uvicorn_seams.py`, and uvicorn's version is held in
`pyproject.toml` as mcp's is.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Generator

import anyio
import uvicorn

logger = logging.getLogger(__name__)


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for uvicorn.

    Raises:
        OSError: The address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets it knows are
    # TCP; without it every response waited ~40 ms for a delayed ACK (found by the benchmarks).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def listen(host: str, port: int) -> list[socket.socket]:
    """The listening sockets for `host`: `localhost` is both 127.0.0.1 and ::1 (where IPv6 is there).

    Raises:
        OSError: The address cannot be bound.
    """
    if host != "localhost":
        return [listening_socket(host, port)]
    first = listening_socket("127.0.0.1", port)
    try:
        return [first, listening_socket("::1", first.getsockname()[1])]
    except OSError:
        logger.info("no IPv6 loopback here; listening on 127.0.0.1 only")
        return [first]


class HostServer(uvicorn.Server):
    """uvicorn's server, stopped by `stop()` rather than by its own signal handler and 0.1 s polling."""

    _stopping: anyio.Event | None = None

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (within the grace period), then stop the app."""
        self.should_exit = True
        if self._stopping is not None:
            self._stopping.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the caller owns the signals

    async def main_loop(self) -> None:
        self._stopping = anyio.Event()
        while not await self.on_tick(0):  # refreshes the Date header, and says whether to stop
            with anyio.move_on_after(1.0):
                await self._stopping.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's own shutdown sleeps a fixed 0.1 s first and then polls every 0.1 s; here connections are asked
        # to close and watched until they are gone (uvicorn keeps no event for that), bounded as uvicorn bounds it.
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        with anyio.move_on_after(self.config.timeout_graceful_shutdown or 1):
            while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110  # no event to wait on
                await anyio.sleep(0.002)
        if self.server_state.tasks:
            grace = self.config.timeout_graceful_shutdown or 1
            running = len(self.server_state.tasks)
            logger.warning("%d call(s) still running after the %g s grace period were cut short", running, grace)
            for task in list(self.server_state.tasks):
                task.cancel()
        await self.lifespan.shutdown()
