"""One remote server's login as its supervisor sees it: the OAuth client its requests go through, a login waiting
for its person, and the wait for a new login after one failed.

Contract:
- `SignIn.auth` is the server's OAuth client (None for stdio servers and OAuth turned off); an `oauth` object that
  cannot work is `error`, and the server is never started;
- while a login waits for its person, `waiting` is true and the start timeout of the attempt does not run;
- `until_logged_in` returns once the saved login changes (`glm-mcp login` in another process) or `wanted` is set
  (a person asked to log in now); it polls the saved login's file time, a `stat` a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import anyio
import httpx2

from glm_mcp.config import HttpUpstreamConfig, UpstreamConfig
from glm_mcp.oauth.logins import Logins
from glm_mcp.oauth.vault import LOGIN_POLL_SECONDS, ServerLogin, login_key


class SignIn:
    """The login side of one server's supervision."""

    def __init__(self, name: str, config: UpstreamConfig, logins: Logins | None, person: str | None = None) -> None:
        self.name = login_key(name, person)
        """The name its logins go by (`server@person` for a person's own)."""
        self._start_timeout = config.start_timeout
        self._logins = logins
        self.auth: httpx2.Auth | None = None
        self.error: str | None = None
        self.waiting = False
        self.asked_person = False
        """A person was asked to log in during the current attempt."""
        self.wanted = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._on_waiting: Callable[[], None] = lambda: None
        if logins is not None and isinstance(config, HttpUpstreamConfig):
            try:
                self.auth = logins.auth_for(name, config, person)
            except ValueError as exc:
                self.error = f"oauth: {exc}"

    @property
    def failure(self) -> str | None:
        """Why the last login failed (None once a request is accepted again)."""
        found = getattr(self.auth, "failure", None)  # set by the OAuth client
        return found if isinstance(found, str) else None

    @property
    def url(self) -> str | None:
        """The URL of the login waiting for its person."""
        return self._logins.pending.get(self.name) if self._logins is not None else None

    def watch(self, on_waiting: Callable[[], None]) -> Callable[[], None]:
        """Follow this server's logins (`on_waiting` is called when one starts waiting for its person); returns the
        function that stops it."""
        self._on_waiting = on_waiting
        if self._logins is None:
            return lambda: None
        return self._logins.watch(self.name, self._heard)

    def attempt(self, scope: anyio.CancelScope | None) -> None:
        """A connection attempt runs under `scope` (None: it is over, or the session is ready)."""
        self._scope = scope
        if scope is not None:
            self.asked_person = False

    def _heard(self, waiting: bool) -> None:
        self.waiting = waiting
        if waiting:
            self.asked_person = True
            self._on_waiting()
        if self._scope is not None:
            self._scope.deadline = math.inf if waiting else anyio.current_time() + self._start_timeout

    async def until_logged_in(self) -> None:
        """Wait for a new login: saved by another process, or asked for here."""
        self.wanted = anyio.Event()
        login = getattr(self.auth, "login", None)  # the OAuth client's saved login
        while not self.wanted.is_set():
            with anyio.move_on_after(LOGIN_POLL_SECONDS):
                await self.wanted.wait()
            if isinstance(login, ServerLogin) and login.changed():
                return
