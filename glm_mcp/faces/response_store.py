"""The Responses face's stored responses, for `previous_response_id`: bounded, expiring, per caller."""

from __future__ import annotations

import collections
from dataclasses import dataclass

import anyio

from glm_mcp.errors import RequestError
from glm_mcp.model.messages import JsonObject

MAX_STORED = 1_000
"""Responses kept for `previous_response_id`, all callers together (the oldest go first)."""
MAX_STORED_BYTES = 256 * 2**20
"""What those responses may hold, all callers together (the requests' bodies and the answers' text; the oldest go
first): a thousand bodies of 8 MiB would otherwise be kept for an hour."""
STORED_SECONDS = 3_600.0
"""How long a stored response can be continued."""


@dataclass
class _Stored:
    caller: str
    messages: list[JsonObject]
    """The whole conversation up to and including this response, as chat messages."""
    at: float
    size: int
    """The bytes this response added (the earlier turns it continues are shared with the response they came from)."""


class ResponseStore:
    """Stored responses for `previous_response_id`: bounded, expiring, per caller."""

    def __init__(self) -> None:
        self._items: collections.OrderedDict[str, _Stored] = collections.OrderedDict()
        self._bytes = 0

    def put(self, response_id: str, caller: str, messages: list[JsonObject], size: int) -> None:
        """Keep a response; `size` is what it added, in bytes. The oldest go while there are too many, they hold too
        much, or they expired."""
        now = anyio.current_time()
        if (old := self._items.pop(response_id, None)) is not None:
            self._bytes -= old.size
        self._items[response_id] = _Stored(caller, messages, now, size)
        self._bytes += size
        while self._items and (
            len(self._items) > MAX_STORED
            or self._bytes > MAX_STORED_BYTES
            or now - next(iter(self._items.values())).at > STORED_SECONDS
        ):
            self._bytes -= self._items.popitem(last=False)[1].size

    def get(self, response_id: str, caller: str) -> list[JsonObject]:
        """The conversation of a stored response.

        Raises:
            RequestError: No such response for this caller (never stored, expired, another caller's).
        """
        stored = self._items.get(response_id)
        if stored is None or stored.caller != caller or anyio.current_time() - stored.at > STORED_SECONDS:
            raise RequestError(
                f"previous_response_id {response_id!r} is not a stored response of yours (unknown, expired after "
                f"{STORED_SECONDS:g} s, or sent with store: false); send the conversation in 'input' instead",
                "previous_response_id",
            )
        return list(stored.messages)
