"""The requests one server's session carries: bounded, their errors mapped, a 2026-07-28 server's questions answered.

Contract:
- every `MCPError` becomes an `UpstreamError`: the connection closed (`UpstreamUnavailable`), the HTTP server lost
  the session (`SessionLost`, and the session is ended so a new one opens at once), or the server's own error
  (`UpstreamProtocolError`); a malformed result is an `UpstreamProtocolError` naming what was asked;
- a 2026-07-28 server asks in its result (`resultType: "input_required"`, `inputRequests`, `requestState`); the same
  request goes again with the answers of the server's askers, at most `MAX_INPUT_ROUNDS` times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import mcp.types as T
from mcp import MCPError
from mcp.shared.dispatcher import CallOptions
from pydantic import BaseModel, ValidationError

from glm_mcp._json import as_object
from glm_mcp.config import UpstreamConfig
from glm_mcp.errors import CallerLacksCapability, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from glm_mcp.relay.asking import Questions, asked_under
from glm_mcp.upstream.wire import Wire

R = TypeVar("R", bound=BaseModel)

INTERACTIVE = frozenset({"tools/call", "resources/read", "prompts/get"})
"""The requests a server may answer with questions."""

MAX_INPUT_ROUNDS = 10
"""`InputRequiredResult` rounds one request may take before the server is taken to be looping."""


async def answering_rounds(
    wire: Wire, method: str, params: dict[str, Any] | None, opts: CallOptions | None, questions: Questions, server: str
) -> dict[str, Any]:
    """Send the request, answering the server's questions until it gives its result; every round declares what the
    caller of this request can answer (`Questions.declared`).

    Raises:
        UpstreamProtocolError: The server kept asking, or a question could not be answered.
        MCPError: As `Wire.request` raises it.
    """
    declared = questions.declared() if wire.modern else None  # the handshake era declared once, at initialize
    raw = await wire.request(method, params, opts, declared)
    rounds = 0
    while method in INTERACTIVE and raw.get("resultType") == "input_required":
        rounds += 1
        if rounds > MAX_INPUT_ROUNDS:
            raise UpstreamProtocolError(server, f"{method} still asked for input after {MAX_INPUT_ROUNDS} rounds")
        retry = dict(params or {})
        retry["inputResponses"] = await _answers(raw.get("inputRequests"), questions, server)
        retry.pop("requestState", None)
        if isinstance(state := raw.get("requestState"), str):
            retry["requestState"] = state
        raw = await wire.request(method, retry, opts, declared)
    return raw


async def _answers(requests: object, questions: Questions, server: str) -> dict[str, Any]:
    """The answers to a round's questions, asked together (a 2026-07-28 editor gets them in one round of its own,
    under the server's keys).

    Raises:
        UpstreamProtocolError: A question could not be answered.
    """
    answers: dict[str, T.InputResponse | T.ErrorData] = {}

    async def answer(key: str, request: object) -> None:
        with asked_under(key):
            answers[key] = await questions.answer(request)

    async with anyio.create_task_group() as tg:
        for key, request in (as_object(requests) or {}).items():
            tg.start_soon(answer, key, request)
    wire: dict[str, Any] = {}
    for key, given in answers.items():
        if isinstance(given, T.ErrorData):
            raise UpstreamProtocolError(server, f"its question could not be answered: {given.message}")
        wire[key] = given.model_dump(by_alias=True, mode="json", exclude_none=True)
    return wire


@dataclass
class Live:
    """An open session: its wire, whether it closed, and the wake-up of its listing refresh."""

    wire: Wire
    closed: anyio.Event
    wake: anyio.Event = field(default_factory=anyio.Event)


class SessionLost(UpstreamUnavailable):
    """The HTTP server no longer knows the session."""


def is_session_lost(exc: MCPError) -> bool:
    """Whether an HTTP server no longer knows the session (the SDK's words for its 404; a seam test guards them)."""
    message = exc.message.lower()
    return "session not found" in message or "session terminated" in message


class Requests:
    """One server's requests; `on_lost` is told when the HTTP server lost the session."""

    def __init__(
        self,
        server: str,
        config: UpstreamConfig,
        questions: Questions,
        on_lost: Callable[[], None],
        login_failure: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._login_failure = login_failure
        self._server = server
        self._config = config
        self._questions = questions
        self._on_lost = on_lost

    def validated(self, model: type[R], raw: dict[str, Any], what: str) -> R:
        """`raw` as `model`.

        Raises:
            UpstreamProtocolError: It is not one.
        """
        try:
            return model.model_validate(raw, by_name=False)
        except ValidationError:
            raise UpstreamProtocolError(self._server, f"{what}: malformed result") from None

    async def timed(self, live: Live, method: str, params: dict[str, Any], what: str) -> dict[str, Any]:
        """A request bounded by the server's `timeout` (cancelled upstream when it runs out).

        Raises:
            UpstreamTimeout: No answer within the timeout.
            UpstreamError: As `request` raises.
        """
        with anyio.move_on_after(self._config.timeout):
            return await self.request(live, method, params)
        raise UpstreamTimeout(self._server, f"{what}: no answer after {self._config.timeout:g} s")

    async def request(
        self, live: Live, method: str, params: dict[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        """Send one request on `live`, answering the server's questions.

        Raises:
            UpstreamUnavailable: The connection closed (`SessionLost` when the HTTP server forgot the session).
            UpstreamProtocolError: The server answered with an error, or kept asking.
        """
        try:
            return await answering_rounds(live.wire, method, params, opts, self._questions, self._server)
        except MCPError as exc:
            if exc.code == T.CONNECTION_CLOSED or live.closed.is_set():
                failure = self._login_failure()
                why = f": the login it asked for failed ({failure})" if failure else ""
                if not why and exc.code == T.CONNECTION_CLOSED and exc.message != "Connection closed":
                    why = f" ({exc.message})"  # the SDK's reason, such as an event past the size limit
                raise UpstreamUnavailable(self._server, f"the connection closed during the request{why}") from exc
            if self._config.type in ("http", "sse") and is_session_lost(exc):
                self._on_lost()
                live.closed.set()  # the supervisor opens a new session at once
                raise SessionLost(self._server, exc.message) from exc
            if exc.code == T.MISSING_REQUIRED_CLIENT_CAPABILITY:
                raise CallerLacksCapability(self._server, exc.message, exc.error.data) from exc
            raise UpstreamProtocolError(self._server, f"error {exc.code}: {exc.message}") from exc
