"""OpenTelemetry traces over OTLP, off unless asked for: the standard `OTEL_*` variables or `gateway.otel`.

Contract:
- tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `gateway.otel.endpoint`
  is set (and `OTEL_SDK_DISABLED` is not `true`); the OpenTelemetry SDK is the optional extra
  `glm-mcp-gateway[otel]`, imported only then (a clear warning says how to install it when it is missing);
- when off, `span()` costs one global read and nothing is imported;
- spans: one per HTTP request (W3C trace context taken from the caller's `traceparent`), one per GLM request
  (`gen_ai.*`: operation, model, token usage, finish reasons), one per MCP tool call (tool, server, outcome); the
  MCP SDK's own spans (each MCP request in and out, trace context in `_meta`) join the same traces;
- `inject()` adds `traceparent` to the headers of a request to an HTTP upstream or to GLM.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

_tracer: Any = None
"""The tracer while tracing is on, else None."""
_provider: Any = None


def wanted(environ: Mapping[str, str], endpoint: str | None) -> bool:
    """Whether tracing is asked for."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        endpoint or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def start(environ: Mapping[str, str], endpoint: str | None = None, service_name: str | None = None) -> bool:
    """Turn tracing on if asked for and possible; whether it is on."""
    global _tracer, _provider
    if _tracer is not None or not wanted(environ, endpoint):
        return _tracer is not None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "OpenTelemetry is asked for (OTEL_EXPORTER_OTLP_ENDPOINT or gateway.otel) but its SDK is not installed: "
            "pip install 'glm-mcp-gateway[otel]'; no traces are sent"
        )
        return False
    name = service_name or environ.get("OTEL_SERVICE_NAME") or "glm-mcp"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    traces = f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
    trace.set_tracer_provider(provider)
    _provider, _tracer = provider, provider.get_tracer("glm-mcp")
    logger.info(
        "OpenTelemetry traces go to %s",
        traces or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    return True


def stop() -> None:
    """Send what is left and turn tracing off."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def on() -> bool:
    return _tracer is not None


@contextmanager
def span(
    name: str, kind: str = "internal", attributes: Mapping[str, Any] | None = None, parent: Any = None
) -> Generator[Any]:
    """A span around the block (None when tracing is off); an exception leaving it marks it as an error."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    kinds = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
    with _tracer.start_as_current_span(
        name, context=parent, kind=kinds[kind], attributes=dict(attributes or {})
    ) as current:
        yield current


def past_span(name: str, seconds: float, attributes: Mapping[str, Any], error: str | None = None) -> None:
    """A span for something that just ended, having taken `seconds` (a child of the current span)."""
    if _tracer is None:
        return
    import time

    from opentelemetry.trace import Status, StatusCode

    now = time.time_ns()
    done = _tracer.start_span(name, start_time=now - int(seconds * 1e9), attributes=dict(attributes))
    if error is not None:
        done.set_status(Status(StatusCode.ERROR, error))
    done.end(end_time=now)


def set_attributes(current: Any, attributes: Mapping[str, Any]) -> None:
    """Add attributes to a span from `span()` (nothing when tracing is off); None values are left out."""
    if current is not None:
        current.set_attributes({key: value for key, value in attributes.items() if value is not None})


def failed(current: Any, message: str) -> None:
    """Mark a span from `span()` as failed, with why."""
    if current is not None:
        from opentelemetry.trace import Status, StatusCode

        current.set_status(Status(StatusCode.ERROR, message))


def incoming(headers: Mapping[str, str]) -> Any:
    """The trace context a caller sent (`traceparent`, `tracestate`), for `span(parent=...)`; None when off."""
    if _tracer is None:
        return None
    from opentelemetry.propagate import extract

    return extract(headers)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context to an outgoing request's headers (nothing when tracing is off)."""
    if _tracer is not None:
        from opentelemetry.propagate import inject as put

        put(headers)
