"""Who answers a server's own questions (sampling, elicitation, roots) while it serves a call.

Contract:
- every call, resource read and prompt sent to a server names its `Asker`: the editor whose request caused it, the
  chat loop, or nobody; the server's questions go to the latest caller still waiting on that server (the protocol
  does not say which of several concurrent calls a question belongs to; one caller at a time is the usual case);
- `Questions` is what a session advertises and how it answers, per the server's `sampling` setting: `"editor"`
  (the caller only), `"glm"` (GLM only), `"editor-then-glm"` (the caller when it can, else GLM) or `"deny"`
  (sampling not advertised); elicitation is advertised and declined when the caller cannot ask a person;
  roots come from the caller, else from the gateway (connected editors, then the config's `roots`);
- an answer that fails is an `ErrorData` for the server, never an exception in the session;
- a question the server withdraws (`notifications/cancelled`) cancels its answer, and with it the editor's request;
  progress the editor reports on a question it is answering reaches the server under the server's own progress
  token (`relaying_progress` holds where it goes while one answer runs).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, Protocol, TypeVar

import mcp.types as T
from pydantic import TypeAdapter, ValidationError

logger = logging.getLogger("glm_mcp.upstream")

R = TypeVar("R")

_INPUT_REQUEST: TypeAdapter[T.InputRequest] = TypeAdapter(T.InputRequest)

SamplingPolicy = Literal["editor", "glm", "editor-then-glm", "deny"]

SampleResult = T.CreateMessageResult | T.CreateMessageResultWithTools | T.ErrorData
SampleFnT = Callable[[T.CreateMessageRequestParams], Awaitable[SampleResult]]
ElicitFnT = Callable[[T.ElicitRequestParams], Awaitable[T.ElicitResult | T.ErrorData]]
RootsFnT = Callable[[], Awaitable[T.ListRootsResult | T.ErrorData]]


class ProgressFnT(Protocol):
    """Reports progress on the question being answered."""

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None: ...


_progress_relay: ContextVar[ProgressFnT | None] = ContextVar("glm_mcp_progress_relay", default=None)


@contextmanager
def relaying_progress(relay: ProgressFnT | None) -> Generator[None, None, None]:
    """While the answer to one question runs, progress reported on it goes to `relay` (the asking server)."""
    reset = _progress_relay.set(relay)
    try:
        yield
    finally:
        _progress_relay.reset(reset)


def progress_relay() -> ProgressFnT | None:
    """Where progress on the question being answered now goes, if the asking server wants any."""
    return _progress_relay.get()


class Answers(Protocol):
    """Answers to a server's own requests; None for a kind that cannot be answered (nor is advertised)."""

    @property
    def sample(self) -> SampleFnT | None: ...

    @property
    def elicit(self) -> ElicitFnT | None: ...

    @property
    def roots(self) -> RootsFnT | None: ...


class Asker(Answers, Protocol):
    """A caller able to answer some of a server's questions."""

    @property
    def label(self) -> str:
        """Who this is, for logs and refusals ("the editor", "the chat loop")."""
        ...


class Callers:
    """The askers with a request in flight on one server, latest last."""

    def __init__(self) -> None:
        self._waiting: list[Asker] = []

    @contextmanager
    def waiting(self, asker: Asker | None) -> Generator[None, None, None]:
        if asker is None:
            yield
            return
        self._waiting.append(asker)
        try:
            yield
        finally:
            self._waiting.remove(asker)

    def latest(self) -> Asker | None:
        return self._waiting[-1] if self._waiting else None


def _refusal(message: str) -> T.ErrorData:
    return T.ErrorData(code=T.INVALID_REQUEST, message=message)


class Questions:
    """The answers one server's session gives (and advertises), from its callers and the gateway's fallback."""

    def __init__(self, server: str, callers: Callers, policy: SamplingPolicy, fallback: Asker | None) -> None:
        self._server = server
        self._callers = callers
        self._policy = policy
        self._fallback = fallback
        self.elicit: ElicitFnT | None = self._elicit
        self.roots: RootsFnT | None = self._roots

    @property
    def sample(self) -> SampleFnT | None:
        """None where nobody could ever answer: `"deny"`, or `"glm"` without a model key (read when a session opens,
        so a key added later reaches the server at its next connection)."""
        if self._policy == "deny":
            return None
        if self._policy == "glm" and (self._fallback is None or self._fallback.sample is None):
            return None
        return self._sample

    async def _sample(self, params: T.CreateMessageRequestParams) -> SampleResult:
        caller = self._callers.latest()
        by_caller = caller.sample if caller is not None else None
        by_glm = self._fallback.sample if self._fallback is not None else None
        if self._policy == "glm":
            chosen = by_glm
        elif self._policy == "editor":
            chosen = by_caller
        else:
            chosen = by_caller or by_glm
        if chosen is None:
            who = "GLM (no model is configured)" if self._policy == "glm" else "the caller (it cannot sample)"
            return _refusal(f"glm-mcp cannot answer sampling for '{self._server}': {who}")
        return await _guarded(chosen(params), "sampling", self._server)

    async def _elicit(self, params: T.ElicitRequestParams) -> T.ElicitResult | T.ErrorData:
        caller = self._callers.latest()
        if caller is None or caller.elicit is None:
            who = caller.label if caller is not None else "no caller"
            logger.info("server '%s' asked for user input; %s cannot ask a person: declined", self._server, who)
            return T.ElicitResult(action="decline")
        return await _guarded(caller.elicit(params), "elicitation", self._server)

    async def answer(self, raw: object) -> T.InputResponse | T.ErrorData:
        """Answer one question a 2026-07-28 server embedded in an `InputRequiredResult`."""
        try:
            request = _INPUT_REQUEST.validate_python(raw, by_name=False)
        except ValidationError as exc:
            return _refusal(f"a malformed input request: {exc.errors(include_url=False)[0]['msg']}")
        if isinstance(request, T.CreateMessageRequest):
            if self.sample is None:
                why = '"sampling": "deny"' if self._policy == "deny" else '"sampling": "glm" and no model key is set'
                return _refusal(f"sampling is not offered to '{self._server}' ({why})")
            return await self.sample(request.params)
        if isinstance(request, T.ElicitRequest):
            return await self._elicit(request.params)
        return await self._roots()

    async def _roots(self) -> T.ListRootsResult | T.ErrorData:
        caller = self._callers.latest()
        if caller is not None and caller.roots is not None:
            return await _guarded(caller.roots(), "roots", self._server)
        if self._fallback is not None and self._fallback.roots is not None:
            return await _guarded(self._fallback.roots(), "roots", self._server)
        return T.ListRootsResult(roots=[])


async def _guarded(answer: Awaitable[R | T.ErrorData], kind: str, server: str) -> R | T.ErrorData:
    try:
        return await answer
    except Exception as exc:  # boundary: a failed answer is the server's error, never the session's end
        logger.warning("server '%s': answering %s failed: %s", server, kind, exc)
        return T.ErrorData(code=T.INTERNAL_ERROR, message=f"glm-mcp could not answer {kind}: {exc}")
