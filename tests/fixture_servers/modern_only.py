"""An MCP server (built with the SDK) that speaks only the 2026-07-28 protocol, over stdio.

It refuses the `initialize` handshake (UNSUPPORTED_PROTOCOL_VERSION, naming 2026-07-28), so a client must use
`server/discover` and the per-request envelope; with `--answer-initialize`, it answers the handshake instead with a
result in version 2026-07-28, which a client of the handshake era cannot use either. Tools:
- `echo(text)`: returns the text;
- `ask_name`: asks its caller for a name in an `InputRequiredResult` round (elicitation), then greets;
- `ask_both`: asks for a name and a color together, in one round, under the keys `name` and `color`;
- `summarize(text)`: asks its caller to sample, then reports the model and its text;
- `grow`: adds the tool `fresh` and announces it on `subscriptions/listen`;
- `tick`: changes the resource `modern://clock` and announces that on `subscriptions/listen` (to the streams that
  follow it).
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import mcp.types as T
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated, ToolsListChanged
from mcp.shared.message import SessionMessage

BUS = InMemorySubscriptionBus()
ANSWER_INITIALIZE = "--answer-initialize" in sys.argv
TOOLS = [
    T.Tool(name="echo", input_schema={"type": "object", "properties": {"text": {"type": "string"}}}),
    T.Tool(name="ask_name", input_schema={"type": "object"}),
    T.Tool(name="ask_both", input_schema={"type": "object"}),
    T.Tool(name="summarize", input_schema={"type": "object", "properties": {"text": {"type": "string"}}}),
    T.Tool(name="grow", input_schema={"type": "object"}),
    T.Tool(name="tick", input_schema={"type": "object"}),
]
TICKS = [0]


def _text(text: str) -> T.CallToolResult:
    return T.CallToolResult(content=[T.TextContent(text=text)])


async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
    return T.ListToolsResult(tools=TOOLS)


async def call_tool(
    ctx: ServerRequestContext[Any], params: T.CallToolRequestParams
) -> T.CallToolResult | T.InputRequiredResult:
    arguments = params.arguments or {}
    answers = params.input_responses or {}
    if params.name == "echo":
        return _text(str(arguments.get("text", "")))
    if params.name == "ask_name":
        answer = answers.get("name")
        if not isinstance(answer, T.ElicitResult):
            form = T.ElicitRequestFormParams(
                message="Your name?",
                requested_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            )
            return T.InputRequiredResult(input_requests={"name": T.ElicitRequest(params=form)}, request_state="ask")
        name = (answer.content or {}).get("name") if answer.action == "accept" else None
        return _text(f"hello {name}" if name else f"no name ({answer.action})")
    if params.name == "ask_both":
        name, color = answers.get("name"), answers.get("color")
        if not isinstance(name, T.ElicitResult) or not isinstance(color, T.ElicitResult):
            forms = {
                key: T.ElicitRequest(
                    params=T.ElicitRequestFormParams(
                        message=f"Your {key}?",
                        requested_schema={"type": "object", "properties": {key: {"type": "string"}}, "required": [key]},
                    )
                )
                for key in ("name", "color")
            }
            return T.InputRequiredResult(input_requests=dict(forms), request_state="both")
        return _text(f"{(name.content or {}).get('name')} likes {(color.content or {}).get('color')}")
    if params.name == "summarize":
        answer = answers.get("summary")
        if not isinstance(answer, T.CreateMessageResult):
            message = T.SamplingMessage(role="user", content=T.TextContent(text=str(arguments.get("text", ""))))
            sampling = T.CreateMessageRequestParams(messages=[message], max_tokens=16)
            return T.InputRequiredResult(
                input_requests={"summary": T.CreateMessageRequest(params=sampling)}, request_state="sum"
            )
        said = answer.content.text if isinstance(answer.content, T.TextContent) else "?"
        return _text(f"{answer.model} said: {said}")
    if params.name == "grow":
        if not any(tool.name == "fresh" for tool in TOOLS):
            TOOLS.append(T.Tool(name="fresh", input_schema={"type": "object"}))
        await BUS.publish(ToolsListChanged())
        return _text("grown")
    if params.name == "tick":
        TICKS[0] += 1
        await BUS.publish(ResourceUpdated("modern://clock"))
        return _text(f"tick {TICKS[0]}")
    raise ValueError(f"no tool {params.name}")


async def list_resources(ctx: ServerRequestContext[Any], params: Any) -> T.ListResourcesResult:
    return T.ListResourcesResult(resources=[T.Resource(uri="modern://clock", name="clock")])


async def read_resource(ctx: ServerRequestContext[Any], params: T.ReadResourceRequestParams) -> T.ReadResourceResult:
    return T.ReadResourceResult(contents=[T.TextResourceContents(uri=params.uri, text=f"{TICKS[0]} ticks")])


SERVER: Server[Any] = Server(
    "modern-only",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
    on_list_resources=list_resources,
    on_read_resource=read_resource,
    on_subscriptions_listen=ListenHandler(BUS),
)


class _RefusingHandshake:
    """The client's messages, with `initialize` answered by a refusal instead of reaching the server."""

    def __init__(self, inner: Any, write: Any) -> None:
        self._inner = inner
        self._write = write

    async def receive(self) -> Any:
        while True:
            item = await self._inner.receive()
            message = item.message if isinstance(item, SessionMessage) else None
            if isinstance(message, T.JSONRPCRequest) and message.method == "initialize" and ANSWER_INITIALIZE:
                result: dict[str, Any] = {
                    "protocolVersion": "2026-07-28",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "modern", "version": "1"},
                }
                await self._write.send(SessionMessage(T.JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result)))
                continue
            if isinstance(message, T.JSONRPCRequest) and message.method == "initialize":
                error = T.ErrorData(
                    code=T.UNSUPPORTED_PROTOCOL_VERSION,
                    message="this server speaks only 2026-07-28",
                    data={"supported": ["2026-07-28"]},
                )
                await self._write.send(SessionMessage(T.JSONRPCError(jsonrpc="2.0", id=message.id, error=error)))
                continue
            if isinstance(message, T.JSONRPCNotification) and message.method == "notifications/initialized":
                continue
            return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _RefusingHandshake:
        return self

    async def __aenter__(self) -> _RefusingHandshake:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None


async def main() -> None:
    async with stdio_server() as (read, write):
        refusing: Any = _RefusingHandshake(read, write)  # the SDK's read-stream protocol, by shape
        await SERVER.run(refusing, write, SERVER.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
