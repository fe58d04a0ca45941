"""Who answers a server's own questions (sampling, elicitation, roots) while it serves a call.

Contract:
- every call, resource read and prompt sent to a server names its `Asker`: the editor whose request caused it, the
  chat loop, or nobody. A 2026-07-28 server's questions come inside the result of one request and go to that
  request's asker. A 2025-era server's questions are requests of their own that do not say which call they belong
  to: they go to the caller waiting on that server when all its waiting requests come from one caller, and are
  never guessed when several callers wait (sampling falls to GLM where the policy allows, elicitation is declined,
  roots are the gateway's), so one editor never sees another's questions;
- `Questions` is what a session advertises and how it answers, per the server's `sampling` setting: `"editor"`
  (the default: the caller's person, through its editor), `"glm"` (GLM), `"editor-then-glm"` (the caller when
  it can, else GLM) or `"deny"` (sampling not advertised). Whatever the setting, a question asked inside a call
  the GLM loop made (`in_glm_loop`) is answered by GLM: that loop's caller already pays for GLM. Nobody else
  spends the model key: with no person to ask and no opt-in the question is refused, saying why. GLM's answers
  go through the fallback's `glm_sampler(server)`, which bounds them;
  elicitation is advertised and declined when the caller cannot ask a person;
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
from typing import Any, Literal, Protocol, TypeVar, cast

import mcp.types as T
from pydantic import TypeAdapter, ValidationError

logger = logging.getLogger(__name__)

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
    def in_glm_loop(self) -> bool:
        """True for the calls the GLM loop makes (chat, `glm__agent`): GLM answers their sampling."""
        ...

    @property
    def label(self) -> str:
        """Who this is, for logs and refusals ("the editor", "the chat loop")."""
        ...

    @property
    def identity(self) -> object:
        """Equal for the askers of one person's requests (one editor connection), distinct otherwise."""
        ...


_question_key: ContextVar[str | None] = ContextVar("glm_mcp_question_key", default=None)


@contextmanager
def asked_under(key: str) -> Generator[None, None, None]:
    """The question this task asks is the server's, under `key`: a 2026-07-28 editor gets it under the same key."""
    reset = _question_key.set(key)
    try:
        yield
    finally:
        _question_key.reset(reset)


def question_key() -> str | None:
    """The server's own key for the question this task asks, where it gave one."""
    return _question_key.get()


NOBODY = object()
"""The identity of a request nobody can be asked about (the chat loop without a client to ask, `glm-mcp call`)."""

EVERYONE = object()
"""The audience of a server's log message while no call waits on it: every connected editor."""

NO_ONE = object()
"""The audience of a server's log message while calls of several callers wait on it: nobody can be told whose."""

UNCLEAR = "several callers wait on this server and its question does not say whose call it belongs to"

_own: ContextVar[Asker | None] = ContextVar("glm_mcp_own_asker", default=None)


def current_asker() -> Asker | None:
    """The asker of the request this task is making to a server (None outside one)."""
    return _own.get()


class Fallback(Protocol):
    """The gateway's own answers, for what no caller answers."""

    def glm_sampler(self, server: str) -> SampleFnT | None:
        """GLM answering `server`'s sampling (bounded), or None without a model."""
        ...

    @property
    def roots(self) -> RootsFnT | None: ...


class LoopAsker:
    """The asker of a call the GLM loop makes: GLM answers sampling; the loop's own caller (the editor behind
    `glm__agent`, a `/v1` client answering rounds) answers elicitation and roots."""

    in_glm_loop = True
    sample: SampleFnT | None = None

    def __init__(self, caller: Asker | None) -> None:
        self.label: str = caller.label if caller is not None else "the chat loop"
        self.identity: object = caller.identity if caller is not None else NOBODY
        self.elicit: ElicitFnT | None = caller.elicit if caller is not None else None
        self.roots: RootsFnT | None = caller.roots if caller is not None else None


class Callers:
    """The requests in flight on one server, and whose they are."""

    def __init__(self) -> None:
        self._waiting: list[tuple[object, Asker | None]] = []

    @contextmanager
    def waiting(self, asker: Asker | None) -> Generator[None, None, None]:
        entry = (asker.identity if asker is not None else NOBODY, asker)
        self._waiting.append(entry)
        reset = _own.set(asker)
        try:
            yield
        finally:
            _own.reset(reset)
            self._waiting.remove(entry)

    def own(self) -> Asker | None:
        """The asker of the request this task is making (a 2026-07-28 server's questions belong to it)."""
        return _own.get()

    def audience(self) -> object:
        """Who may hear what the server says now (its log messages): the caller of the request on whose response
        stream it arrived; for what names no request, the one caller whose calls wait on it (its identity),
        `EVERYONE` while no call waits, `NO_ONE` while several callers' calls do."""
        if (own := _own.get()) is not None:
            return own.identity
        identities = {identity for identity, _ in self._waiting}
        if not identities:
            return EVERYONE
        return identities.pop() if len(identities) == 1 else NO_ONE

    def current(self) -> tuple[Asker | None, bool]:
        """Whom a server's question goes to, and whether that is unclear. A question that arrived on the response
        stream of a request (the SDK's HTTP transport reads each request's stream in its sender's context, and hands
        on what arrives there in that context) belongs to that request's caller, whoever else waits. One that names
        no request goes to the one caller waiting; it is unclear while several callers wait."""
        if (own := _own.get()) is not None:
            return own, False
        if len({identity for identity, _ in self._waiting}) > 1:
            return None, True
        return (self._waiting[-1][1] if self._waiting else None), False


def _refusal(message: str) -> T.ErrorData:
    return T.ErrorData(code=T.INVALID_REQUEST, message=message)


