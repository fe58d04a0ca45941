"""The editor as the asker of its upstream servers' questions: sampling, elicitation and roots.

Contract:
- `EditorAsker` asks the editor whose request is being served, on that request's own stream (2025 era), only what
  the editor declared it can; a question ends at once when the editor's stream closes before an answer, and a
  malformed answer becomes one line naming what was wrong;
- `editor_roots` asks the only connected editor for its roots outside any call, bounded by `ROOTS_WAIT_SECONDS`.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import anyio
import mcp.types as T
from mcp import MCPError
from mcp.server.session import ServerSession
from mcp.shared.message import ServerMessageMetadata
from pydantic import BaseModel, ValidationError

from glm_mcp.eras import MODERN_VERSION
from glm_mcp.relay.asking import ElicitFnT, RootsFnT, SampleFnT, SampleResult, progress_relay

logger = logging.getLogger(__name__)

ROOTS_WAIT_SECONDS = 5.0
"""How long the only editor is given to answer a `roots/list` asked outside its calls (on its standing stream)."""

R = TypeVar("R", bound=BaseModel)


def connection_of(session: ServerSession) -> Any:
    """The editor connection under a request's session proxy (`ctx.session` is a new proxy per request).

    The SDK has no public connection identity; this is the one place that reads it, and
    `tests/upstream/test_sdk_seams.py` fails the day an upgrade moves it.
    """
    return session._connection  # pyright: ignore[reportPrivateUsage] the documented seam above


class EditorAsker:
    """The editor whose request is being served, asked what its upstream server asks (a 2025-era connection).

    It answers only what the editor declared it can (`sampling`, `elicitation` form or URL, `roots`); the
    questions travel on the request's own stream, as the editor expects them.
    """

    label = "the editor"
    in_glm_loop = False

    def __init__(
        self,
        session: ServerSession,
        request_id: T.RequestId | None,
        *,
        sample: bool = True,
        closed: anyio.Event | None = None,
    ) -> None:
        self._session = session
        self._closed = closed
        """Fires when the editor's request stream goes away: a question waiting on it can never be answered."""
        self.identity: object = connection_of(session)  # the same for every request of this editor
        self._related = ServerMessageMetadata(related_request_id=request_id)
        caps = session.client_capabilities or T.ClientCapabilities()
        modern = session.protocol_version == MODERN_VERSION  # no server→client requests on 2026-07-28
        self.sample: SampleFnT | None = self._sample if sample and caps.sampling and not modern else None
        self.elicit: ElicitFnT | None = self._elicit if caps.elicitation and not modern else None
        self.roots: RootsFnT | None = self._roots if caps.roots and not modern else None
        self._url_elicitation = caps.elicitation is not None and caps.elicitation.url is not None

    async def _ask(self, request: T.ServerRequest, result: type[R]) -> R | T.ErrorData:
        # Cancelled when the asking server withdraws the question: the SDK then cancels it at the editor too.
        closed = self._closed
        if closed is None:
            return await self._send(request, result)
        answers: list[R | T.ErrorData] = []
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                answers.append(await self._send(request, result))
                tg.cancel_scope.cancel()

            async def watch() -> None:
                await closed.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(ask)
            tg.start_soon(watch)
        if answers:
            return answers[0]
        logger.info("the editor closed the request stream %s was asked on before answering", request.method)
        message = f"the editor closed its request stream before answering {request.method}"
        return T.ErrorData(code=T.INTERNAL_ERROR, message=message)

    async def _send(self, request: T.ServerRequest, result: type[R]) -> R | T.ErrorData:
        relay = progress_relay()  # the editor's progress gets its own token here, and the server's on the way back
        try:
            return await self._session.send_request(request, result, metadata=self._related, progress_callback=relay)
        except MCPError as exc:
            return T.ErrorData(code=exc.code, message=exc.message, data=exc.data)
        except ValidationError as exc:  # the editor answered, but not with what the question asks for
            wrong = [
                f"{'.'.join(str(part) for part in error['loc']) or 'the result'}: {error['msg']}"
                for error in exc.errors(include_url=False)[:3]
            ]
            message = f"the editor's answer to {request.method} was not valid: {'; '.join(wrong)}"
            logger.info("%s", message)
            return T.ErrorData(code=T.INTERNAL_ERROR, message=message)

    async def _sample(self, params: T.CreateMessageRequestParams) -> SampleResult:
        request = T.CreateMessageRequest(params=params)
        if params.tools:
            return await self._ask(request, T.CreateMessageResultWithTools)
        return await self._ask(request, T.CreateMessageResult)

    async def _elicit(self, params: T.ElicitRequestParams) -> T.ElicitResult | T.ErrorData:
        if isinstance(params, T.ElicitRequestURLParams) and not self._url_elicitation:
            logger.info("a server asked for URL elicitation; the editor only does forms: declined")
            return T.ElicitResult(action="decline")
        return await self._ask(T.ElicitRequest(params=params), T.ElicitResult)

    async def _roots(self) -> T.ListRootsResult | T.ErrorData:
        return await self._ask(T.ListRootsRequest(), T.ListRootsResult)


async def editor_roots(sessions: list[ServerSession]) -> T.ListRootsResult | None:
    """The roots of the only connected editor, when it has roots (asked on its own channel); None otherwise: with
    several editors connected, a server outside any one's call gets none of theirs (each stays private)."""
    if len(sessions) != 1:
        return None
    session = sessions[0]
    caps = session.client_capabilities
    if caps is None or caps.roots is None or session.protocol_version == MODERN_VERSION:
        return None
    try:
        # Asked on the editor's standing stream, which it may never have opened: then nothing would ever answer.
        with anyio.move_on_after(ROOTS_WAIT_SECONDS):
            return await session.send_request(T.ListRootsRequest(), T.ListRootsResult)
        logger.info("the editor did not answer roots/list within %g s: the server gets no roots", ROOTS_WAIT_SECONDS)
        return None
    except Exception:  # boundary: an editor that cannot answer now has none to give
        logger.info("the editor could not answer roots/list: the server gets no roots", exc_info=True)
        return None
