"""What the gateway counts and shows of its work: tool calls, model requests and GLM-answered sampling, in the
metrics and in the activity the status page shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glm_mcp import telemetry
from glm_mcp.activity import (
    Activity,
    CallEvent,
    CallOutcome,
    CallSource,
    ModelEvent,
    ModelOutcome,
    SamplingEvent,
    kept_arguments,
)
from glm_mcp.metrics import GatewayMetrics
from glm_mcp.relay.answers import SamplingOutcome


class Records:
    """Counts in `metrics` and records in `activity`."""

    def __init__(self, metrics: GatewayMetrics, activity: Activity) -> None:
        self._metrics = metrics
        self._activity = activity

    def call(
        self,
        name: str,
        server: str,
        source: CallSource,
        outcome: CallOutcome,
        seconds: float,
        arguments: Mapping[str, Any] | None,
    ) -> None:
        """Count a tool call in the metrics and show it on the status page."""
        timed = None if outcome in ("unknown_tool", "invalid_arguments", "refused", "truncated") else seconds
        self._metrics.tool_call(server, outcome, timed)
        if telemetry.on():
            attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "glm_mcp.source": source}
            attributes |= {"glm_mcp.server": server, "glm_mcp.outcome": outcome}
            telemetry.past_span(f"execute_tool {name}", seconds, attributes, None if outcome == "ok" else outcome)
        self._activity.record(CallEvent(name, server, source, outcome, seconds, kept_arguments(arguments)))

    def sampling(self, server: str, outcome: SamplingOutcome, max_tokens: int) -> None:
        """Count a server's GLM-answered sampling request and show it on the status page with the server."""
        self._metrics.sampling(server, outcome)
        self._activity.record(SamplingEvent(server, outcome, max_tokens))

    def model_request(
        self, model: str, outcome: ModelOutcome, seconds: float, retries: int, usage: Mapping[str, Any] | None
    ) -> None:
        """Count a model request in the metrics and show it on the status page."""
        self._metrics.model_request(model, outcome, seconds, retries, usage)
        tokens = usage or {}
        prompt, completion = tokens.get("prompt_tokens"), tokens.get("completion_tokens")
        self._activity.record(
            ModelEvent(
                model,
                outcome,
                seconds,
                retries,
                prompt if isinstance(prompt, int) else None,
                completion if isinstance(completion, int) else None,
            )
        )
