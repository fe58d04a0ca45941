"""Who is calling, for the servers whose logins are each person's own: the name of the person whose token the
request carries (`gateway.auth_tokens` entries with a name), None for everybody else.

The HTTP host marks the person in the request; a face runs the request's work `acting_as` them, and the gateway
reads `current_person` where it chooses a per-person session.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar

_person: ContextVar[str | None] = ContextVar("glm_mcp_person", default=None)


def current_person() -> str | None:
    return _person.get()


@contextmanager
def acting_as(person: str | None) -> Generator[None, None, None]:
    reset = _person.set(person)
    try:
        yield
    finally:
        _person.reset(reset)
