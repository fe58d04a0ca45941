"""One supervised MCP session to one configured server.

Contract:
- `Upstream.run` connects (under the server's start timeout), reads every page of every listing, serves calls,
  follows `list_changed`, and reconnects with capped exponential backoff when the session ends; it never raises
  for a failure of the server, it records it in `state` and `error`;
- a tool whose definition the SDK or the gateway cannot accept is quarantined with its reason, never the server;
- calls raise `UpstreamError` subclasses only; a call's timeout restarts on every progress notification,
  and an abandoned or timed-out call is cancelled upstream.
This module is the boundary for the SDK's `MCPError` and transport errors.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import mcp.types as T
from anyio.abc import TaskStatus
from mcp.shared.dispatcher import CallOptions
from mcp.shared.inbound import mcp_param_headers
from pydantic import ValidationError

from glm_mcp.config import UpstreamConfig
from glm_mcp.errors import UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from glm_mcp.oauth.logins import Logins
from glm_mcp.redact import scrub
from glm_mcp.relay.asking import Asker, Callers, Fallback, Questions
from glm_mcp.upstream.both import Kind, Sessions, list_all, open_sessions
from glm_mcp.upstream.listen import Following
from glm_mcp.upstream.listing import Listing
from glm_mcp.upstream.requests import Live, Requests, SessionLost
from glm_mcp.upstream.signin import SignIn
from glm_mcp.upstream.supervision import (
    ServerState,
    StartTurns,
    attempt_failure,
    backoff_seconds,
    describe_failure,
    failures_after,
    login_required,
    not_connected,
    worth_logging,
)
from glm_mcp.upstream.transport import StderrTail

logger = logging.getLogger(__name__)


ProgressFnT = Callable[[float, float | None, str | None], Awaitable[None]]
LogFnT = Callable[[str, T.LoggingMessageNotificationParams, object], Awaitable[None]]
"""Told of a server's log message: the server, the message, and who may hear it (`Callers.audience`)."""
ChangeFnT = Callable[[], Awaitable[None]]
UpdatedFnT = Callable[[str, str], Awaitable[None]]
"""Hears `notifications/resources/updated`: (server, uri)."""


