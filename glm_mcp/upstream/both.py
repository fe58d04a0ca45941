"""A server of both eras: its two sessions, its listing in each, and which session a request takes.

Contract:
- `open_sessions` opens the configured session; when a streamable-HTTP server in `auto` answered in 2026-07-28, a
  handshake-era session beside it (on its own connection) is tried when a caller of that era first needs one: a
  server of both eras then has both, one of 2026-07-28 only refuses the handshake and keeps the one (a server of
  2026-07-28 only that only 2026-07-28 callers use never sees a handshake);
- `list_all` lists every open session; what a server offers in one era only is kept with its era, so nothing it
  offers in either is lost once both are open;
- `Sessions.route` gives a request the session of its caller's era (`glm_mcp.eras.caller_era`): 2026-07-28 callers
  the 2026-07-28 session, everybody else the handshake-era one, where the server's own questions travel on the
  request's stream; what exists in one era only goes to that era's session, whoever asks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any, Literal

import anyio
import httpx2

from glm_mcp.config import UpstreamConfig
from glm_mcp.eras import MODERN_VERSION, caller_era
from glm_mcp.redact import scrub
from glm_mcp.relay.asking import Answers
from glm_mcp.upstream.listing import Listing, list_everything
from glm_mcp.upstream.requests import Live
from glm_mcp.upstream.supervision import describe_failure
from glm_mcp.upstream.transport import StderrTail, open_transport
from glm_mcp.upstream.wire import Era, open_wire

logger = logging.getLogger(__name__)

Kind = Literal["tool", "resource", "prompt"]


class Sessions:
    """The open sessions of one server: `main` as negotiated, and, beside a 2026-07-28 `main` of a streamable-HTTP
    server in `auto`, a handshake-era session opened when a caller of that era first needs one (`keep_handshake`
    holds it for the attempt's life)."""

    def __init__(self, main: Live, spare: Callable[[], AbstractAsyncContextManager[Live]] | None = None) -> None:
        self.main = main
        self.handshake: Live | None = None
        self._spare = spare
        self._wanted = anyio.Event()
        self._settled = anyio.Event()

    @property
    def all(self) -> tuple[Live, ...]:
        return (self.main,) if self.handshake is None else (self.main, self.handshake)

    @property
    def closed(self) -> bool:
        return any(live.closed.is_set() for live in self.all)

    async def route(self, listing: Callable[[], Listing], kind: Kind | None, name: str, wait: float) -> Live:
        """The session a request about `name` (a tool, resource or prompt; None for others) takes; a handshake-era
        session is opened first where the caller's era needs one (for at most `wait` seconds)."""
        if self.handshake is None and self._spare is None:
            return self.main
        if self._era(listing(), kind, name) == MODERN_VERSION:
            return self.main
        if self.handshake is None:
            self._wanted.set()
            with anyio.move_on_after(wait):
                await self._settled.wait()
        if self.handshake is None or self._era(listing(), kind, name) == MODERN_VERSION:
            return self.main  # a server of 2026-07-28 only, or an item it offers in that era only
        return self.handshake

    @staticmethod
    def _era(listing: Listing, kind: Kind | None, name: str) -> str | None:
        only = listing.only_in.get((kind, name)) if kind is not None else None
        return only if only is not None else caller_era()

    async def keep_handshake(self, opened: Callable[[], Awaitable[None]], server: str) -> None:
        """Open the handshake-era session once a request wants it, tell `opened`, and hold it until the attempt ends
        (a session that closes ends the attempt, as `main` does). A server that refuses the handshake is used in
        2026-07-28 only for the rest of the attempt."""
        if self._spare is None:
            return
        await self._wanted.wait()
        try:
            async with self._spare() as live:
                self.handshake = live
                try:
                    await opened()  # listed in both eras before any request is routed by that listing
                except Exception as exc:  # boundary: routed by the last listing meanwhile
                    logger.warning("server '%s': listing both eras failed: %s", server, describe_failure(exc))
                self._settled.set()
                await live.closed.wait()
                self.main.wake.set()
                await anyio.sleep_forever()  # the attempt ends; its task group cancels this
        except Exception as exc:  # boundary: the server stays usable in 2026-07-28
            why = scrub(describe_failure(exc))
            logger.info("server '%s' is used in 2026-07-28 only: the handshake was not accepted (%s)", server, why)
        finally:
            self._spare = None
            self._settled.set()


def _names(listing: Listing) -> set[tuple[Kind, str]]:
    found: set[tuple[Kind, str]] = {("tool", tool.name) for tool in listing.tools}
    found |= {("resource", str(resource.uri)) for resource in listing.resources}
    found |= {("prompt", prompt.name) for prompt in listing.prompts}
    return found


def merged(modern: Listing, handshake: Listing) -> Listing:
    """One listing of a server of both eras: the 2026-07-28 definitions where an item exists in both, and every item
    that exists in one era only, marked with its era."""
    in_modern, in_handshake = _names(modern), _names(handshake)
    only = dict.fromkeys(in_modern - in_handshake, MODERN_VERSION)
    only |= dict.fromkeys(in_handshake - in_modern, "handshake")

    def union(first: Iterable[Any], second: Iterable[Any], key: Callable[[Any], str]) -> tuple[Any, ...]:
        seen = {key(item) for item in first}
        return (*first, *(item for item in second if key(item) not in seen))

    return replace(
        modern,
        tools=union(modern.tools, handshake.tools, lambda tool: tool.name),
        quarantined=union(modern.quarantined, handshake.quarantined, lambda pair: pair[0]),
        resources=union(modern.resources, handshake.resources, lambda resource: str(resource.uri)),
        templates=union(modern.templates, handshake.templates, lambda template: template.uri_template),
        prompts=union(modern.prompts, handshake.prompts, lambda prompt: prompt.name),
        notes=(*modern.notes, *handshake.notes),
        only_in=only,
    )


async def list_all(sessions: Sessions, server: str) -> Listing:
    """Everything the server offers, in every era it is spoken to in."""
    listing = await list_everything(sessions.main.wire, server)
    if sessions.handshake is None:
        return listing
    return merged(listing, await list_everything(sessions.handshake.wire, server))


def open_sessions(
    config: UpstreamConfig, server: str, tail: StderrTail, auth: httpx2.Auth | None, answers: Answers
) -> Callable[[Any, Any], AbstractAsyncContextManager[Sessions]]:
    """How the server's sessions are opened (given the handlers of its messages and its log): the configured
    session, open, and the means to open its handshake-era one; see the contract. Entering raises what
    `open_transport` and `open_wire` raise (`MCPError`, `OSError`, `httpx2.HTTPError`)."""

    @asynccontextmanager
    async def session(era: Era, tail: StderrTail, on_message: Any, on_log: Any) -> AsyncGenerator[Live, None]:
        closed = anyio.Event()
        async with (
            open_transport(config, server, closed, tail, auth) as streams,
            open_wire(
                streams,
                era=era,
                answers=answers,
                on_message=on_message,
                on_log=on_log,
                direct_calls=config.type == "stdio",
                discover_first=config.type == "http",
            ) as wire,
        ):
            yield Live(wire, closed)

    @asynccontextmanager
    async def sessions(on_message: Any, on_log: Any) -> AsyncGenerator[Sessions, None]:
        async with session(config.protocol, tail, on_message, on_log) as main:
            both = main.wire.modern and config.protocol == "auto" and config.type == "http"
            # A discover result lists the 2026-07-28 versions only, even where the server serves the handshake too:
            # only a handshake tells, and it is tried when a caller of that era first needs it.
            spare = (lambda: session("legacy", StderrTail(), on_message, on_log)) if both else None
            yield Sessions(main, spare)

    return sessions
