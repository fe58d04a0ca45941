"""`GlmClient`: one HTTP client to the configured GLM endpoint; a request in, a `Turn` out.

Contract:
- retries with exponential backoff and jitter, honouring `Retry-After`, on HTTP 429 and 5xx, on GLM codes
  1302/1303/1305/1312 (and the other transient ones) and on `finish_reason: "network_error"`, also after
  text of a streamed attempt was handed on: the retry's text is handed on only where it goes beyond what was
  already handed on; where it differs, a "retry" delta saying from which character on the text is replaced
  comes first;
- fails fast, with what to do, on key, balance, model-name and prompt-length errors;
- at most `max_concurrency` requests are in flight per model;
- every failure is a `ModelError` with an HTTP status for the gateway's own client. Knows nothing about MCP.
Requests go through the model lane (`model/lane.py`: the gateway's own kept-alive connections, which raise the
gateway's own errors) unless a proxy is set in the environment, the URL carries credentials, or a transport is given
(tests, embedding); then through httpx2, and this module is the boundary for httpx2's errors.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import httpx2

from glm_mcp import telemetry
from glm_mcp._json import as_object, loads
from glm_mcp.activity import ModelOutcome
from glm_mcp.config import DEFAULT_ZAI_BASE_URL, ModelConfig
from glm_mcp.errors import ModelError, ModelHTTPError, ModelResponseError, ModelTimeout, ModelUnreachable
from glm_mcp.model.lane import ModelLane
from glm_mcp.model.messages import JsonObject, Turn
from glm_mcp.model.profile import is_rate_limit
from glm_mcp.model.stream import (
    DeltaFnT,
    error_from_body,
    is_retryable,
    lines_of,
    parse_completion,
    read_stream,
    read_whole,
)
from glm_mcp.redact import redact_url

logger = logging.getLogger(__name__)

RequestFnT = Callable[[str, ModelOutcome, float, int, "JsonObject | None"], None]
"""Hears of each finished model request: (model, outcome, seconds, retries, usage)."""

MAX_RETRY_AFTER_SECONDS = 60.0
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
DRAIN_SECONDS = 1.0
"""How long the end of a stream's body is waited for after `[DONE]` (then the connection is closed instead)."""


class _Response(Protocol):
    """What `_attempt` reads of an answer: an `httpx2.Response`, or the lane's `LaneResponse`."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def url(self) -> object: ...
    def aiter_bytes(self) -> AsyncIterator[bytes]: ...


def _needs_httpx(base_url: str) -> bool:
    """Whether the requests need httpx2 rather than the lane: the environment names a proxy for the endpoint's
    scheme, or the URL carries a user and password (httpx2 sends them as Basic auth; the lane does not)."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(base_url.split(":", 1)[0].lower()) or proxies.get("all") or urlsplit(base_url).username)


