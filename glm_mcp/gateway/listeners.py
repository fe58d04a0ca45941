"""Who hears of the gateway's news: catalog changes, resource updates and upstream log messages.

Each registration returns the call that removes it; one listener that fails never stops the others nor the news.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import mcp.types as T

from glm_mcp.catalog import Catalog
from glm_mcp.redact import printable

logger = logging.getLogger(__name__)

CatalogListenerFnT = Callable[[Catalog, Catalog], Awaitable[None]]
LogListenerFnT = Callable[[str, T.LoggingMessageNotificationParams, object], Awaitable[None]]
"""Told of a server's log message: the server, the message, and who may hear it (an asker's identity,
`EVERYONE` or `NO_ONE`; see `relay.asking.Callers.audience`)."""
UpdatedListenerFnT = Callable[[str], Awaitable[None]]
"""Hears that a subscribed resource changed: its URI."""


class Listeners:
    """The gateway's listeners, by kind."""

    def __init__(self) -> None:
        self._catalog: list[CatalogListenerFnT] = []
        self._updated: list[UpdatedListenerFnT] = []
        self._logs: list[LogListenerFnT] = []

    def on_catalog_change(self, listener: CatalogListenerFnT) -> Callable[[], None]:
        """Register `listener(old, new)`; returns a function that unregisters it."""
        self._catalog.append(listener)
        return lambda: self._catalog.remove(listener)

    def on_resource_updated(self, listener: UpdatedListenerFnT) -> Callable[[], None]:
        """Register `listener(uri)` for `notifications/resources/updated`; returns the unregister function."""
        self._updated.append(listener)
        return lambda: self._updated.remove(listener)

    def on_log(self, listener: LogListenerFnT) -> Callable[[], None]:
        """Register `listener(server, params, audience)` for upstream log messages; returns the unregister function."""
        self._logs.append(listener)
        return lambda: self._logs.remove(listener)

    async def catalog_changed(self, old: Catalog, new: Catalog) -> None:
        for listener in list(self._catalog):
            try:
                await listener(old, new)
            except Exception:  # boundary: one broken listener must not stop the catalog
                logger.exception("a catalog listener failed")

    async def resource_updated(self, server: str, uri: str) -> None:
        for listener in list(self._updated):
            try:
                await listener(uri)
            except Exception:  # boundary: see log
                logger.exception("a resource listener failed")

    async def log(self, server: str, params: T.LoggingMessageNotificationParams, audience: object) -> None:
        """A server's log message: logged under `glm_mcp.servers.<server>`, then told to the listeners."""
        logging.getLogger(f"glm_mcp.servers.{server}").info("%s", printable(str(params.data)))
        for listener in list(self._logs):
            try:
                await listener(server, params, audience)
            except Exception:  # boundary: a closed editor connection must not stop the forwarding
                logger.exception("a log listener failed")
