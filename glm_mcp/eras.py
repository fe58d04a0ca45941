"""The two eras of the MCP protocol the gateway speaks, on both its sides, and the era of the caller at hand.

The 2025 era (`initialize`, sessions, server-to-client requests on the request's stream) is every revision up to
2025-11-25; the 2026-07-28 revision is stateless per request and asks its questions in input-required rounds.

A face runs a 2026-07-28 caller's work `calling_in` that era; an upstream server that speaks both eras is then
asked in its 2026-07-28 session, and everybody else's requests go to its handshake-era session.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar

MODERN_VERSION = "2026-07-28"
"""The first revision of the stateless era: no `initialize`, no server-to-client requests."""

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""The revisions of the handshake era, oldest first."""

_era: ContextVar[str | None] = ContextVar("glm_mcp_caller_era", default=None)


def caller_era() -> str | None:
    """The protocol version of the caller whose work this task does: `MODERN_VERSION` for a 2026-07-28 editor,
    None for everybody else (2025-era editors, the chat faces, the GLM loop)."""
    return _era.get()


@contextmanager
def calling_in(version: str | None) -> Generator[None, None, None]:
    reset = _era.set(version)
    try:
        yield
    finally:
        _era.reset(reset)
