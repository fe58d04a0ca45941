"""Prometheus metrics of one gateway: its servers, tool calls and chat completions, on its own registry.

Calls are counted in plain dictionaries (a tool call is on the hot path: no locks, no label lookups there)
and turned into metric families only when `/metrics` is scraped; server state is read from the pool then.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

ServerStatesFnT = Callable[[], Mapping[str, Mapping[str, object]]]


class GatewayMetrics(Collector):
    """The counts a gateway keeps; `render()` is the `/metrics` body."""

    def __init__(self, states: ServerStatesFnT) -> None:
        self._states = states
        self._tool_calls: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._durations: dict[str, list[int]] = {}
        self._duration_sums: defaultdict[str, float] = defaultdict(float)
        self._chat: defaultdict[str, int] = defaultdict(int)
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def tool_call(self, server: str, outcome: str, seconds: float | None = None) -> None:
        """Count one tool call (`ok`, `tool_error`, `failed` or `unknown_tool`) and its duration."""
        self._tool_calls[(server, outcome)] += 1
        if seconds is not None:
            counts = self._durations.get(server)
            if counts is None:
                counts = self._durations[server] = [0] * (len(BUCKETS) + 1)
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._duration_sums[server] += seconds

    def chat_completion(self, outcome: str) -> None:
        """Count one chat completion request by how it ended."""
        self._chat[outcome] += 1

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("glm_mcp_server_up", "1 when the server is connected", labels=["server", "state"])
        tools = GaugeMetricFamily("glm_mcp_server_tools", "Tools the server exposes", labels=["server"])
        restarts = GaugeMetricFamily("glm_mcp_server_restarts", "Reconnections since start", labels=["server"])
        for name, status in self._states().items():
            state = str(status["state"])
            up.add_metric([name, state], 1.0 if state == "ready" else 0.0)
            tools.add_metric([name], float(str(status["tools"])))
            restarts.add_metric([name], float(str(status["restarts"])))
        calls = CounterMetricFamily(
            "glm_mcp_tool_calls", "Tool calls through the gateway", labels=["server", "outcome"]
        )
        for (server, outcome), count in sorted(self._tool_calls.items()):
            calls.add_metric([server, outcome], count)
        seconds = HistogramMetricFamily("glm_mcp_tool_call_seconds", "Duration of tool calls", labels=["server"])
        for server, counts in sorted(self._durations.items()):
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            seconds.add_metric([server], buckets, self._duration_sums[server])
        chats = CounterMetricFamily(
            "glm_mcp_chat_completions", "Chat completion requests by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(self._chat.items()):
            chats.add_metric([outcome], count)
        yield from (up, tools, restarts, calls, seconds, chats)

    def render(self) -> bytes:
        return generate_latest(self.registry)
