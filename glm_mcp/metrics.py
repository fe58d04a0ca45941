"""Prometheus metrics of one gateway: its servers, tool calls, model requests, chat completions and its process,
on its own registry.

Calls are counted in plain dictionaries (a tool call is on the hot path: no locks, no label lookups there)
and turned into metric families only when `/metrics` is scraped; server state is read from the pool then.
Label values are bounded: a model name counts as itself only when configured or listed by `/v1/models` (others
as `other`), and every value is cut at 64 characters, so no caller can grow the series.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

ServerStatesFnT = Callable[[], Mapping[str, Mapping[str, object]]]

MAX_LABEL = 64
"""Characters of a label value kept (a longer one is cut): no caller can make a series arbitrarily large."""

MAX_CALLERS = 1000
"""Callers counted by name; more (addresses without authentication, many people) count together as `other`."""

OTHER_MODEL = "other"
"""The label of a model name that is neither configured nor listed by `/v1/models`."""


def _label(value: str) -> str:
    return value if len(value) <= MAX_LABEL else value[: MAX_LABEL - 1] + "…"


class GatewayMetrics(Collector):
    """The counts a gateway keeps; `render()` is the `/metrics` body."""

    def __init__(self, states: ServerStatesFnT, models: Callable[[], Iterable[str]] = tuple) -> None:
        self._states = states
        self._models = models
        """The model names that may become label values (the configured one and those `/v1/models` lists)."""
        self._tool_calls: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._durations: dict[str, list[int]] = {}
        self._duration_sums: defaultdict[str, float] = defaultdict(float)
        self._chat: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._model_requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._model_durations: dict[str, list[int]] = {}
        self._model_duration_sums: defaultdict[str, float] = defaultdict(float)
        self._model_retries: defaultdict[str, int] = defaultdict(int)
        self._model_tokens: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._sampling: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._callers: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.registry = CollectorRegistry()
        self.registry.register(self)
        ProcessCollector(registry=self.registry)  # CPU, memory, open files of this process

    def tool_call(self, server: str, outcome: str, seconds: float | None = None) -> None:
        """Count one tool call and its duration; outcomes: `ok`, `error`, `timeout` (the server answered or not),
        `unknown_tool`, `invalid_arguments`, `refused`, `truncated` (the chat loop answered it itself)."""
        server = _label(server)
        self._tool_calls[(server, outcome)] += 1
        if seconds is not None:
            _observe(self._durations, self._duration_sums, server, seconds)

    def model_request(
        self, model: str, outcome: str, seconds: float, retries: int, usage: Mapping[str, object] | None
    ) -> None:
        """Count one request to the model (all its attempts): outcome, latency, retries and tokens; a model name
        neither configured nor listed counts as `other` (callers choose names, and must not choose series)."""
        model = _label(model) if model in self._models() else OTHER_MODEL
        self._model_requests[(model, outcome)] += 1
        _observe(self._model_durations, self._model_duration_sums, model, seconds)
        self._model_retries[model] += retries
        for kind in ("prompt", "completion"):
            value = (usage or {}).get(f"{kind}_tokens")
            if isinstance(value, int) and not isinstance(value, bool):
                self._model_tokens[(model, kind)] += value

    def sampling(self, server: str, outcome: str) -> None:
        """Count one server's sampling request answered by GLM: `ok`, `error`, `invalid`, `rate_limited`."""
        self._sampling[(_label(server), outcome)] += 1

    def chat_completion(self, outcome: str, face: str = "openai") -> None:
        """Count one request of a model face (`openai`: /v1/chat/completions, `anthropic`: /v1/messages) by how it
        ended."""
        self._chat[(face, outcome)] += 1

    def caller(self, caller: str, kind: str, amount: int = 1) -> None:
        """Count what one caller (`person:…`, `token:…`, `address:…`) did on this replica: `requests`, `tokens`, or
        `refused:<limit>`; past `MAX_CALLERS` callers the rest count as `other`."""
        if (caller, kind) not in self._callers and len({c for c, _ in self._callers}) >= MAX_CALLERS:
            caller = OTHER_MODEL
        self._callers[(_label(caller), kind)] += amount

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("glm_mcp_server_up", "1 when the server is connected", labels=["server", "state"])
        tools = GaugeMetricFamily("glm_mcp_server_tools", "Tools the server exposes", labels=["server"])
        restarts = CounterMetricFamily("glm_mcp_server_restarts", "Reconnections since start", labels=["server"])
        for raw_name, status in self._states().items():
            name, state = _label(raw_name), str(status["state"])
            up.add_metric([name, state], 1.0 if state == "ready" else 0.0)
            tools.add_metric([name], float(str(status["tools"])))
            restarts.add_metric([name], float(str(status["restarts"])))
        calls = CounterMetricFamily(
            "glm_mcp_tool_calls", "Tool calls through the gateway", labels=["server", "outcome"]
        )
        for (server, outcome), count in sorted(self._tool_calls.items()):
            calls.add_metric([server, outcome], count)
        seconds = _histogram(
            "glm_mcp_tool_call_seconds", "Duration of tool calls", "server", self._durations, self._duration_sums
        )
        models = CounterMetricFamily(
            "glm_mcp_model_requests", "Requests to the model by outcome", labels=["model", "outcome"]
        )
        for (model, outcome), count in sorted(self._model_requests.items()):
            models.add_metric([model, outcome], count)
        model_seconds = _histogram(
            "glm_mcp_model_request_seconds",
            "Duration of model requests, retries included",
            "model",
            self._model_durations,
            self._model_duration_sums,
        )
        retries = CounterMetricFamily("glm_mcp_model_retries", "Retried model attempts", labels=["model"])
        for model, count in sorted(self._model_retries.items()):
            retries.add_metric([model], count)
        tokens = CounterMetricFamily("glm_mcp_model_tokens", "Tokens the model counted", labels=["model", "kind"])
        for (model, kind), count in sorted(self._model_tokens.items()):
            tokens.add_metric([model, kind], count)
        chats = CounterMetricFamily(
            "glm_mcp_chat_completions", "Requests of the model faces by face and outcome", labels=["face", "outcome"]
        )
        for (face, outcome), count in sorted(self._chat.items()):
            chats.add_metric([face, outcome], count)
        sampling = CounterMetricFamily(
            "glm_mcp_sampling_requests",
            "Servers' sampling requests GLM answered, by outcome",
            labels=["server", "outcome"],
        )
        for (server, outcome), count in sorted(self._sampling.items()):
            sampling.add_metric([server, outcome], count)
        yield from (up, tools, restarts, calls, seconds, chats, models, model_seconds, retries, tokens, sampling)
        yield from self._caller_families()

    def _caller_families(self) -> Iterable[Metric]:
        requests = CounterMetricFamily("glm_mcp_caller_requests", "Requests of each caller", labels=["caller"])
        used = CounterMetricFamily("glm_mcp_caller_tokens", "GLM tokens each caller's runs used", labels=["caller"])
        refusals = CounterMetricFamily(
            "glm_mcp_caller_refusals", "Requests refused for a caller's limit", labels=["caller", "limit"]
        )
        for (caller, kind), count in sorted(self._callers.items()):
            if kind == "requests":
                requests.add_metric([caller], count)
            elif kind == "tokens":
                used.add_metric([caller], count)
            else:
                refusals.add_metric([caller, kind.removeprefix("refused:")], count)
        yield from (requests, used, refusals)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _observe(counts_by: dict[str, list[int]], sums: defaultdict[str, float], label: str, seconds: float) -> None:
    counts = counts_by.get(label)
    if counts is None:
        counts = counts_by[label] = [0] * (len(BUCKETS) + 1)
    counts[bisect.bisect_left(BUCKETS, seconds)] += 1
    sums[label] += seconds


def _histogram(
    name: str, documentation: str, label: str, counts_by: dict[str, list[int]], sums: Mapping[str, float]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, counts in sorted(counts_by.items()):
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, float(cumulative)))
        family.add_metric([value], buckets, sums[value])
    return family
