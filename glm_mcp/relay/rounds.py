"""Asking a 2026-07-28 editor: an upstream server's questions travel back as `InputRequiredResult` rounds.

An editor of the 2026-07-28 era takes no requests from the server. When a call it made needs an answer from it
(sampling, elicitation, roots asked by the upstream server), the call's first answer is an `InputRequiredResult`
holding the questions and an opaque `request_state`; the editor answers them and sends the same request again
with `input_responses` and that state; the call, still running, gets its answers and goes on.

Contract:
- `Rounds.run` starts the call on its first request and, on each request, answers with the call's result once it
  is done, or with the questions it is waiting on (all of those asked so far);
- `request_state` names one waiting call and one round of it, signed with a per-process key over the call's
  binding (who asked, the method, the tool or resource and its arguments): each round gets a fresh state, and a
  state from another caller, for a changed call, of an earlier round or tampered with is refused with an
  invalid-params error that says which, as is an unknown or expired one; a call nobody resumes within
  `PAUSE_SECONDS` is cancelled (upstream too);
- only what the editor declared is asked (`sampling`, `elicitation`, `roots`); the rest falls to the gateway;
- a 2026-07-28 server's questions keep the server's keys, and those it asked together reach the editor together;
- a question the server withdraws before the editor answered is no longer asked; a late answer to it is ignored;
- with replicas (`share`), every state names the replica whose call it is, signed with the key they share: a request
  presenting another replica's state is passed to it (`RoundsRelay`) and answered with what that replica answered,
  or refused when that replica is gone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

import anyio
import mcp.types as T
from anyio.abc import TaskGroup
from mcp import MCPError
from pydantic import BaseModel

from glm_mcp.relay.asking import Asker, ElicitFnT, RootsFnT, SampleFnT, SampleResult, question_key

logger = logging.getLogger(__name__)

PAUSE_SECONDS = 300.0
"""How long a call waits for the editor to come back with its answers before it is cancelled."""

MAX_WAITING_CALLS = 1_024
"""Calls of 2026-07-28 editors in flight or paused at once; past it, new ones are refused (each holds an upstream call
open)."""

R = TypeVar("R")


class RoundsRelay(Protocol):
    """Passes a round to the replica whose call it is (`home`), and back."""

    @property
    def home(self) -> str:
        """This replica's id, named in every state it issues."""
        ...

    async def forward(self, home: str, request: dict[str, Any]) -> dict[str, Any]:
        """What replica `home` answered to `request` (as `Rounds.answer_forwarded` writes it)."""
        ...


def _wire(value: Any) -> Any:
    """`value` as JSON (a model as its wire form)."""
    return value.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(value, BaseModel) else value


@dataclass
class _Question:
    key: str
    request: T.InputRequest
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: Any = None


@dataclass
class _Waiting(Generic[R]):
    token: str
    binding: str = ""
    """Who made the call and what it is (see `Rounds.run`): a state is valid only for the same."""
    round: int = 0
    """How many `InputRequiredResult`s the call has had; only the state of the latest is accepted."""
    asked: anyio.Event = field(default_factory=anyio.Event)
    open_questions: dict[str, _Question] = field(default_factory=dict[str, _Question])
    done: anyio.Event = field(default_factory=anyio.Event)
    result: R | None = None
    error: BaseException | None = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    deadline: float = 0.0
    count: int = 0
    attached: int = 0
    """Requests waiting on the call now; only a call nobody waits on can expire."""
    seeded: dict[str, Any] = field(default_factory=dict[str, Any])
    """Answers the editor sent with its first request (no `request_state` yet), under the keys it expects a
    server to ask with: a question asked under one of them takes it instead of a round."""


class _RoundsAsker:
    """The asker a waiting call uses: each question becomes part of the next `InputRequiredResult`."""

    label = "the editor (2026-07-28)"
    in_glm_loop = False

    def __init__(self, waiting: _Waiting[Any], caps: T.ClientCapabilities) -> None:
        self._waiting = waiting
        self.identity: object = self  # a 2026-07-28 call stands alone: no connection ties it to other calls
        self.sample: SampleFnT | None = self._sample if caps.sampling is not None else None
        self.elicit: ElicitFnT | None = self._elicit if caps.elicitation is not None else None
        self.roots: RootsFnT | None = self._roots if caps.roots is not None else None

    async def _ask(self, request: T.InputRequest) -> Any:
        waiting = self._waiting
        waiting.count += 1
        key = question_key()  # the server's own key, when the server asked in a round of its own
        if key is not None and key in waiting.seeded:
            return waiting.seeded.pop(key)
        if key is None or key in waiting.open_questions:
            key = f"q{waiting.count}"
        question = _Question(key, request)
        waiting.open_questions[question.key] = question
        waiting.asked.set()
        try:
            await question.answered.wait()
        finally:
            # Withdrawn by the server (cancelled) or answered: either way no longer asked of the editor.
            waiting.open_questions.pop(question.key, None)
            if not waiting.open_questions and not question.answered.is_set():
                waiting.asked = anyio.Event()
        return question.answer

    async def _sample(self, params: T.CreateMessageRequestParams) -> SampleResult:
        answer = await self._ask(T.CreateMessageRequest(params=params))
        if isinstance(answer, T.ErrorData | T.CreateMessageResult | T.CreateMessageResultWithTools):
            return answer
        return T.ErrorData(code=T.INVALID_PARAMS, message="the editor's answer to sampling was not a message")

    async def _elicit(self, params: T.ElicitRequestParams) -> T.ElicitResult | T.ErrorData:
        answer = await self._ask(T.ElicitRequest(params=params))
        if isinstance(answer, T.ElicitResult | T.ErrorData):
            return answer
        return T.ErrorData(code=T.INVALID_PARAMS, message="the editor's answer to elicitation was not an elicit result")

    async def _roots(self) -> T.ListRootsResult | T.ErrorData:
        answer = await self._ask(T.ListRootsRequest())
        if isinstance(answer, T.ListRootsResult | T.ErrorData):
            return answer
        return T.ErrorData(code=T.INVALID_PARAMS, message="the editor's answer to roots/list was not a list of roots")


