"""The gateway's own answers to a server's questions, for when no caller can answer them.

Contract:
- sampling is answered by GLM (`relay.sampling`), per server and bounded: `maxTokens` is clamped to
  `gateway.sampling_max_tokens`, and each server gets at most `gateway.sampling_per_minute` answers in any
  60 s (past that the server hears a refusal saying when to try again). Every request is logged at info naming
  the server and reported to `on_sampling` (metrics and the status page) with its outcome; the result names the
  GLM model, and the request counts in the model metrics like any other; without a model key there is no answer;
- roots are those of the only connected editor, when it has roots (with several, none of theirs is given to a
  server outside their calls), else the config's `gateway.roots`;
- elicitation has no answer here: only a person can give one.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import anyio
import mcp.types as T

from glm_mcp.config import GatewayConfig
from glm_mcp.errors import ModelError, SamplingError
from glm_mcp.model.client import GlmClient
from glm_mcp.relay.asking import RootsFnT, SampleFnT, SampleResult
from glm_mcp.relay.sampling import sampling_body, sampling_result

logger = logging.getLogger(__name__)

EditorRootsFnT = Callable[[], Awaitable[T.ListRootsResult | None]]

SamplingOutcome = Literal["ok", "error", "rate_limited", "invalid"]
SamplingListenerFnT = Callable[[str, SamplingOutcome, int], None]
"""Told of each GLM-answered sampling request: the server, the outcome, the `maxTokens` sent to GLM."""

RATE_WINDOW_SECONDS = 60.0


def root_of(entry: str) -> T.Root:
    """A configured root (a path or a `file://` URI) as an MCP root."""
    uri = entry if entry.startswith("file://") else Path(entry).expanduser().resolve().as_uri()
    return T.Root.model_validate({"uri": uri, "name": Path(uri.removeprefix("file://")).name or uri})


class GatewayAnswers:
    """Answers with GLM and the gateway's knowledge: the `Fallback` of every server's questions."""

    def __init__(
        self, model: GlmClient, config: Callable[[], GatewayConfig], on_sampling: SamplingListenerFnT | None = None
    ) -> None:
        self._model = model
        self._config = config
        self._on_sampling = on_sampling
        self._recent: dict[str, collections.deque[float]] = {}
        """Per server, when GLM answered its last sampling requests (within the rate window)."""
        self._editor_roots: list[EditorRootsFnT] = []
        """Registered by the MCP face while it runs: the roots of the only connected editor, or None."""

    def glm_sampler(self, server: str) -> SampleFnT | None:
        """GLM answering `server`'s sampling, bounded; None while no model key is set."""
        if self._model.config.missing_key is not None:
            return None

        async def sample(params: T.CreateMessageRequestParams) -> SampleResult:
            return await self._sample(server, params)

        return sample

    @property
    def roots(self) -> RootsFnT | None:
        return self._roots

    def _admit(self, server: str) -> float | None:
        """None when `server` may sample now (and counts it), else the seconds until it may."""
        now = anyio.current_time()
        recent = self._recent.setdefault(server, collections.deque())
        while recent and now - recent[0] >= RATE_WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= self._config().gateway.sampling_per_minute:
            return RATE_WINDOW_SECONDS - (now - recent[0])
        recent.append(now)
        return None

    def _report(self, server: str, outcome: SamplingOutcome, max_tokens: int) -> None:
        if self._on_sampling is not None:
            self._on_sampling(server, outcome, max_tokens)

    async def _sample(self, server: str, params: T.CreateMessageRequestParams) -> SampleResult:
        name = self._model.config.name
        limits = self._config().gateway
        max_tokens = min(params.max_tokens, limits.sampling_max_tokens)
        wait = self._admit(server)
        if wait is not None:
            logger.info(
                "server '%s' asked GLM to sample: refused, over %d a minute", server, limits.sampling_per_minute
            )
            self._report(server, "rate_limited", max_tokens)
            message = (
                f"glm-mcp refused sampling for '{server}': over its limit of {limits.sampling_per_minute} GLM answers "
                f"a minute (gateway.sampling_per_minute); try again in {wait:.0f} s"
            )
            return T.ErrorData(code=T.INVALID_REQUEST, message=message)
        clamped = (
            f" (asked {params.max_tokens}, clamped by gateway.sampling_max_tokens)"
            if max_tokens < params.max_tokens
            else ""
        )
        logger.info("server '%s' asked GLM to sample: %s answers, up to %d tokens%s", server, name, max_tokens, clamped)
        try:
            body = sampling_body(params.model_copy(update={"max_tokens": max_tokens}), name)
            turn = await self._model.complete(body)
            result = sampling_result(turn, name, with_tools=bool(params.tools))
        except SamplingError as exc:
            self._report(server, "invalid", max_tokens)
            return T.ErrorData(code=T.INVALID_PARAMS, message=str(exc))
        except ModelError as exc:
            self._report(server, "error", max_tokens)
            return T.ErrorData(code=T.INTERNAL_ERROR, message=f"GLM could not answer: {exc.message}")
        self._report(server, "ok", max_tokens)
        return result

    def provide_roots(self, provider: EditorRootsFnT) -> Callable[[], None]:
        """Ask `provider` for roots before the config's; returns the call that removes it again."""
        self._editor_roots.append(provider)
        return lambda: self._editor_roots.remove(provider)

    async def _roots(self) -> T.ListRootsResult | T.ErrorData:
        for provider in list(self._editor_roots):
            found = await provider()
            if found is not None:
                return found
        return T.ListRootsResult(roots=[root_of(entry) for entry in self._config().gateway.roots])
