"""Which session a request to a server goes to: the server's own, or, where its logins are each person's, the
calling person's (never another person's)."""

from __future__ import annotations

from collections.abc import Callable

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig
from glm_mcp.errors import UpstreamUnavailable
from glm_mcp.oauth.vault import how_to_log_in
from glm_mcp.people import current_person
from glm_mcp.upstream.connection import Upstream
from glm_mcp.upstream.pool import UpstreamPool


class Routes:
    """The sessions of every server, by caller."""

    def __init__(self, pool: UpstreamPool, config: Callable[[], GatewayConfig]) -> None:
        self._pool = pool
        self._config = config

    def per_person(self, server: str) -> bool:
        """Whether the server's logins are each person's own (`credentials`, by default when two people or more
        are named in `gateway.auth_tokens`)."""
        config = self._config().servers.get(server)
        if not isinstance(config, HttpUpstreamConfig) or not config.oauth_enabled:
            return False
        gateway = self._config().gateway
        many = len(gateway.people) >= 2 or gateway.oidc is not None
        chosen = config.credentials or ("per_user" if many else "shared")
        return chosen == "per_user"

    def upstream_for(self, server: str, *, start: bool = False) -> Upstream:
        """The session a request to `server` goes to: the server's, or the calling person's own where its logins are
        each person's. `start` starts the person's session when it does not run (their login then begins).

        Raises:
            UpstreamUnavailable: No such server; or its logins are each person's and the caller is nobody, or not
                logged in (the message says how to log in), never another person's session.
        """
        if not self.per_person(server):
            return self._pool[server]
        person = current_person()
        if person is None:
            raise UpstreamUnavailable(
                server, "each person uses it with their own login, and this request carries no named token"
            )
        found = self._pool.personal_upstreams.get((server, person))
        if found is None or start:
            found = self._pool.personal(server, person)
        if not found.connected and not start:
            raise UpstreamUnavailable(server, f"{person} is not logged in to it: {how_to_log_in(found.signin.name)}")
        return found

    def waiting_for_login(self) -> tuple[str, ...]:
        """The servers the caller must log in to before using them: those waiting for a login, and those whose logins
        are each person's where the caller has no session up."""
        person = current_person()
        waiting: list[str] = []
        for name, upstream in self._pool.upstreams.items():
            if self.per_person(name):
                mine = self._pool.personal_upstreams.get((name, person)) if person is not None else None
                if person is not None and (mine is None or not mine.connected):
                    waiting.append(name)
            elif upstream.needs_login:
                waiting.append(name)
        return tuple(waiting)