class Upstream:
    """One configured server: its supervised session, its state and its last listing."""

    def __init__(
        self,
        name: str,
        config: UpstreamConfig,
        *,
        on_change: ChangeFnT | None = None,
        on_log: LogFnT | None = None,
        on_updated: UpdatedFnT | None = None,
        fallback: Fallback | None = None,
        logins: Logins | None = None,
        person: str | None = None,
        turns: StartTurns | None = None,
    ) -> None:
        self.name, self.person = name, person  # `person`: whose own session this is (logins each person's own)
        self._turns = turns or StartTurns(1)  # how many servers start at once (the pool's, for all its servers)
        self._callers = Callers()
        self.questions = Questions(name, self._callers, config.sampling, fallback)
        """How this server's own requests (sampling, elicitation, roots) are answered, and what is advertised."""
        self._on_updated, self.config = on_updated, config
        self.state = ServerState.DISABLED if config.disabled else ServerState.STARTING  # see `needs_login` too
        self.error: str | None = None
        self.signin = SignIn(name, config, logins, person)  # its OAuth client and its logins
        if (unusable := config.config_error or self.signin.error) is not None and not config.disabled:
            self.state, self.error = ServerState.FAILED, unusable
        self.listing, self.restarts = Listing(), 0
        self.ready_since: float | None = None
        """When the current session became ready (wall clock), None while the server is not ready."""
        self.server_info: T.Implementation | None = None
        self.protocol_version: str | None = None
        """The protocol version the current (or last) session negotiated."""
        self.protocol_versions: tuple[str, ...] = ()
        """Every session's: two for a server of both eras (2026-07-28 first)."""
        self._on_change, self._on_log = on_change, on_log
        self._sessions: Sessions | None = None
        self._tail, self._reconnected, self._session_lost = StderrTail(), anyio.Event(), False
        self.first_outcome = anyio.Event()  # the first attempt succeeded, failed or waits for a login
        self._requests = Requests(name, config, self.questions, self._lost, lambda: self.signin.failure)
        self._following = Following(name)
        """Resources a 2026-07-28 server is asked about on its listen stream (kept across reconnects)."""

    # -- supervision ---------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect, serve and reconnect until cancelled."""
        task_status.started()
        if self.config.disabled or self.state is ServerState.FAILED:
            # A disabled server is never started; one whose entry (or `oauth`) could not be read cannot be.
            self.first_outcome.set()
            return
        failures = 0
        unwatch = self.signin.watch(self.first_outcome.set)  # waiting for a person is an outcome: `needs login`
        try:
            while True:
                started_at = time.monotonic()
                await self._attempt()
                if self.state is ServerState.NEEDS_LOGIN:
                    await self.signin.until_logged_in()
                    failures = 0
                    continue
                failures = failures_after(failures, time.monotonic() - started_at)
                delay = 0.0 if self._session_lost else backoff_seconds(failures) * random.uniform(0.8, 1.2)
                self._session_lost = False
                if worth_logging(failures):
                    logger.warning("server '%s': %s; reconnecting in %.1f s", self.name, self.error, delay)
                await anyio.sleep(delay)
                self.restarts += 1
        finally:
            unwatch()
            self.state = ServerState.STOPPED
            self._sessions = None

    async def _attempt(self) -> None:
        """One session, from connect to its end; records why it ended in `error`."""
        was_ready = False
        self._tail = StderrTail()
        waiting_for = "initialize"
        needs_login: str | None = None
        async with self._turns.turn(self.config) as turn_done:
            with anyio.CancelScope() as attempt:
                attempt.deadline = anyio.current_time() + self.config.start_timeout
                self.signin.attempt(attempt)
                try:
                    sessions_of = open_sessions(self.config, self.name, self._tail, self.signin.auth, self.questions)
                    async with sessions_of(self._on_message, self._forward_log) as sessions:
                        live = sessions.main
                        self.server_info = live.wire.server_info
                        self.protocol_versions = tuple(each.wire.protocol_version for each in sessions.all)
                        self.protocol_version = self.protocol_versions[0]
                        waiting_for = "its listings (tools/list, resources/list, prompts/list)"
                        self.listing = await list_all(sessions, self.name)
                        attempt.deadline = math.inf
                        turn_done()  # listed: the next server may start
                        self.signin.attempt(None)
                        self._sessions = sessions
                        self.state, self.error, was_ready = ServerState.READY, None, True
                        self.ready_since = time.time()
                        self.first_outcome.set()
                        self._reconnected.set()
                        logger.info("server '%s': ready with %d tools", self.name, len(self.listing.tools))
                        await self._changed()
                        await self._serve(sessions)
                    self.error = "the server closed the connection"
                except Exception as exc:  # boundary: whatever one server does must not stop the others
                    self.error = describe_failure(exc)
                    needs_login = login_required(exc, self.signin.asked_person, self.config)
        self.signin.attempt(None)
        timed_out = waiting_for if attempt.cancelled_caught else None
        self.error = scrub(attempt_failure(self.config, self.error or "", timed_out, self._tail))
        self._sessions, self.ready_since = None, None
        self.state = ServerState.RESTARTING if was_ready else ServerState.FAILED
        if needs_login is not None:
            self.state, self.error = ServerState.NEEDS_LOGIN, scrub(needs_login)
        self.first_outcome.set()
        if was_ready or needs_login is not None:
            self.listing = Listing() if was_ready else self.listing
            await self._changed()

    async def _serve(self, sessions: Sessions) -> None:
        live = sessions.main

        async def watch_closed() -> None:
            await live.closed.wait()
            live.wake.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_closed)
            tg.start_soon(sessions.keep_handshake, lambda: self._relist(sessions), self.name)
            if live.wire.modern:
                # A 2026-07-28 server announces list changes and resource updates only on a listen stream.
                tg.start_soon(self._following.follow, live.wire.session, live.wake.set)
            while True:
                await live.wake.wait()
                live.wake = anyio.Event()
                if sessions.closed:
                    break
                try:
                    await self._relist(sessions)
                except Exception as exc:  # boundary: a failed refresh keeps the last good listing
                    logger.warning("server '%s': refreshing the catalog failed: %s", self.name, describe_failure(exc))
            tg.cancel_scope.cancel()

    async def _relist(self, sessions: Sessions) -> None:
        self.protocol_versions = tuple(each.wire.protocol_version for each in sessions.all)
        self.listing = await list_all(sessions, self.name)
        await self._changed()

    async def _changed(self) -> None:
        if self._on_change is not None:
            await self._on_change()

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, T.ResourceUpdatedNotification):
            if self._on_updated is not None:
                await self._on_updated(self.name, str(message.params.uri))
            return
        if isinstance(
            message,
            T.ToolListChangedNotification | T.ResourceListChangedNotification | T.PromptListChangedNotification,
        ):
            if self._sessions is not None:
                self._sessions.main.wake.set()

    async def _forward_log(self, params: T.LoggingMessageNotificationParams) -> None:
        if self._on_log is not None:
            await self._on_log(self.name, params, self._callers.audience())

    # -- requests ------------------------------------------------------------------------------------

    async def roots_changed(self) -> None:
        """Tell the server that the roots changed (`notifications/roots/list_changed`), when it asked for them
        before and speaks the handshake era (a 2026-07-28 server asks within each request)."""
        sessions = self._sessions
        live = (sessions.handshake or sessions.main) if sessions is not None else None
        if live is None or live.closed.is_set() or not self.questions.asked_roots or live.wire.modern:
            return
        try:
            await live.wire.session.send_roots_list_changed()  # pyright: ignore[reportDeprecated]  # 2025-era roots
        except Exception:  # boundary: a server that cannot hear it asks again on its own, or never did
            logger.debug("server '%s' could not be told its roots changed", self.name, exc_info=True)

    @property
    def needs_login(self) -> bool:
        """A person must log in before this server can be (fully) used."""
        return self.state is ServerState.NEEDS_LOGIN or self.signin.waiting

    @property
    def connected(self) -> bool:
        """Whether a session is open now (a server can be `ready` for an instant after its connection dropped)."""
        return self._sessions is not None and not self._sessions.closed

    async def _require_live(self, kind: Kind | None = None, name: str = "") -> Live:
        """The open session a request about `name` takes (`Sessions.route`); `UpstreamUnavailable` without one."""
        sessions = self._sessions
        if sessions is None or sessions.closed:
            raise UpstreamUnavailable(self.name, not_connected(self.config.disabled, self.state, self.error))
        return await sessions.route(lambda: self.listing, kind, name, self.config.start_timeout)

    def tool(self, name: str) -> T.Tool | None:
        """The server's own definition of a tool, as last listed."""
        return next((tool for tool in self.listing.tools if tool.name == name), None)

    async def call_tool(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None,
        *,
        on_progress: ProgressFnT | None = None,
        asker: Asker | None = None,
    ) -> T.CallToolResult:
        """Call one of the server's own tools; the server's questions meanwhile go to `asker`.

        The call ends after `timeout` seconds without a result or a progress notification,
        and is then cancelled upstream. When an HTTP server has forgotten the session (it restarted), the
        session is re-established, and the call is sent again once if the tool is read-only or idempotent.

        Raises:
            UpstreamUnavailable: The server is not connected, or the connection dropped during the call.
            UpstreamProtocolError: The server answered with an error or a malformed result.
            UpstreamTimeout: Neither a result nor progress within the server's `timeout`.
        """
        with self._callers.waiting(asker):
            return await self._call_tool_once_more_if_lost(tool, arguments, on_progress)

    async def _call_tool_once_more_if_lost(
        self, tool: str, arguments: Mapping[str, Any] | None, on_progress: ProgressFnT | None
    ) -> T.CallToolResult:
        try:
            return await self._call_tool(tool, arguments, on_progress)
        except SessionLost:
            definition = self.tool(tool)
            hints = definition.annotations if definition is not None else None
            if not (hints and (hints.read_only_hint or hints.idempotent_hint)):
                raise UpstreamUnavailable(
                    self.name,
                    f"the server lost the session (it restarted?) during '{tool}'; the call was not repeated "
                    "because the tool is not marked read-only or idempotent; the session is being re-established",
                ) from None
            with anyio.move_on_after(self.config.start_timeout):
                await self._reconnected.wait()
            return await self._call_tool(tool, arguments, on_progress)

    async def _call_tool(
        self, tool: str, arguments: Mapping[str, Any] | None, on_progress: ProgressFnT | None
    ) -> T.CallToolResult:
        live = await self._require_live("tool", tool)
        timeout = self.config.timeout
        raw: dict[str, Any] | None = None
        with anyio.CancelScope() as scope:
            scope.deadline = anyio.current_time() + timeout

            async def progress(progress: float, total: float | None, message: str | None) -> None:
                scope.deadline = anyio.current_time() + timeout
                if on_progress is not None:
                    await on_progress(progress, total, message)

            given = dict(arguments or {})
            params = {"name": tool, "arguments": given}
            options = CallOptions(on_progress=progress)
            if (header_map := self.listing.header_maps.get(tool)) is not None:
                # The arguments its schema marks with `x-mcp-header` travel as `Mcp-Param-*` headers too.
                options["headers"] = mcp_param_headers(header_map, given)
            raw = await self._requests.request(live, "tools/call", params, options)
        if scope.cancelled_caught or raw is None:
            raise UpstreamTimeout(
                self.name, f"tool '{tool}' timed out after {timeout:g} s without a result or progress"
            )
        try:
            return T.CallToolResult.model_validate(raw, by_name=False)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise UpstreamProtocolError(self.name, f"tool '{tool}' returned a malformed result: {reason}") from None

    async def read_resource(self, uri: str, *, asker: Asker | None = None) -> T.ReadResourceResult:
        """Read one resource.

        Raises:
            UpstreamUnavailable: The server is not connected.
            UpstreamProtocolError: The server answered with an error or a malformed result.
            UpstreamTimeout: No answer within the server's `timeout`.
        """
        live = await self._require_live("resource", uri)
        with self._callers.waiting(asker):
            raw = await self._requests.timed(live, "resources/read", {"uri": uri}, f"resource '{uri}'")
        return self._requests.validated(T.ReadResourceResult, raw, f"resource '{uri}'")

    async def get_prompt(
        self, prompt: str, arguments: Mapping[str, str] | None, *, asker: Asker | None = None
    ) -> T.GetPromptResult:
        """Render one prompt.

        Raises:
            UpstreamUnavailable: The server is not connected.
            UpstreamProtocolError: The server answered with an error or a malformed result.
            UpstreamTimeout: No answer within the server's `timeout`.
        """
        live = await self._require_live("prompt", prompt)
        params: dict[str, Any] = {"name": prompt}
        if arguments:
            params["arguments"] = dict(arguments)
        with self._callers.waiting(asker):
            raw = await self._requests.timed(live, "prompts/get", params, f"prompt '{prompt}'")
        return self._requests.validated(T.GetPromptResult, raw, f"prompt '{prompt}'")

    async def complete(self, params: Mapping[str, Any]) -> T.CompleteResult:
        """Relay `completion/complete` (a prompt's or a resource template's argument) as the editor sent it.

        Raises:
            UpstreamUnavailable: The server is not connected.
            UpstreamProtocolError: The server answered with an error (it may not offer completion).
            UpstreamTimeout: No answer within the server's `timeout`.
        """
        live = await self._require_live()
        raw = await self._requests.timed(live, "completion/complete", dict(params), "completion")
        return self._requests.validated(T.CompleteResult, raw, "completion")

    async def subscribe(self, uri: str, *, subscribed: bool = True) -> None:
        """Ask the server for (or to stop) `notifications/resources/updated` about `uri`.

        Raises:
            UpstreamUnavailable: The server is not connected.
            UpstreamProtocolError: The server refused (it may not offer subscriptions).
            UpstreamTimeout: No answer within the server's `timeout`.
        """
        live = await self._require_live()
        if live.wire.modern:
            # 2026-07-28: no `resources/subscribe`; the listen stream names the resources it follows.
            await self._following.change(uri, subscribed, self.config.timeout)
            return
        method = "resources/subscribe" if subscribed else "resources/unsubscribe"
        await self._requests.timed(live, method, {"uri": uri}, f"{method} '{uri}'")

    def _lost(self) -> None:
        """The server forgot this session (HTTP 404 after a restart): the supervisor opens a new one at once."""
        self._reconnected = anyio.Event()
        self._session_lost = True
