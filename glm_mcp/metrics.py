"""Prometheus metrics of one gateway: its servers, tool calls and chat completions, on its own registry.

Server state is read from the pool at scrape time; counters and histograms are updated where calls happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

ServerStatesFnT = Callable[[], Mapping[str, Mapping[str, object]]]


class _ServerCollector(Collector):
    def __init__(self, states: ServerStatesFnT) -> None:
        self._states = states

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("glm_mcp_server_up", "1 when the server is connected", labels=["server", "state"])
        tools = GaugeMetricFamily("glm_mcp_server_tools", "Tools the server exposes", labels=["server"])
        restarts = GaugeMetricFamily("glm_mcp_server_restarts", "Reconnections since start", labels=["server"])
        for name, status in self._states().items():
            state = str(status["state"])
            up.add_metric([name, state], 1.0 if state == "ready" else 0.0)
            tools.add_metric([name], float(str(status["tools"])))
            restarts.add_metric([name], float(str(status["restarts"])))
        yield from (up, tools, restarts)


class GatewayMetrics:
    """The counters a gateway keeps; `render()` is the `/metrics` body."""

    def __init__(self, states: ServerStatesFnT) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_ServerCollector(states))
        self.tool_calls = Counter(
            "glm_mcp_tool_calls", "Tool calls through the gateway", ["server", "outcome"], registry=self.registry
        )
        self.tool_seconds = Histogram(
            "glm_mcp_tool_call_seconds", "Duration of tool calls", ["server"], buckets=_BUCKETS, registry=self.registry
        )
        self.chat_completions = Counter(
            "glm_mcp_chat_completions", "Chat completion requests by outcome", ["outcome"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
