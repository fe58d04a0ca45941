"""Who an HTTP request comes from, as the HTTP host marks it in the ASGI scope for the faces to read.

The host's bearer check sets `CLIENT_KEY`; its session bounds set `STREAM_CLOSED` on a POST in a session; its protocol
sets `ON_DISCONNECT`. A face reads them through the Starlette request the SDK hands its handlers (`ctx.request.scope`).
"""

from __future__ import annotations

import hashlib

from starlette.types import Scope

CLIENT_KEY = "glm_mcp.client"
"""Set in the scope by the bearer check: the digest of the token the request matched."""

PERSON_KEY = "glm_mcp.person"
"""Set in the scope by the bearer check when the token it matched is a named one: that person's name."""

ON_DISCONNECT = "glm_mcp.on_disconnect"
"""Set in the scope by the gateway's own HTTP protocol (`connection_limits`): a list the app may add callables to,
each called when the client goes away before its answer is complete. An app hosted without it (another ASGI server)
learns of a disconnect only by waiting on `receive`."""

STREAM_CLOSED = "glm_mcp.stream_closed"
"""Set in the scope of a POST in a session: an `anyio.Event` that fires when its client goes away, so a question
waiting to be answered on that request's stream ends at once instead of at the call's timeout."""


def client_key(scope: Scope) -> str:
    """Who a request comes from: the token it matched, or its address when the gateway takes no token."""
    matched = scope.get(CLIENT_KEY)
    if isinstance(matched, str):
        return matched
    client = scope.get("client")
    return f"address:{client[0] if client else '?'}"


def person_of(scope: Scope) -> str | None:
    """The person whose named token the request carries, None for a plain token or none."""
    person = scope.get(PERSON_KEY)
    return person if isinstance(person, str) else None


def token_id(token: bytes) -> str:
    """How a caller matched by `token` is named (`CLIENT_KEY`): a digest, never the token."""
    return f"token:{hashlib.sha256(token).hexdigest()[:16]}"