class Rounds:
    """The calls of 2026-07-28 editors that wait for the editor's answers."""

    def __init__(self, key: bytes | None = None) -> None:
        self._waiting: dict[str, _Waiting[Any]] = {}
        self._groups: list[TaskGroup] = []
        self._key = key or secrets.token_bytes(32)
        """Signs every `request_state`; per process unless given."""
        self._relay: RoundsRelay | None = None

    def share(self, key: bytes, relay: RoundsRelay | None = None) -> None:
        """Sign with `key` (the key every replica shares) from now on; pass other replicas' rounds through
        `relay`."""
        self._key = key
        self._relay = relay

    def _elsewhere(self, state: str) -> str | None:
        """The replica whose call `state` names, when it is not this one's."""
        home, dash, _ = state.split(".", 1)[0].partition("-")
        if self._relay is None or not dash or home == self._relay.home:
            return None
        return home

    async def _forwarded(
        self, home: str, params: T.InputResponseRequestParams, binding: str, parse: Callable[[Any], R]
    ) -> R | T.InputRequiredResult:
        assert self._relay is not None
        responses = {key: _wire(answer) for key, answer in (params.input_responses or {}).items()}
        request = {"state": params.request_state, "responses": responses, "binding": binding}
        answer = await self._relay.forward(home, request)
        if answer.get("kind") == "input":
            return T.InputRequiredResult.model_validate(answer["value"])
        if answer.get("kind") == "result":
            return parse(answer["value"])
        raise MCPError(int(answer.get("code", T.INTERNAL_ERROR)), str(answer.get("message")), answer.get("data"))

    async def answer_forwarded(self, request: dict[str, Any]) -> dict[str, Any]:
        """Serve a round another replica passed here (see `RoundsRelay.forward`)."""

        async def never(asker: Asker) -> None:
            raise MCPError(T.INVALID_PARAMS, "a forwarded round never starts a call")

        params = T.InputResponseRequestParams(
            request_state=str(request.get("state")), input_responses=request.get("responses") or None
        )
        try:
            outcome = await self.run(params, T.ClientCapabilities(), never, str(request.get("binding", "")))
        except MCPError as exc:
            return {"kind": "error", "code": exc.code, "message": exc.message, "data": exc.data}
        except Exception as exc:  # boundary: the other replica's editor gets the error as this one's would
            return {"kind": "error", "code": T.INTERNAL_ERROR, "message": str(exc)}
        kind = "input" if isinstance(outcome, T.InputRequiredResult) else "result"
        value = (
            outcome.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(outcome, BaseModel)
            else outcome
        )
        return {"kind": kind, "value": value}

    def _sign(self, token: str, round_: int, binding: str) -> str:
        digest = hmac.new(self._key, f"{token}.{round_}|{binding}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def _state(self, waiting: _Waiting[Any]) -> str:
        return f"{waiting.token}.{waiting.round}.{self._sign(waiting.token, waiting.round, waiting.binding)}"

    def is_waiting(self, state: str) -> bool:
        """Whether `state` is the current round's state of a call that still waits (or whose result waits)."""
        waiting = self._waiting.get(state.split(".", 1)[0])
        return waiting is not None and self._state(waiting) == state

    def check(self, state: str, binding: str) -> None:
        """Refuse a `state` that `run` would refuse for `binding`, before anything else is done with the request.

        Raises:
            MCPError: As `run` would.
        """
        self._resumed(state, binding)

    def _resumed(self, state: str, binding: str) -> _Waiting[Any]:
        """The waiting call `state` names, checked against the request presenting it.

        Raises:
            MCPError: The state is unknown or expired, tampered with, of an earlier round, or issued to another
                caller or for another call.
        """
        token, _, rest = state.partition(".")
        round_text, _, signature = rest.partition(".")
        waiting = self._waiting.get(token)
        if waiting is None or not round_text.isdigit():
            raise MCPError(T.INVALID_PARAMS, "unknown or expired request_state: send the request again from the start")
        if not hmac.compare_digest(signature, self._sign(token, int(round_text), binding)):
            logger.info("a request_state was presented by another caller, for another call, or altered: refused")
            raise MCPError(
                T.INVALID_PARAMS,
                "this request_state does not belong to this request: it was issued to another client or for a "
                "different call (method, tool, arguments), or it was altered; send the request again from the start",
            )
        if int(round_text) != waiting.round:
            raise MCPError(
                T.INVALID_PARAMS, "this request_state is of an earlier round, already answered; use the latest one"
            )
        return waiting

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[None, None]:
        """Host waiting calls while the face runs; leaving cancels the ones started here."""
        async with anyio.create_task_group() as tg:
            self._groups.append(tg)
            try:
                yield
            finally:
                self._groups.remove(tg)
                tg.cancel_scope.cancel()

    async def run(
        self,
        params: T.InputResponseRequestParams,
        caps: T.ClientCapabilities,
        start: Callable[[Asker], Awaitable[R]],
        binding: str = "",
        parse: Callable[[Any], R] | None = None,
    ) -> R | T.InputRequiredResult:
        """The call's result, or the questions the editor must answer before asking again.

        `binding` says who makes the call and what it is (the caller, the method, the tool or resource, the
        arguments): the same request sent again with the answers must bring the same.

        `parse` reads the result of a call another replica holds (without it, such a state is unknown here).

        Raises:
            MCPError: The `request_state` names no waiting call (unknown, expired or finished), does not belong to
                this caller and call, or too many wait.
        """
        if params.request_state is not None and parse is not None and (home := self._elsewhere(params.request_state)):
            return await self._forwarded(home, params, binding, parse)
        if params.request_state is None:
            waiting = self._begin(caps, start, binding, dict(params.input_responses or {}))
        else:
            waiting = self._resumed(params.request_state, binding)
            for key, answer in (params.input_responses or {}).items():
                question = waiting.open_questions.pop(key, None)
                if question is not None:
                    question.answer = answer
                    question.answered.set()
            if not waiting.open_questions:
                waiting.asked = anyio.Event()
        waiting.attached += 1
        try:
            while not waiting.done.is_set():
                async with anyio.create_task_group() as tg:

                    async def finished() -> None:
                        await waiting.done.wait()
                        tg.cancel_scope.cancel()

                    async def questions() -> None:
                        await waiting.asked.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(finished)
                    tg.start_soon(questions)
                if waiting.open_questions:
                    break  # else each question asked was withdrawn before it could be handed out: wait on
        except anyio.get_cancelled_exc_class():
            # The editor gave up on the request itself (not merely paused to answer): so does the call.
            waiting.scope.cancel()
            self._waiting.pop(waiting.token, None)
            raise
        finally:
            waiting.attached -= 1
            waiting.deadline = anyio.current_time() + PAUSE_SECONDS
        if waiting.done.is_set():
            self._waiting.pop(waiting.token, None)
            if waiting.error is not None:
                raise waiting.error
            return cast(R, waiting.result)
        requests: dict[str, T.InputRequest] = {key: q.request for key, q in waiting.open_questions.items()}
        waiting.round += 1
        return T.InputRequiredResult(input_requests=requests, request_state=self._state(waiting))

    def _begin(
        self,
        caps: T.ClientCapabilities,
        start: Callable[[Asker], Awaitable[Any]],
        binding: str,
        seeded: dict[str, Any],
    ) -> _Waiting[Any]:
        if not self._groups:
            raise RuntimeError("Rounds.run outside Rounds.running()")
        if len(self._waiting) >= MAX_WAITING_CALLS:
            raise MCPError(
                T.INTERNAL_ERROR, f"{MAX_WAITING_CALLS} calls already wait for their editors; try again later"
            )
        home = f"{self._relay.home}-" if self._relay is not None else ""
        waiting: _Waiting[Any] = _Waiting(home + secrets.token_hex(16), binding, seeded=seeded)
        self._waiting[waiting.token] = waiting
        asker = _RoundsAsker(waiting, caps)

        async def call() -> None:
            with waiting.scope:
                try:
                    waiting.result = await start(asker)
                except Exception as exc:  # handed to whichever request collects the result
                    waiting.error = exc
                finally:
                    waiting.done.set()

        async def expire() -> None:
            while not waiting.done.is_set():
                with anyio.move_on_after(max(0.0, waiting.deadline - anyio.current_time())):
                    await waiting.done.wait()
                if waiting.attached and not waiting.done.is_set():
                    waiting.deadline = anyio.current_time() + PAUSE_SECONDS  # a request waits on it: not paused
                    continue
                if not waiting.done.is_set() and anyio.current_time() >= waiting.deadline:
                    logger.info("a call waited %g s for its editor's answers; cancelled", PAUSE_SECONDS)
                    waiting.scope.cancel()
                    self._waiting.pop(waiting.token, None)
                    return
            if waiting.token in self._waiting:
                # A finished call nobody collected is dropped after the same pause.
                await anyio.sleep(PAUSE_SECONDS)
                self._waiting.pop(waiting.token, None)

        group = self._groups[-1]
        waiting.deadline = anyio.current_time() + PAUSE_SECONDS
        group.start_soon(call)
        group.start_soon(expire)
        return waiting