class Questions:
    """The answers one server's session gives (and advertises), from its callers and the gateway's fallback."""

    def __init__(self, server: str, callers: Callers, policy: SamplingPolicy, fallback: Fallback | None) -> None:
        self._server = server
        self._callers = callers
        self._policy = policy
        self._fallback = fallback
        self._glm = fallback.glm_sampler(server) if fallback is not None else None
        self.elicit: ElicitFnT | None = self._elicit
        self.roots: RootsFnT | None = self._roots
        self.asked_roots = False
        """Whether the server asked for roots: it is told when editors' roots change (it asks again)."""

    @property
    def sample(self) -> SampleFnT | None:
        """None where nobody could ever answer: `"deny"`, or `"glm"` without a model key (read when a session opens,
        so a key added later reaches the server at its next connection)."""
        if self._policy == "deny":
            return None
        if self._policy == "glm" and self._glm is None:
            return None
        return self._sample

    def declared(self) -> dict[str, object]:
        """What a 2026-07-28 request declares the client can do: what the caller of the request this task is making
        can answer (its sampling and elicitation), plus what the gateway answers itself by policy (GLM sampling where
        the server is set to "glm"; roots, from the editor or the config). A server then refuses what the caller
        cannot do, in its own words, instead of asking it in vain."""
        caller = self._callers.own()
        caps: dict[str, object] = {"roots": {"listChanged": True}}
        if self.sample is not None and (
            (caller is not None and caller.sample is not None) or (self._policy == "glm" and self._glm is not None)
        ):
            caps["sampling"] = {"tools": {}}
        if caller is not None and caller.elicit is not None:
            caps["elicitation"] = {"form": {}, "url": {}}
        return caps

    async def _sample(self, params: T.CreateMessageRequestParams) -> SampleResult:
        return await self._sample_for(params, *self._callers.current())

    async def _sample_for(
        self, params: T.CreateMessageRequestParams, caller: Asker | None, unclear: bool
    ) -> SampleResult:
        by_caller = caller.sample if caller is not None else None
        by_glm = self._glm
        glm_answers = self._policy == "glm" or (caller is not None and caller.in_glm_loop)
        if glm_answers:
            chosen = by_glm
        elif self._policy == "editor":
            chosen = by_caller
        else:
            chosen = by_caller or by_glm
        if chosen is None:
            if glm_answers:
                who = "GLM would answer it, but no model is configured"
            elif unclear:
                who = UNCLEAR
            elif caller is None:
                who = "no editor's call caused it, so no person can approve it"
            else:
                who = f"{caller.label} cannot sample, so no person can approve it"
            if not glm_answers and self._policy == "editor":
                who += f'; set "sampling": "glm" on \'{self._server}\' to let GLM answer on the model key'
            logger.info("server '%s' asked for sampling: refused (%s)", self._server, who)
            return _refusal(f"glm-mcp refused sampling for '{self._server}': {who}")
        return await _guarded(chosen(params), "sampling", self._server)

    async def _elicit(self, params: T.ElicitRequestParams) -> T.ElicitResult | T.ErrorData:
        return await self._elicit_for(params, *self._callers.current())

    async def _elicit_for(
        self, params: T.ElicitRequestParams, caller: Asker | None, unclear: bool
    ) -> T.ElicitResult | T.ErrorData:
        if caller is None or caller.elicit is None:
            who = UNCLEAR if unclear else f"{caller.label if caller is not None else 'no caller'} cannot ask a person"
            logger.info("server '%s' asked for user input; %s: declined", self._server, who)
            return T.ElicitResult(action="decline")
        answer = await _guarded(caller.elicit(params), "elicitation", self._server)
        return with_defaults(params, answer) if isinstance(answer, T.ElicitResult) else answer

    async def answer(self, raw: object) -> T.InputResponse | T.ErrorData:
        """Answer one question a 2026-07-28 server embedded in an `InputRequiredResult`: it belongs to the request
        this task is making, so its asker answers."""
        caller = self._callers.own()
        try:
            request = _INPUT_REQUEST.validate_python(raw, by_name=False)
        except ValidationError as exc:
            return _refusal(f"a malformed input request: {exc.errors(include_url=False)[0]['msg']}")
        if isinstance(request, T.CreateMessageRequest):
            if self.sample is None:
                why = '"sampling": "deny"' if self._policy == "deny" else '"sampling": "glm" and no model key is set'
                return _refusal(f"sampling is not offered to '{self._server}' ({why})")
            return await self._sample_for(request.params, caller, False)
        if isinstance(request, T.ElicitRequest):
            return await self._elicit_for(request.params, caller, False)
        return await self._roots_for(caller)

    async def _roots(self) -> T.ListRootsResult | T.ErrorData:
        self.asked_roots = True
        caller, unclear = self._callers.current()
        if unclear:
            logger.info("server '%s' asked for roots; %s: given the gateway's", self._server, UNCLEAR)
        return await self._roots_for(caller)

    async def _roots_for(self, caller: Asker | None) -> T.ListRootsResult | T.ErrorData:
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


def with_defaults(params: T.ElicitRequestParams, answer: T.ElicitResult) -> T.ElicitResult:
    """An accepted form answer with the requested schema's `default` filled in for every field the person left out
    (the server asked with those defaults; an editor that shows none must not turn them into missing values)."""
    if answer.action != "accept" or not isinstance(params, T.ElicitRequestFormParams):
        return answer
    properties = params.requested_schema.get("properties")
    if not isinstance(properties, dict):
        return answer
    content: dict[str, Any] = dict(answer.content or {})
    for name, field in cast(dict[str, Any], properties).items():
        if name not in content and isinstance(field, dict) and "default" in field:
            content[name] = cast(dict[str, Any], field)["default"]
    return answer.model_copy(update={"content": content})
