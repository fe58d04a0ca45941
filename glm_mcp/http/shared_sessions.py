"""2025-era `/mcp` sessions shared by replicas through Redis: recorded where they open, revived where a request lands.

Contract:
- a session is recorded when its `initialize` succeeds, before its id reaches the client: the caller that opened
  it, the `initialize` request itself, then the log level it chose and the resources it subscribed to; the record
  lives while the session is used (the idle timeout, renewed by its requests) and is dropped when the client ends
  the session (DELETE), with its events;
- a request naming a session this replica has not opened is served in it when the record exists and belongs to the
  same caller: the replica opens the session under the same id and replays the recorded requests first (their
  answers go nowhere), so the editor's capabilities, log level and subscriptions hold here too; another caller
  naming it, or a session never recorded, gets the SDK's 404;
- a session its client ended on one replica is ended on every replica that opened it too (Redis pub/sub), so
  its id answers 404 everywhere from then on;
- a Redis failure while reviving answers as for an unknown session (404: the client starts a new session), logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence

import anyio

from glm_mcp._json import as_object
from glm_mcp.errors import SharedStateError
from glm_mcp.replicas.events import REVIVAL_ID, RedisEvents
from glm_mcp.replicas.store import RedisStore

logger = logging.getLogger(__name__)

_NOTED = (b'"logging/setLevel"', b'"resources/subscribe"', b'"resources/unsubscribe"')
_TOUCH_EVERY_SECONDS = 30.0


class SharedSessions:
    """The records of every replica's `/mcp` sessions."""

    def __init__(self, store: RedisStore, ttl_seconds: float, events: RedisEvents) -> None:
        self.store = store
        self.home = events.home
        self.ttl_seconds = ttl_seconds
        self.events = events
        self._touched: dict[str, float] = {}

    @staticmethod
    def _key(session: str) -> str:
        return f"session:{session}"

    async def opened(self, session: str, client: str, initialize: bytes) -> None:
        """Record a session its `initialize` (the request body) opened for `client`."""
        try:
            await self.store.put(
                self._key(session), {"client": client, "initialize": initialize.decode()}, self.ttl_seconds
            )
        except SharedStateError as exc:
            logger.warning("session %s… not shared with other replicas: %s", session[:8], exc)

    @staticmethod
    def notes(body: bytes) -> bool:
        """Whether a request in a session changes what its record keeps (log level, subscriptions)."""
        return any(method in body for method in _NOTED)

    async def noted(self, session: str, body: bytes) -> None:
        """Keep what a request in the session chose: its log level, its subscriptions."""
        message = _message(body)
        if message is None:
            return
        method, params = message.get("method"), as_object(message.get("params")) or {}
        try:
            record = await self.store.record(self._key(session))
            if not record:
                return
            if method == "logging/setLevel" and isinstance(params.get("level"), str):
                await self.store.put(self._key(session), {"level": str(params["level"])}, self.ttl_seconds)
            elif method in ("resources/subscribe", "resources/unsubscribe") and isinstance(params.get("uri"), str):
                uris: list[str] = json.loads(record.get("subscriptions", "[]"))
                uri = str(params["uri"])
                uris = [u for u in uris if u != uri] + ([uri] if method == "resources/subscribe" else [])
                await self.store.put(self._key(session), {"subscriptions": json.dumps(uris)}, self.ttl_seconds)
        except SharedStateError as exc:
            logger.warning("session %s…: %s not shared with other replicas: %s", session[:8], method, exc)

    async def touched(self, session: str) -> None:
        """The session was used: its record lives another idle timeout (written at most every 30 s)."""
        now = anyio.current_time()
        if now - self._touched.get(session, -_TOUCH_EVERY_SECONDS) < _TOUCH_EVERY_SECONDS:
            return
        self._touched[session] = now
        if len(self._touched) > 100_000:
            self._touched.clear()
        try:
            await self.store.touch(self._key(session), self.ttl_seconds)
        except SharedStateError as exc:
            logger.warning("session %s… not renewed in Redis: %s", session[:8], exc)

    async def closed(self, session: str) -> None:
        """The client ended the session: drop its record and events."""
        self._touched.pop(session, None)
        try:
            await self.store.delete(self._key(session))
            await self.store.publish("sessions", json.dumps({"closed": session, "from": self.home}))
            await self.events.forget(session)
        except SharedStateError as exc:
            logger.warning("session %s… left in Redis until it expires: %s", session[:8], exc)

    async def follow_closings(self, end_here: Callable[[str], Awaitable[None]]) -> None:
        """Call `end_here(session)` for each session another replica's client ended, until cancelled."""

        async def closed(text: str) -> None:
            message = _message(text.encode())
            if message is not None and message.get("from") != self.home and isinstance(message.get("closed"), str):
                await end_here(str(message["closed"]))

        await self.store.listen("sessions", closed)

    async def replay(self, session: str, client: str) -> Sequence[bytes] | None:
        """The requests that re-open `session` for `client` here, in order (`initialize` first); None when it is
        not recorded, or not this client's."""
        try:
            record = await self.store.record(self._key(session))
        except SharedStateError as exc:
            logger.warning("session %s… cannot be revived: %s", session[:8], exc)
            return None
        if not record or record.get("client") != client or "initialize" not in record:
            return None
        initialize = _message(record["initialize"].encode())
        if initialize is None:
            return None
        initialize["id"] = REVIVAL_ID + "initialize"
        bodies = [json.dumps(initialize).encode(), _request("notifications/initialized", None, None)]
        if "level" in record:
            bodies.append(_request("logging/setLevel", {"level": record["level"]}, "level"))
        for index, uri in enumerate(json.loads(record.get("subscriptions", "[]"))):
            bodies.append(_request("resources/subscribe", {"uri": uri}, f"subscribe-{index}"))
        return bodies


def _request(method: str, params: dict[str, object] | None, ident: str | None) -> bytes:
    message: dict[str, object] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if ident is not None:
        message["id"] = REVIVAL_ID + ident
    return json.dumps(message).encode()


def _message(body: bytes) -> dict[str, object] | None:
    try:
        return as_object(json.loads(body))
    except ValueError:
        return None
