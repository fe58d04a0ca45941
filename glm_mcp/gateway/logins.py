"""A person asks to log in to a server behind OAuth (the status page's Login button, `glm__login`, `glm-mcp login`):
the login's URL, and the wait until the login is over."""

from __future__ import annotations

import anyio

from glm_mcp.gateway.core import Gateway
from glm_mcp.upstream.connection import ServerState


async def login_url(gateway: Gateway, name: str) -> str | None:
    """The URL of the server's login, starting one where none waits (a server parked after a failed login tries
    again now); None when the server started none within its start timeout (it needs none, or cannot be reached).

    Raises:
        UpstreamUnavailable: No such server, or its logins are each person's and the caller is nobody.
    """
    upstream = gateway.routes.upstream_for(name, start=True)  # the caller's own, where logins are each person's
    key = upstream.signin.name
    with anyio.move_on_after(upstream.config.start_timeout):
        while gateway.logins.pending.get(key) is None and not upstream.connected:
            upstream.signin.wanted.set()
            with anyio.move_on_after(1):  # a failed attempt changes no catalog: look again each second
                await gateway.next_change()
    return gateway.logins.pending.get(key)


async def login_over(gateway: Gateway, name: str, seconds: float) -> None:
    """Wait (at most `seconds`) until the server's login is over: it is connected, or it failed, or it is parked
    needing another login."""
    upstream = gateway.routes.upstream_for(name, start=True)
    busy = (ServerState.STARTING, ServerState.RESTARTING, ServerState.READY)
    with anyio.move_on_after(seconds):
        while upstream.signin.waiting or (upstream.state in busy and not upstream.connected):
            with anyio.move_on_after(1):  # see above
                await gateway.next_change()
