"""`glm-mcp login NAME` and `glm-mcp logout NAME`: a person logs the gateway in to a remote server behind OAuth,
or forgets the login.

`--person NAME` logs in (or out) that person, for a server whose logins are each person's. `login` forgets the
saved tokens (the client registration stays), connects to the server as the gateway does, and
when the server asks for a login prints `open this URL to log in: <url>` on stderr, opens the browser where one
can be opened, takes the redirect on 127.0.0.1 and saves the tokens: exit 0 once the server accepted them, 1 with
the reason otherwise (a refusal, `gateway.login_timeout` passed). A running gateway sees the new login within a
second and connects.
"""

from __future__ import annotations

import argparse
import sys

from glm_mcp.cli.common import EXIT_FAILURE, EXIT_OK, run_async
from glm_mcp.config import GatewayConfig, HttpUpstreamConfig
from glm_mcp.errors import UsageError
from glm_mcp.gateway.core import Gateway
from glm_mcp.gateway.logins import login_over
from glm_mcp.oauth.logins import Logins, gateway_vault
from glm_mcp.people import acting_as
from glm_mcp.upstream.connection import ServerState


def _oauth_server(config: GatewayConfig, name: str) -> HttpUpstreamConfig:
    server = config.servers.get(name)
    if server is None:
        known = ", ".join(sorted(config.servers)) or "none"
        raise UsageError(f"no server '{name}' in {config.source} (its servers: {known})")
    if not isinstance(server, HttpUpstreamConfig):
        raise UsageError(f"'{name}' is a {server.type} server: only remote (url) servers log in with OAuth")
    if not server.oauth_enabled:
        raise UsageError(
            f"'{name}' has OAuth turned off (\"oauth\": false, or a static Authorization header): remove that to log in"
        )
    return server


def _announce(server: str, url: str) -> None:
    print(f"open this URL to log in: {url}", file=sys.stderr, flush=True)


def login(config: GatewayConfig, args: argparse.Namespace) -> int:
    name: str = args.server
    server = _oauth_server(config, name)
    vault = gateway_vault(config)
    logins = Logins(vault, timeout=config.gateway.login_timeout, browser=True, announce=_announce)
    person: str | None = args.person
    only = config.model_copy(update={"servers": {name: server}})

    async def run() -> tuple[ServerState, str | None, int]:
        gateway = Gateway(only, logins=logins, ready_wait_seconds=server.start_timeout)
        if gateway.routes.per_person(name) != (person is not None):
            raise UsageError(
                f"'{name}' keeps each person's login: add --person NAME (one of the names in gateway.auth_tokens)"
                if person is None
                else f"'{name}' keeps one login for everybody: leave out --person"
            )
        logins.login(name, server.url, person).forget_tokens()
        async with gateway.running():
            with acting_as(person):
                await login_over(gateway, name, config.gateway.login_timeout + server.start_timeout)
                upstream = gateway.routes.upstream_for(name, start=True)
            return upstream.state, upstream.error, len(upstream.listing.tools)

    state, error, tools = run_async(run)
    if state is not ServerState.READY:
        print(f"glm-mcp: the login to '{name}' did not complete: {error or state.value}", file=sys.stderr)
        return EXIT_FAILURE
    if not logins.login(name, server.url, person).has_tokens():
        print(f"'{name}' did not ask for a login: it works as it is ({tools} tools)", file=sys.stderr)
        return EXIT_OK
    print(f"logged in to '{name}' ({tools} tools); the login is kept in {vault.folder}", file=sys.stderr)
    return EXIT_OK


def logout(config: GatewayConfig, args: argparse.Namespace) -> int:
    name: str = args.server
    server = _oauth_server(config, name)
    if gateway_vault(config).remove(name, args.person):
        print(f"logged out of '{name}' ({server.url}): its saved login is removed", file=sys.stderr)
    else:
        print(f"no saved login for '{name}'", file=sys.stderr)
    return EXIT_OK
