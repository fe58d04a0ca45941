"""How a server's life is told and paced: its states, the backoff between reconnects, how many start at once,
which failures are logged, and a failure said in one line."""

from __future__ import annotations

import enum
import shlex
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager

import anyio
from mcp import MCPError
from mcp.client.auth import OAuthFlowError, OAuthRegistrationError, OAuthTokenError

from glm_mcp.config import HttpUpstreamConfig, StdioUpstreamConfig, UpstreamConfig
from glm_mcp.errors import LoginRequired
from glm_mcp.upstream.transport import StderrTail

BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 30.0
"""A session that lived this long resets the backoff; shorter ones count as a crash loop."""


class ServerState(enum.StrEnum):
    """Where a configured server is in its life."""

    DISABLED = "disabled"
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"
    NEEDS_LOGIN = "needs login"


class StartTurns:
    """Turns to start: at most `at_once` stdio servers are between their spawn and their first listing at once.

    Started all together, many servers share the machine's cores; each then misses its `start_timeout`, and all
    retry together, for ever. A server's `start_timeout` runs from its turn. HTTP and in-process servers take no
    turn: they cost this machine nothing to start.
    """

    def __init__(self, at_once: int) -> None:
        self._free = anyio.Semaphore(at_once)

    @asynccontextmanager
    async def turn(self, config: UpstreamConfig) -> AsyncGenerator[Callable[[], None], None]:
        """Wait for a turn (servers that `takes_start_turn`); yields `done`, which gives the turn back (also done on
        exit)."""
        if not config.takes_start_turn:
            yield lambda: None
            return
        await self._free.acquire()
        held = True

        def done() -> None:
            nonlocal held
            if held:
                held = False
                self._free.release()

        try:
            yield done
        finally:
            done()


def backoff_seconds(failures: int) -> float:
    """The pause before reconnect number `failures`: 0.5 s doubling up to 30 s."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2 ** max(0, failures - 1))


def failures_after(failures: int, lasted_seconds: float) -> int:
    """The crash count once a session ended after `lasted_seconds`: a stable one starts the count again."""
    return 1 if lasted_seconds >= STABLE_SECONDS else failures + 1


def worth_logging(failures: int) -> bool:
    """A server crashing in a loop is logged on its first two failures, then every tenth."""
    return failures <= 2 or failures % 10 == 0


def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside `exc` (itself, or every error of its groups), and each one's causes."""
    found: list[BaseException] = []

    def walk(error: BaseException | None) -> None:
        if error is None or error in found:
            return
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]  # ExceptionGroup's members are untyped
                walk(inner)  # pyright: ignore[reportUnknownArgumentType]  # see above
        else:
            found.append(error)
            walk(error.__cause__ or error.__context__)

    walk(exc)
    return found


def login_required(exc: BaseException, asked_person: bool, config: UpstreamConfig) -> str | None:
    """Why the server needs a new login before it is tried again, when a login is what ended the attempt: the
    server wants a person (`LoginRequired`), the authorization server refused the credentials or the registration,
    or a login a person was asked for failed (a mismatched `iss`, a refused consent). Trying again at once would
    only ask again; a failed discovery (the authorization server down) is retried as any connection."""
    where = f"; url: {config.url}" if isinstance(config, HttpUpstreamConfig) else ""
    for leaf in _leaves(exc):
        if isinstance(leaf, LoginRequired):
            return f"{leaf}{where}"
        if isinstance(leaf, OAuthTokenError | OAuthRegistrationError) or (
            asked_person and isinstance(leaf, OAuthFlowError)
        ):
            return f"the login failed: {leaf}{where}"
    return None


def describe_failure(exc: BaseException) -> str:
    """A one-line, user-facing account of why a connection failed."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]  # ExceptionGroup's members are untyped
                walk(inner)  # pyright: ignore[reportUnknownArgumentType]  # see above
        else:
            leaves.append(error)

    walk(exc)
    parts: list[str] = []
    for leaf in leaves:
        if isinstance(leaf, FileNotFoundError):
            parts.append(f"command not found: {leaf.filename or leaf}")
        elif isinstance(leaf, PermissionError):
            parts.append(f"command not executable: {leaf.filename or leaf}")
        elif isinstance(leaf, MCPError):
            parts.append(f"MCP error {leaf.code}: {leaf.message}")
        else:
            text = str(leaf) or type(leaf).__name__
            parts.append(f"{type(leaf).__name__}: {text}")
    return "; ".join(dict.fromkeys(parts)) or type(exc).__name__


def attempt_failure(config: UpstreamConfig, error: str, timed_out: str | None, tail: StderrTail) -> str:
    """Why a start attempt or a session ended: `error`, or no answer to `timed_out` within `start_timeout`, with
    the command or URL, and the stdio server's most useful stderr lines."""
    if timed_out is not None:
        error = f"no answer to {timed_out} after {config.start_timeout:g} s (start_timeout)"
        if isinstance(config, StdioUpstreamConfig):
            error += f"; command: {shlex.join([config.command, *config.args])}"
        else:
            error += f"; url: {config.url if isinstance(config, HttpUpstreamConfig) else '-'}"
    if tail.lines and isinstance(config, StdioUpstreamConfig):
        error = f"{error}; last stderr: {tail.useful()}"
    if tail.http_error and tail.http_error not in error:
        error = f"{error}; last answer: {tail.http_error}"
    return error


def not_connected(disabled: bool, state: ServerState, error: str | None) -> str:
    """What a server that cannot take a request now is doing, for the caller's error."""
    if disabled:
        doing = "disabled in the config"
    elif state is ServerState.READY:
        doing = "its connection dropped just now and it is being restarted"
    else:
        doing = {
            ServerState.STARTING: "still starting",
            ServerState.RESTARTING: "restarting",
            ServerState.FAILED: "failed",
            ServerState.STOPPED: "stopped",
            ServerState.NEEDS_LOGIN: "it needs a login",
        }.get(state, state.value)
    reason = f" ({error})" if error and not disabled else ""
    return f"not connected: {doing}{reason}"
