"""The per-caller request budget on every face: `/mcp`, `/sse` and its posts, `/v1/*`.

Contract:
- each request on those paths counts against its caller's `requests_per_minute` (after the bearer check named the
  caller); past it the request gets 429 with `Retry-After` and a message naming the limit, in the shape its face's
  clients read: a JSON-RPC error on the MCP paths, Anthropic's error on `/v1/messages`, OpenAI's elsewhere;
- `/v1/models` is not counted (clients poll it), nor are health, status and admin paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from glm_mcp.errors import OverLimit
from glm_mcp.faces.caller import client_key, person_of
from glm_mcp.replicas.budgets import Budgets

ErrorShapeFnT = Callable[[int, str], Mapping[str, object]]

_COUNTED = ("/mcp", "/sse", "/messages/", "/v1/")
_MCP_PATHS = ("/mcp", "/sse", "/messages/")
OVER_LIMIT_CODE = -32029
"""The JSON-RPC code of a refusal for a caller's limit on the MCP paths (in the range servers may define)."""


def over_limit_response(exc: OverLimit, body: Mapping[str, object]) -> JSONResponse:
    return JSONResponse(dict(body), status_code=429, headers={"Retry-After": str(exc.retry_after)})


class RequestBudget:
    """Counts each request against its caller's `requests_per_minute`."""

    def __init__(self, app: ASGIApp, budgets: Budgets, shapes: Mapping[str, ErrorShapeFnT]) -> None:
        self.app = app
        self.budgets = budgets
        self.shapes = dict(shapes)
        """Path prefix → the error body its clients read; OpenAI's for the rest of `/v1/`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(_COUNTED) or path.startswith("/v1/models"):
            await self.app(scope, receive, send)
            return
        try:
            await self.budgets.request(client_key(scope), person_of(scope))
        except OverLimit as exc:
            await over_limit_response(exc, self._body(path, exc))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _body(self, path: str, exc: OverLimit) -> Mapping[str, object]:
        if path.startswith(_MCP_PATHS):
            error = {"code": OVER_LIMIT_CODE, "message": str(exc), "data": {"limit": exc.limit}}
            return {"jsonrpc": "2.0", "id": None, "error": error}
        for prefix, shape in self.shapes.items():
            if path.startswith(prefix):
                return shape(429, str(exc))
        return {"error": {"message": str(exc), "type": "rate_limit_error", "code": exc.limit}}
