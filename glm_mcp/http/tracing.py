"""A span for each HTTP request, continuing the caller's trace (`traceparent`), when tracing is on.

Contract: the app is wrapped only when tracing is on (`telemetry.on()` when it is built); then each request is a
server span named by its method and path, with its status, a child of the trace context the caller sent.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glm_mcp import telemetry


class RequestSpans:
    """ASGI middleware: one span per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not telemetry.on():
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        method, path = scope["method"], scope["path"]
        attributes = {"http.request.method": method, "url.path": path, "url.scheme": scope.get("scheme", "http")}
        with telemetry.span(f"{method} {path}", "server", attributes, telemetry.incoming(headers)) as span:
            status: list[int] = []

            async def noting(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                    telemetry.set_attributes(span, {"http.response.status_code": message["status"]})
                await send(message)

            await self.app(scope, receive, noting)
            if status and status[0] >= 500:
                telemetry.failed(span, f"HTTP {status[0]}")
