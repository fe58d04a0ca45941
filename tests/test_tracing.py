"""OpenTelemetry: `glm-mcp serve` with the standard `OTEL_*` variables sends its spans over OTLP/HTTP to a receiver
in the test, continuing the caller's trace and passing it on to GLM and to HTTP upstreams."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.server.mcpserver import MCPServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import ROOT, glm_mcp_serve, serve_asgi

pytestmark = pytest.mark.slow

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP trace receiver: every span it was sent, by name, with its attributes."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.changed = anyio.Event()
        self.app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])

    async def _traces(self, request: Request) -> Response:
        batch = ExportTraceServiceRequest()
        batch.ParseFromString(await request.body())
        for resource in batch.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": attributes,
                            "error": span.status.code == 2,
                        }
                    )
        self.changed.set()
        self.changed = anyio.Event()
        return Response(b"", media_type="application/x-protobuf")

    async def until(self, *names: str) -> None:
        with anyio.fail_after(60):  # hang guard: spans are sent every 100 ms here
            while not all(any(span["name"] == name for span in self.spans) for name in names):
                await self.changed.wait()

    def named(self, name: str) -> dict[str, Any]:
        return next(span for span in self.spans if span["name"] == name)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


class HeardHeaders:
    """Keeps the `traceparent` of every request to the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.traceparents: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if b"traceparent" in headers:
                self.traceparents.append(headers[b"traceparent"].decode())
        await self.app(scope, receive, send)


async def test_spans_reach_the_collector_in_the_callers_trace_and_go_on_to_glm_and_http_servers(tmp_path: Path) -> None:
    remote = MCPServer("remote")

    @remote.tool()
    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    heard = HeardHeaders(remote.streamable_http_app(host="127.0.0.1"))

    def script(body: dict[str, Any]) -> Reply:
        if not any(message["role"] == "tool" for message in body["messages"]):
            return Reply(tool_calls=[("remote__shout", json.dumps({"text": "hi"}))])
        return Reply(content="It said HI.")

    fake = FakeGlm(script)
    receiver = Receiver()
    async with serve_asgi(receiver.app) as collector, serve_asgi(fake.app) as glm, serve_asgi(heard) as mcp_url:
        config = {
            "mcpServers": {"remote": {"type": "http", "url": f"{mcp_url}/mcp", "destructive": "allow"}},
            "model": {"base_url": glm, "api_key": "k"},
            "gateway": {"auth_tokens": ["trace-token"]},
        }
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector, "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "gw"}
        async with glm_mcp_serve(config, tmp_path, env=env) as gateway, httpx2.AsyncClient(timeout=60) as http:
            headers = {"Authorization": "Bearer trace-token", "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
            body = {"model": "glm-4.6", "messages": [{"role": "user", "content": "shout hi"}]}
            answer = await http.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers)
            assert answer.json()["choices"][0]["message"]["content"] == "It said HI."
            await receiver.until("POST /v1/chat/completions", "chat glm-4.6", "execute_tool remote__shout")

    request = receiver.named("POST /v1/chat/completions")
    assert request["trace"] == TRACE_ID and request["parent"] == CALLER_SPAN
    assert request["attributes"]["http.response.status_code"] == 200
    model = receiver.named("chat glm-4.6")
    assert model["trace"] == TRACE_ID
    assert model["attributes"]["gen_ai.operation.name"] == "chat"
    assert model["attributes"]["gen_ai.request.model"] == "glm-4.6"
    assert model["attributes"]["gen_ai.usage.input_tokens"] == 100
    assert model["attributes"]["gen_ai.response.finish_reasons"] in (["tool_calls"], ["stop"])
    tool = receiver.named("execute_tool remote__shout")
    assert tool["trace"] == TRACE_ID and not tool["error"]
    assert tool["attributes"]["glm_mcp.server"] == "remote" and tool["attributes"]["glm_mcp.outcome"] == "ok"
    # GLM and the HTTP server heard the caller's trace.
    assert all(TRACE_ID in fake_headers.get("traceparent", "") for fake_headers in fake.headers)
    assert any(TRACE_ID in traceparent for traceparent in heard.traceparents)


async def test_without_otel_variables_nothing_is_sent_and_the_sdk_is_not_even_imported(tmp_path: Path) -> None:
    probe = (
        "import sys, os; os.environ.pop('OTEL_EXPORTER_OTLP_ENDPOINT', None);"
        "from glm_mcp import telemetry; assert not telemetry.start(os.environ);"
        "assert 'opentelemetry.sdk' not in sys.modules; print('off')"
    )
    process = await anyio.run_process([sys.executable, "-c", probe], cwd=ROOT)
    assert process.stdout.decode().strip() == "off"
