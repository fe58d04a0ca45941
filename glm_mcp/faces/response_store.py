"""The Responses face's stored responses, for `previous_response_id`: bounded, expiring, per caller."""

from __future__ import annotations

import collections
from dataclasses import dataclass

import anyio

from glm_mcp.errors import RequestError
from glm_mcp.model.messages import JsonObject

MAX_STORED = 1_000
"""Responses kept for `previous_response_id`, all callers together (the oldest go first)."""
STORED_SECONDS = 3_600.0
"""How long a stored response can be continued."""


@dataclass
class _Stored:
    caller: str
    messages: list[JsonObject]
    """The whole conversation up to and including this response, as chat messages."""
    at: float


class ResponseStore:
    """Stored responses for `previous_response_id`: bounded, expiring, per caller."""

    def __init__(self) -> None:
        self._items: collections.OrderedDict[str, _Stored] = collections.OrderedDict()

    def put(self, response_id: str, caller: str, messages: list[JsonObject]) -> None:
        self._items[response_id] = _Stored(caller, messages, anyio.current_time())
        while len(self._items) > MAX_STORED:
            self._items.popitem(last=False)

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
