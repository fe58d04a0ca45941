"""The gateway's OAuth logins: each server's saved login and OAuth client, and the logins waiting for a person.

Contract:
- `Logins.auth_for(server, config)` is the OAuth client a remote server's requests go through (None for OAuth off);
  one per server for the gateway's life, so its limits and its refresh state outlive a reconnect;
- while a login waits for its person, `pending[server]` holds its URL (for the status page, editors and `tools`),
  the URL is logged with the command that also does it, and the browser is opened once where allowed;
- not `interactive` (a report such as `glm-mcp tools`), a login that needs a person is not started: the server
  shows `needs login` with the command to run;
- `watch(server, fn)` hears when a login of that server starts waiting (True) and ends (False); `on_change` hears
  each such change after the watcher.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
import mcp.types as T

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig
from glm_mcp.oauth.vault import KeyringVault, ServerLogin, Vault, how_to_log_in, login_key
from glm_mcp.private_files import state_folder
from glm_mcp.redact import show_url
from glm_mcp.relay.asking import current_asker

logger = logging.getLogger(__name__)

WatchFnT = Callable[[bool], None]


def gateway_vault(config: GatewayConfig) -> Vault:
    """The vault of the config's state folder (`gateway.state_dir`, filled in by the loader), or the OS keyring.

    Raises:
        ConfigError: `gateway.keyring` without the keyring package.
    """
    state = Path(config.gateway.state_dir) if config.gateway.state_dir else state_folder({}, Path.home())
    return (KeyringVault if config.gateway.keyring else Vault)(state / "oauth")


class Logins:
    """Every server's login, and the person who completes them."""

    def __init__(
        self,
        vault: Vault,
        *,
        timeout: float = 300.0,
        browser: bool = True,
        announce: Callable[[str, str], None] | None = None,
        interactive: bool = True,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._on_change = on_change
        self.vault = vault
        self.timeout = timeout
        self.interactive = interactive
        self._browser = browser
        self._announce = announce
        self.pending: dict[str, str] = {}
        self.opened: set[str] = set()
        """The login URLs a browser was opened for (a person is shown each once)."""
        self._watchers: dict[str, WatchFnT] = {}

    def login(self, server: str, url: str, person: str | None = None) -> ServerLogin:
        return ServerLogin(self.vault, server, url, person)

    def auth_for(self, server: str, config: HttpUpstreamConfig, person: str | None = None) -> httpx2.Auth | None:
        """The server's OAuth client (the person's own, for a person), None when OAuth is off for it.

        Raises:
            ValueError: Its `oauth` object cannot work as written.
        """
        from glm_mcp.oauth.clients import server_auth  # the SDK's OAuth client, loaded for the first OAuth server

        return server_auth(login_key(server, person), config, self.login(server, config.url, person), self)

    def watch(self, server: str, fn: WatchFnT) -> Callable[[], None]:
        self._watchers[server] = fn

        def unwatch() -> None:
            if self._watchers.get(server) is fn:
                del self._watchers[server]

        return unwatch

    async def login_needed(self, server: str, url: str) -> None:
        self.pending[server] = url
        show_url(url)
        personal = "@" in server  # a person's own login: theirs to see, in their editor, not this machine's browser
        if self._announce is not None:
            self._announce(server, url)
        elif personal:
            logger.info("'%s' waits for a login: %s", server, how_to_log_in(server))
        else:
            logger.warning("server '%s' needs a login: open %s (or %s)", server, url, how_to_log_in(server))
        at_this_machine = not personal or self._announce is not None  # `glm-mcp login --person`: they are here
        from glm_mcp.oauth.redirect import open_browser

        if self._browser and at_this_machine and open_browser(url):
            self.opened.add(url)
        if watcher := self._watchers.get(server):
            watcher(True)
        if self._on_change is not None:
            await self._on_change()

    def reaches_someone(self, url: str) -> bool:
        """Whether a person can see this login now: a browser opened here, or the caller's editor takes URL
        elicitations, or it is no call's (a connection attempt: the log, the status page, `glm__login` show it)."""
        asker = current_asker()
        return asker is None or asker.elicit is not None or url in self.opened

    async def tell_caller(self, server: str, url: str) -> None:
        """Show the login to the person whose call needed it, as a URL elicitation of their editor (where it offers
        them and no browser was opened here); their answer is only their consent to open it."""
        asker = current_asker()
        if asker is None or asker.elicit is None or url in self.opened:
            return
        message = f"'{server.partition('@')[0]}' needs you to log in; glm-mcp goes on once you have."
        params = T.ElicitRequestURLParams(
            mode="url", message=message, url=url, elicitation_id=secrets.token_urlsafe(12)
        )
        try:
            await asker.elicit(params)
        except Exception:  # boundary: an editor that cannot show it still has `glm__login` and the command
            logger.info("the login of '%s' could not be shown to the caller's editor", server, exc_info=True)

    async def login_done(self, server: str) -> None:
        self.opened.discard(self.pending.pop(server, ""))
        if watcher := self._watchers.get(server):
            watcher(False)
        if self._on_change is not None:
            await self._on_change()