def _encoded(body: JsonObject) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _retry_after(response: _Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class _NetworkError(ModelResponseError):
    """`finish_reason: "network_error"`: GLM aborted the inference; worth a retry."""


class GlmClient:
    """Talks to one OpenAI-compatible GLM endpoint."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        on_request: RequestFnT | None = None,
    ) -> None:
        self.config = config
        self._transport = transport
        self._on_request = on_request
        self._limiter = anyio.CapacityLimiter(config.max_concurrency)
        self._http: httpx2.AsyncClient | None = None
        self._stack: AsyncExitStack | None = None
        self._lane: ModelLane | None = None
        self._lane_settings: tuple[str, float, float, int] | None = None
        """What the lane was made for: endpoint, timeouts, connections kept."""
        self._retired: list[ModelLane] = []
        self._headers: list[tuple[str, str]] = []

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[GlmClient, None]:
        """Ready to send; connections open with the first request, close on exit (httpx2's client at its first use)."""
        async with AsyncExitStack() as stack:
            self._stack = stack
            self.reconfigure(self.config)
            try:
                yield self
            finally:
                self._stack, self._http = None, None
                for lane in [*self._retired, *([self._lane] if self._lane else [])]:
                    await lane.aclose()
                self._lane, self._retired = None, []

    def reconfigure(self, config: ModelConfig) -> None:
        """Use `config` from the next request on (a reload): endpoint, key, name, timeouts, limits."""
        self.config = config
        self._limiter.total_tokens = config.max_concurrency
        if self._stack is None:
            return
        self._headers = [("Accept-Language", "en-US,en")]
        if config.api_key is not None:
            self._headers.append(("Authorization", f"Bearer {config.api_key.get_secret_value()}"))
        if self._http is not None:
            self._configure(self._http)
        lane = self._lane
        wanted = (config.base_url, config.connect_timeout, config.read_timeout, config.max_concurrency)
        if self._transport is not None or _needs_httpx(config.base_url):
            self._lane = None
        elif lane is None or wanted != self._lane_settings:  # a new key alone keeps the connections
            self._lane = ModelLane(
                config.base_url,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                keep=config.max_concurrency,
                tls=httpx2.create_ssl_context,  # the trust httpx2 would use (`SSL_CERT_FILE`, the system's)
            )
        self._lane_settings = wanted
        if lane is not None and lane is not self._lane:
            self._retired.append(lane)  # its kept connections close before the next request (this runs outside it)

    def _configure(self, http: httpx2.AsyncClient) -> None:
        config = self.config
        http.base_url = httpx2.URL(config.base_url.rstrip("/") + "/")
        http.timeout = httpx2.Timeout(config.read_timeout, connect=config.connect_timeout)
        http.headers.pop("Authorization", None)
        http.headers.update(dict(self._headers))

    def _httpx(self) -> httpx2.AsyncClient:
        """httpx2's client, made at its first use (closed with `running()`)."""
        if self._stack is None:
            raise RuntimeError("GlmClient used outside `running()`")
        if self._http is None:
            limits = httpx2.Limits(max_connections=self.config.max_concurrency * 2)
            self._http = httpx2.AsyncClient(limits=limits, transport=self._transport)
            self._stack.push_async_callback(self._http.aclose)
            self._configure(self._http)
        return self._http

    async def complete(self, body: JsonObject) -> Turn:
        """Send a non-streamed request and return the answer.

        Raises:
            ModelError: The endpoint failed after the retries allowed, or failed in a way retries cannot fix.
        """
        return await self._with_retries({**body, "stream": False}, None)

    async def stream(self, body: JsonObject, on_delta: DeltaFnT) -> Turn:
        """Send a streamed request; `on_delta` hears each piece of text as it arrives. The usage is always asked for
        (`stream_options.include_usage`): vLLM, like OpenAI, sends a stream's usage only then, and the gateway counts
        every request's tokens.

        Raises:
            ModelError: The endpoint failed after the retries allowed, or failed in a way retries cannot fix.
        """
        asked: JsonObject = {**(as_object(body.get("stream_options")) or {}), "include_usage": True}
        return await self._with_retries({**body, "stream": True, "stream_options": asked}, on_delta)

    async def _with_retries(self, body: JsonObject, on_delta: DeltaFnT | None) -> Turn:
        model = str(body.get("model") or self.config.name)
        if not telemetry.on():
            return await self._observed(body, on_delta, model, None)
        asked = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "zai", "gen_ai.request.model": model}
        with telemetry.span(f"chat {model}", "client", asked) as span:
            turn = await self._observed(body, on_delta, model, span)
            usage = turn.usage or {}
            telemetry.set_attributes(
                span,
                {
                    "gen_ai.response.model": model,
                    "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
                    "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
                    "gen_ai.response.finish_reasons": [turn.finish_reason] if turn.finish_reason else None,
                },
            )
            return turn

    async def _observed(self, body: JsonObject, on_delta: DeltaFnT | None, model: str, span: Any) -> Turn:
        started = time.perf_counter()
        retries = [0]
        try:
            turn = await self._retrying(body, on_delta, retries)
        except ModelError as exc:
            telemetry.set_attributes(span, {"error.type": exc.code or str(exc.upstream_status or type(exc).__name__)})
            outcome = (
                "timeout"
                if isinstance(exc, ModelTimeout)
                else "rate_limited"
                if is_rate_limit(exc.code, exc.upstream_status)
                else "error"
            )
            self._observe(model, outcome, started, retries[0], None, exc.code or str(exc.upstream_status))
            raise
        self._observe(model, "ok", started, retries[0], turn.usage, turn.finish_reason)
        return turn

    def _observe(
        self,
        model: str,
        outcome: ModelOutcome,
        started: float,
        retries: int,
        usage: JsonObject | None,
        detail: str | None,
    ) -> None:
        seconds = time.perf_counter() - started
        if self._on_request is not None:
            self._on_request(model, outcome, seconds, retries, usage)
        tokens = usage or {}
        logger.debug(
            "model request to %s: %s (%s) in %.3f s, %d retries, %s prompt + %s completion tokens",
            model,
            outcome,
            detail,
            seconds,
            retries,
            tokens.get("prompt_tokens", "?"),
            tokens.get("completion_tokens", "?"),
        )

    async def _retrying(self, body: JsonObject, on_delta: DeltaFnT | None, retries: list[int]) -> Turn:
        attempt = 0
        handed: dict[str, str] = {}
        """Text of each kind the reader of the stream had when the current attempt began."""
        current: dict[str, list[str]] = {}
        """The pieces of text of each kind the current attempt has produced."""
        passing: set[str] = set()
        """Kinds the reader has exactly as this attempt made them: their pieces are handed on as they come."""

        async def forward(kind: str, text: str) -> None:
            assert on_delta is not None
            pieces = current.setdefault(kind, [])
            pieces.append(text)
            if kind in passing:
                await on_delta(kind, text)
                return
            produced, known = "".join(pieces), handed.get(kind, "")
            if known.startswith(produced):
                return  # a retry repeating what the reader already has
            start = len(known)
            if not produced.startswith(known):
                start = len(os.path.commonprefix([known, produced]))
                replaces = {"kind": kind, "from_char": start}
                await on_delta("retry", json.dumps({"attempt": attempt + 1, "replaces": replaces}))
            passing.add(kind)
            await on_delta(kind, produced[start:])

        while True:
            handed.update({kind: "".join(current[kind]) for kind in passing})
            passing.clear()
            current.clear()
            try:
                try:  # a free slot is taken without anyio's two checkpoints (measured: 3% of a completion's CPU)
                    self._limiter.acquire_nowait()
                except anyio.WouldBlock:
                    await self._limiter.acquire()
                try:
                    return await self._attempt(body, forward if on_delta else None)
                finally:
                    self._limiter.release()
            except ModelError as exc:
                retryable = isinstance(exc, _NetworkError) or (isinstance(exc, ModelHTTPError) and is_retryable(exc))
                if not retryable or attempt >= self.config.max_retries:
                    if isinstance(exc, _NetworkError):
                        raise ModelResponseError(exc.message) from None
                    raise
                delay = exc.retry_after
                if delay is None or delay > MAX_RETRY_AFTER_SECONDS:
                    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2**attempt)
                    delay *= random.uniform(0.5, 1.0)
                attempt += 1
                retries[0] = attempt
                logger.warning("model request failed (%s); retry %d in %.2f s", exc.message, attempt, delay)
                if on_delta is not None:
                    await on_delta("retry", json.dumps({"attempt": attempt + 1, "reason": exc.message}))
                await anyio.sleep(delay)

    @asynccontextmanager
    async def _post(self, body: JsonObject) -> AsyncGenerator[_Response, None]:
        if self._stack is None:
            raise RuntimeError("GlmClient used outside `running()`")
        while self._retired:
            await self._retired.pop().aclose()
        traced: dict[str, str] = {}
        telemetry.inject(traced)  # the caller's trace goes on to GLM (nothing when tracing is off)
        if self._lane is not None:
            headers = [*self._headers, *traced.items()] if traced else self._headers
            async with self._lane.post("chat/completions", _encoded(body), headers) as answer:
                yield answer
        else:
            async with self._httpx().stream("POST", "chat/completions", json=body, headers=traced or None) as response:
                yield response

    async def _attempt(self, body: JsonObject, on_delta: DeltaFnT | None) -> Turn:
        try:
            async with self._post(body) as response:
                if response.status_code == 404:
                    # Not GLM's own error: the URL leads nowhere (a base_url missing /api/paas/v4, or a typo).
                    raise ModelHTTPError(
                        f"{redact_url(str(response.url))} answered 404 Not Found: check model.base_url in the config "
                        f"(it is {redact_url(self.config.base_url)}; Z.ai's is {DEFAULT_ZAI_BASE_URL}, "
                        "a vLLM or SGLang server's ends in /v1)",
                        upstream_status=404,
                    )
                if response.status_code >= 400:
                    text = (await read_whole(response.aiter_bytes())).decode("utf-8", "replace")
                    raise error_from_body(response.status_code, text, _retry_after(response))
                content_type = response.headers.get("content-type", "")
                if on_delta is not None and "text/event-stream" in content_type:
                    turn = await self._read_stream(response, on_delta)
                else:
                    raw = await read_whole(response.aiter_bytes())
                    try:
                        data: Any = loads(raw, lone_surrogates=True)  # made well-formed as it is read
                    except ValueError:
                        snippet = raw[:200].decode("utf-8", "replace")
                        raise ModelResponseError(f"the model endpoint answered with non-JSON: {snippet!r}") from None
                    turn = parse_completion(data)
                    if on_delta is not None:
                        for kind in ("reasoning_content", "content"):
                            if text := getattr(turn, kind):
                                await on_delta(kind, text)
        except httpx2.TimeoutException as exc:
            raise ModelTimeout(f"the model endpoint timed out ({type(exc).__name__})") from exc
        except httpx2.HTTPError as exc:
            raise ModelUnreachable(
                f"cannot reach the model endpoint {self.config.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        if turn.finish_reason == "network_error":
            raise _NetworkError("the model aborted the answer (finish_reason network_error)")
        return turn

    async def _read_stream(self, response: _Response, on_delta: DeltaFnT) -> Turn:
        batches = lines_of(response.aiter_bytes())
        assembler = await read_stream(batches, on_delta)
        if assembler.done:
            # The body's end is read too (only the chunked encoding's last bytes follow `[DONE]`), so the connection
            # goes back to the pool: left unread, each streamed request cost a new connection to the model.
            with anyio.move_on_after(DRAIN_SECONDS):
                async for _ in batches:
                    pass
        turn = assembler.turn()
        if not assembler.done and turn.finish_reason is None:
            raise ModelResponseError("the model stream ended before [DONE]")
        return turn
