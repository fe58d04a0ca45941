"""Following a 2026-07-28 server's changes: its `subscriptions/listen` stream.

Contract:
- while a session lives, one listen stream is open, asking for every list change and naming the resources followed;
  each list change it carries wakes the listing refresh (resource updates reach the session's message handler,
  once, as for a server of the handshake era);
- following a resource (or no longer) opens the stream again with the new set, and is acknowledged once a stream
  naming it is open; the set is kept across reconnects;
- a stream that cannot be opened leaves the server served, its changes unseen, and says so once (at info when the
  server simply offers no `subscriptions/listen`, as a warning otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import mcp.types as T
from mcp import MCPError
from mcp.client.subscriptions import ResourceUpdated, listen

from glm_mcp.errors import UpstreamTimeout
from glm_mcp.upstream.supervision import describe_failure

logger = logging.getLogger(__name__)


class Following:
    """The resources one server is asked about, and the stream that carries its news."""

    def __init__(self, server: str) -> None:
        self._server = server
        self.uris: set[str] = set()
        self._relisten = anyio.Event()
        """Set when the stream must be opened again (the resources followed changed)."""
        self._awaiting: list[anyio.Event] = []
        """One event per change of the resources followed, set once a stream naming them is acknowledged."""

    async def change(self, uri: str, subscribed: bool, seconds: float) -> None:
        """Follow `uri` (or stop), once a stream naming the resources followed now is open.

        Raises:
            UpstreamTimeout: No such stream opened within `seconds`.
        """
        if subscribed:
            self.uris.add(uri)
        else:
            self.uris.discard(uri)
        acknowledged = anyio.Event()
        self._awaiting.append(acknowledged)
        self._relisten.set()
        with anyio.move_on_after(seconds):
            await acknowledged.wait()
            return
        raise UpstreamTimeout(self._server, f"subscriptions/listen for '{uri}': no answer after {seconds:g} s")

    async def follow(self, session: Any, list_changed: Callable[[], None]) -> None:
        """Keep a listen stream open on `session` until cancelled; `list_changed` is called for each list change."""
        try:
            while await self._listen_once(session, list_changed):
                pass
        except Exception as exc:  # boundary: without the stream the server is served, its changes unseen
            if _not_offered(exc):
                # The server's choice, not a failure: it announces no changes; its listings are read as they are.
                logger.info("server '%s' offers no subscriptions/listen: its changes are not announced", self._server)
            else:
                logger.warning("server '%s': cannot follow its changes: %s", self._server, describe_failure(exc))

    async def _listen_once(self, session: Any, list_changed: Callable[[], None]) -> bool:
        """One listen stream; True when it ended to be opened again with the resources followed now."""
        self._relisten = anyio.Event()
        acknowledged, self._awaiting = self._awaiting, []  # the changes this stream carries
        async with anyio.create_task_group() as tg:

            async def reopen_when_asked() -> None:
                await self._relisten.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(reopen_when_asked)
            async with listen(
                session,
                tools_list_changed=True,
                prompts_list_changed=True,
                resources_list_changed=True,
                resource_subscriptions=sorted(self.uris),
            ) as events:
                for event in acknowledged:
                    event.set()
                async for event in events:
                    # The SDK also hands each event to the session's message handler as its notification: resource
                    # updates are passed on there, once, as for a server of the handshake era.
                    if not isinstance(event, ResourceUpdated):
                        list_changed()
            tg.cancel_scope.cancel()  # the server ended the stream
        return self._relisten.is_set()


def _not_offered(exc: BaseException) -> bool:
    """Whether the server answered the listen request "method not found" (as itself, or inside a task group's
    exception group)."""
    if isinstance(exc, BaseExceptionGroup):
        inner: tuple[BaseException, ...] = exc.exceptions  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # untyped members
        return len(inner) == 1 and _not_offered(inner[0])
    return isinstance(exc, MCPError) and exc.code == T.METHOD_NOT_FOUND
