"""The project's own server for the MCP conformance suite's server scenarios, built on the SDK's low-level `Server`.

It implements what the suite (npm `@modelcontextprotocol/conformance`, pinned in `tests/node22`) calls: the
`test_*` tools, prompts and `test://` resources, sampling and elicitation requests, logging, progress,
completion and subscriptions. Run it on streamable HTTP:

    python -m tests.conformance_server --port 8123        # then: conformance server --url http://127.0.0.1:8123/mcp
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
from typing import Any

import anyio
import mcp.types as T
import uvicorn
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.subscriptions import ListenHandler

from tests import conformance_rounds

# A 1x1 red PNG and a 44-byte silent WAV: the smallest valid media for the content scenarios.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
        "53de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
    )
).decode()
WAV = base64.b64encode(
    b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00\x80>\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
).decode()

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}
ADDRESS = {
    "$anchor": "addressDef",
    "type": "object",
    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
}
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": ADDRESS},
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}
"""The keywords of JSON Schema 2020-12 a schema must keep through a listing: `$defs` with an `$anchor`, `$ref`,
composition (`allOf`, `anyOf`) and conditions (`if`, `then`, `else`)."""


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> T.Tool:
    return T.Tool(name=name, description=description, input_schema=schema or NO_ARGUMENTS)


def _one_string(name: str, description: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string", "description": description}}, "required": [name]}


TOOLS = [
    _tool("test_simple_text", "Returns simple text."),
    _tool("test_image_content", "Returns an image."),
    _tool("test_audio_content", "Returns audio."),
    _tool("test_embedded_resource", "Returns an embedded resource."),
    _tool("test_multiple_content_types", "Returns text, an image and a resource."),
    _tool("test_tool_with_logging", "Logs three messages while it runs."),
    _tool("test_error_handling", "Always fails."),
    _tool("test_tool_with_progress", "Reports progress while it runs."),
    _tool("test_sampling", "Asks the client's model.", _one_string("prompt", "The prompt to send to the LLM")),
    _tool("test_elicitation", "Asks the user.", _one_string("message", "The message to show the user")),
    _tool("test_elicitation_sep1034_defaults", "Asks the user with defaults for every primitive type."),
    _tool("test_elicitation_sep1330_enums", "Asks the user with every kind of enum."),
    _tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", JSON_SCHEMA_2020_12),
    _tool("test_reconnection", "Closes the call's stream mid-call; the client resumes it to get the result."),
]

RESOURCES = [
    T.Resource(uri="test://static-text", name="static-text", description="A static text.", mime_type="text/plain"),
    T.Resource(uri="test://static-binary", name="static-binary", description="A PNG.", mime_type="image/png"),
    T.Resource(
        uri="test://watched-resource", name="watched", description="One to subscribe to.", mime_type="text/plain"
    ),
]
TEMPLATES = [
    T.ResourceTemplate(
        uri_template="test://template/{id}/data",
        name="template-data",
        description="Data for an id.",
        mime_type="application/json",
    )
]
PROMPTS = [
    T.Prompt(name="test_simple_prompt", description="A simple prompt."),
    T.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with arguments.",
        arguments=[
            T.PromptArgument(name="arg1", description="First test argument", required=True),
            T.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    T.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt embedding a resource.",
        arguments=[T.PromptArgument(name="resourceUri", description="URI of the resource to embed", required=True)],
    ),
    T.Prompt(name="test_prompt_with_image", description="A prompt with an image."),
]

SUBSCRIBED: set[str] = set()


def _text(text: str, *, error: bool = False) -> T.CallToolResult:
    return T.CallToolResult(content=[T.TextContent(text=text)], is_error=error)


async def _elicit(ctx: ServerRequestContext[Any], message: str, schema: dict[str, Any]) -> T.ElicitResult:
    caps = ctx.session.client_capabilities
    if caps is None or caps.elicitation is None:
        raise MCPError(T.INVALID_REQUEST, "the client does not support elicitation")
    return await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)


def _modern(ctx: ServerRequestContext[Any]) -> bool:
    return ctx.session.protocol_version == "2026-07-28"


async def call_tool(
    ctx: ServerRequestContext[Any], params: T.CallToolRequestParams
) -> T.CallToolResult | T.InputRequiredResult:
    name, arguments = params.name, params.arguments or {}
    if name in conformance_rounds.TOOL_NAMES and _modern(ctx):
        return await conformance_rounds.call_tool(ctx, params)
    if name == "test_simple_text":
        return _text("This is a simple text response for testing.")
    if name == "test_image_content":
        return T.CallToolResult(content=[T.ImageContent(data=PNG, mime_type="image/png")])
    if name == "test_audio_content":
        return T.CallToolResult(content=[T.AudioContent(data=WAV, mime_type="audio/wav")])
    if name == "test_embedded_resource":
        resource = T.TextResourceContents(
            uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
        )
        return T.CallToolResult(content=[T.EmbeddedResource(resource=resource)])
    if name == "test_multiple_content_types":
        data = T.TextResourceContents(
            uri="test://mixed-content-resource", mime_type="application/json", text='{"test":"data","value":123}'
        )
        return T.CallToolResult(
            content=[
                T.TextContent(text="Multiple content types test:"),
                T.ImageContent(data=PNG, mime_type="image/png"),
                T.EmbeddedResource(resource=data),
            ]
        )
    if name == "test_tool_with_logging":
        for step, message in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
            if step:
                await anyio.sleep(0.05)
            await ctx.session.send_log_message("info", message, logger="conformance", related_request_id=ctx.request_id)  # pyright: ignore[reportDeprecated]  # 2025-era logging
        return _text("Tool with logging executed successfully")
    if name == "test_error_handling":
        return _text("This tool intentionally returns an error for testing", error=True)
    if name == "test_tool_with_progress":
        for step, progress in enumerate((0, 50, 100)):
            if step:
                await anyio.sleep(0.05)
            await ctx.session.report_progress(progress, 100)
        return _text("Tool with progress executed successfully")
    if name == "test_sampling":
        caps = ctx.session.client_capabilities
        if caps is None or caps.sampling is None:
            raise MCPError(T.INVALID_REQUEST, "the client does not support sampling")
        message = T.SamplingMessage(role="user", content=T.TextContent(text=str(arguments.get("prompt", ""))))
        answer = await ctx.session.create_message([message], max_tokens=100, related_request_id=ctx.request_id)  # pyright: ignore[reportDeprecated]  # 2025-era sampling
        said = answer.content.text if isinstance(answer.content, T.TextContent) else json.dumps(str(answer.content))
        return _text(f"LLM response: {said}")
    if name == "test_elicitation":
        schema = {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
        answer = await _elicit(ctx, str(arguments.get("message", "")), schema)
        return _text(f"User response: action={answer.action}, content={json.dumps(answer.content)}")
    if name == "test_elicitation_sep1034_defaults":
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "default": True},
            },
        }
        answer = await _elicit(ctx, "Please review the defaults", schema)
        return _text(f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}")
    if name == "test_elicitation_sep1330_enums":
        titled = [
            {"const": f"value{i}", "title": title}
            for i, title in enumerate(("First Option", "Second Option", "Third Option"), 1)
        ]
        choices = [
            {"const": f"value{i}", "title": title}
            for i, title in enumerate(("First Choice", "Second Choice", "Third Choice"), 1)
        ]
        schema = {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "oneOf": titled},
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {"type": "array", "items": {"anyOf": choices}},
            },
        }
        answer = await _elicit(ctx, "Please choose", schema)
        return _text(f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}")
    if name == "test_reconnection":
        if ctx.close_sse_stream is not None:  # a 2025-era call answered on a stream
            await ctx.close_sse_stream()
        await anyio.sleep(0.1)  # the result is sent after the stream closed: the client gets it by resuming
        return _text("Reconnection test completed successfully.")
    if name == "json_schema_2020_12_tool":
        return _text(f"received {json.dumps(arguments)}")
    raise MCPError(T.INVALID_PARAMS, f"unknown tool {name}")


async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
    return T.ListToolsResult(tools=[*TOOLS, *conformance_rounds.tools()] if _modern(ctx) else TOOLS)


async def list_resources(ctx: ServerRequestContext[Any], params: Any) -> T.ListResourcesResult:
    return T.ListResourcesResult(resources=RESOURCES)


async def list_templates(ctx: ServerRequestContext[Any], params: Any) -> T.ListResourceTemplatesResult:
    return T.ListResourceTemplatesResult(resource_templates=TEMPLATES)


async def read_resource(ctx: ServerRequestContext[Any], params: T.ReadResourceRequestParams) -> T.ReadResourceResult:
    uri = str(params.uri)
    if uri == "test://static-text":
        text = "This is the content of the static text resource."
        return T.ReadResourceResult(contents=[T.TextResourceContents(uri=uri, mime_type="text/plain", text=text)])
    if uri == "test://static-binary":
        return T.ReadResourceResult(contents=[T.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG)])
    if uri == "test://watched-resource":
        return T.ReadResourceResult(contents=[T.TextResourceContents(uri=uri, mime_type="text/plain", text="watched")])
    if uri.startswith("test://template/") and uri.endswith("/data"):
        ident = uri.removeprefix("test://template/").removesuffix("/data")
        text = json.dumps({"id": ident, "templateTest": True, "data": f"Data for ID: {ident}"}, separators=(",", ":"))
        return T.ReadResourceResult(contents=[T.TextResourceContents(uri=uri, mime_type="application/json", text=text)])
    raise MCPError(T.INVALID_PARAMS, f"unknown resource {uri}", {"uri": uri})


async def subscribe(ctx: ServerRequestContext[Any], params: T.SubscribeRequestParams) -> T.EmptyResult:
    SUBSCRIBED.add(str(params.uri))
    return T.EmptyResult()


async def unsubscribe(ctx: ServerRequestContext[Any], params: T.UnsubscribeRequestParams) -> T.EmptyResult:
    SUBSCRIBED.discard(str(params.uri))
    return T.EmptyResult()


async def list_prompts(ctx: ServerRequestContext[Any], params: Any) -> T.ListPromptsResult:
    return T.ListPromptsResult(prompts=[*PROMPTS, *conformance_rounds.prompts()] if _modern(ctx) else PROMPTS)


def _user(content: T.TextContent | T.ImageContent | T.EmbeddedResource) -> T.PromptMessage:
    return T.PromptMessage(role="user", content=content)


async def get_prompt(
    ctx: ServerRequestContext[Any], params: T.GetPromptRequestParams
) -> T.GetPromptResult | T.InputRequiredResult:
    arguments = params.arguments or {}
    if params.name == "test_input_required_result_prompt" and _modern(ctx):
        return await conformance_rounds.get_prompt(params)
    if params.name == "test_simple_prompt":
        return T.GetPromptResult(messages=[_user(T.TextContent(text="This is a simple prompt for testing."))])
    if params.name == "test_prompt_with_arguments":
        text = f"Prompt with arguments: arg1='{arguments.get('arg1', '')}', arg2='{arguments.get('arg2', '')}'"
        return T.GetPromptResult(messages=[_user(T.TextContent(text=text))])
    if params.name == "test_prompt_with_embedded_resource":
        uri = arguments.get("resourceUri", "test://embedded")
        contents = T.TextResourceContents(
            uri=uri, mime_type="text/plain", text="Embedded resource content for testing."
        )
        return T.GetPromptResult(
            messages=[
                _user(T.EmbeddedResource(resource=contents)),
                _user(T.TextContent(text="Please process the embedded resource above.")),
            ]
        )
    if params.name == "test_prompt_with_image":
        return T.GetPromptResult(
            messages=[
                _user(T.ImageContent(data=PNG, mime_type="image/png")),
                _user(T.TextContent(text="Please analyze the image above.")),
            ]
        )
    raise MCPError(T.INVALID_PARAMS, f"unknown prompt {params.name}")


async def complete(ctx: ServerRequestContext[Any], params: T.CompleteRequestParams) -> T.CompleteResult:
    values = [value for value in ("paris", "park", "party") if value.startswith(params.argument.value)]
    return T.CompleteResult(completion=T.Completion(values=values, total=len(values), has_more=False))


async def set_level(ctx: ServerRequestContext[Any], params: T.SetLevelRequestParams) -> T.EmptyResult:
    return T.EmptyResult()


def build() -> Server[Any]:
    return Server(  # pyright: ignore[reportDeprecated]  # the logging capability the suite checks
        "glm-mcp-conformance",
        version="1.0.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_set_logging_level=set_level,
        on_subscriptions_listen=ListenHandler(conformance_rounds.BUS),
    )


class Events(EventStore):
    """Every event of every stream, for clients that resume a stream with `Last-Event-ID`."""

    def __init__(self) -> None:
        self.kept: list[tuple[StreamId, Any]] = []

    async def store_event(self, stream_id: StreamId, message: Any) -> EventId:
        self.kept.append((stream_id, message))
        return str(len(self.kept))

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        if not last_event_id.isdigit() or not 0 < int(last_event_id) <= len(self.kept):
            return None
        stream = self.kept[int(last_event_id) - 1][0]
        for number, (each, message) in enumerate(self.kept[int(last_event_id) :], int(last_event_id) + 1):
            if each == stream and message is not None:
                await send_callback(EventMessage(message, str(number)))
        return stream


def trimming_headers(app: Any) -> Any:
    """`app`, given header values without the optional whitespace around them, as HTTP says a field is read."""

    async def trimmed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": [(name, value.strip(b" \t")) for name, value in scope["headers"]]}
        await app(scope, receive, send)

    return trimmed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free one")
    args = parser.parse_args()
    server = build()
    app = trimming_headers(
        server.streamable_http_app(
            streamable_http_path="/mcp", host="127.0.0.1", event_store=Events(), retry_interval=100
        )
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    # Connections wait in the backlog until uvicorn serves them: a client may connect once this line is out.
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/mcp", file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
