"""A server's own questions (sampling, elicitation, roots), completion and subscriptions, carried through the MCP face.

An upstream server built with the SDK asks its caller; the editor is an SDK client that implements the callbacks
(or not); GLM is the emulator. Everything runs in process over the SDK's in-memory transport.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as T
import openai
import pytest
from mcp import Client, MCPError
from mcp.client import ClientRequestContext
from mcp.server import Server, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.message import ServerMessageMetadata
from pydantic import BaseModel, SecretStr

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig, ModelConfig, ServeConfig, UpstreamConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from glm_mcp.relay.asking import Asker
from glm_mcp.relay.rounds import Rounds
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import UpdatesHeard, inproc, logged, python_server, serve_asgi, text_of

MODEL = ModelConfig(base_url="http://glm/api/paas/v4", api_key=SecretStr("k"), name="glm-4.6")


class Answer(BaseModel):
    name: str


def asking_server() -> MCPServer:
    """A server whose tools ask their caller: to sample, to fill a form, to open a URL, for its roots."""
    server = MCPServer("asks")

    @server.tool()
    async def summarize(text: str, ctx: Context) -> str:
        """Ask the caller's model for a summary."""
        result = await ctx.session.create_message(  # pyright: ignore[reportDeprecated]  # 2025-era sampling
            [T.SamplingMessage(role="user", content=T.TextContent(text=text))],
            max_tokens=20,
            system_prompt="Be brief.",
            temperature=1.5,
            stop_sequences=["END"],
            related_request_id=ctx.request_id,
        )
        content = result.content
        said = content.text if isinstance(content, T.TextContent) else "?"
        return f"{result.model} said: {said}"

    @server.tool()
    async def greet(ctx: Context) -> str:
        """Ask the user for a name."""
        answer = await ctx.elicit("Your name?", Answer)
        return (
            f"hello {answer.data.name}" if answer.action == "accept" and answer.data else f"no name ({answer.action})"
        )

    @server.tool()
    async def sign_in(ctx: Context) -> str:
        """Send the user to a sign-in page."""
        answer = await ctx.elicit_url("Sign in first", "https://example.test/login", "login-1")
        return f"sign-in: {answer.action}"

    @server.tool()
    async def where(ctx: Context) -> str:
        """List the caller's roots."""
        roots = await ctx.session.list_roots()  # pyright: ignore[reportDeprecated]  # 2025-era roots
        return ", ".join(str(root.uri) for root in roots.roots) or "no roots"

    @server.prompt()
    def review(language: str) -> str:
        """Review code in a language."""
        return f"Review this {language} code."

    @server.completion()
    async def complete(ref: Any, argument: T.CompletionArgument, context: Any) -> T.Completion | None:
        if isinstance(ref, T.PromptReference) and ref.name == "review" and argument.name == "language":
            values = [language for language in ("python", "perl", "php") if language.startswith(argument.value)]
            return T.Completion(values=values)
        return None

    return server


def answering_editor(asked: list[str], said: str, name: str, root: str | None = None) -> dict[str, Any]:
    """An SDK client's callbacks that note each question in `asked` and answer it: a sample saying `said`, a form
    giving `name`, and (when given) one root."""

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        asked.append("sampling")
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text=said), model="editor-llm")

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        asked.append("elicitation")
        return T.ElicitResult(action="accept", content={"name": name})

    async def roots(context: ClientRequestContext) -> T.ListRootsResult:
        asked.append("roots")
        return T.ListRootsResult(roots=[T.Root.model_validate({"uri": root, "name": "root"})])

    callbacks: dict[str, Any] = {"sampling_callback": sample, "elicitation_callback": elicit}
    return callbacks if root is None else {**callbacks, "list_roots_callback": roots}


@asynccontextmanager
async def face(
    servers: dict[str, UpstreamConfig], fake: FakeGlm | None = None, **editor: Any
) -> AsyncGenerator[Client, None]:
    transport = httpx2.ASGITransport(fake.app) if fake is not None else None
    gateway_section = editor.pop("gateway", ServeConfig())
    config = GatewayConfig(servers=servers, model=MODEL, gateway=gateway_section)
    gateway = Gateway(config, model_transport=transport)
    async with gateway.running(), Client(build_server(gateway, gateway.agent), mode="legacy", **editor) as client:
        yield client


async def test_a_servers_sampling_request_reaches_the_editor_that_called_and_its_answer_comes_back() -> None:
    asked: list[T.CreateMessageRequestParams] = []

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        asked.append(params)
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="short"), model="editor-llm")

    async with face({"asks": inproc(asking_server())}, sampling_callback=sample) as editor:
        result = await editor.call_tool("asks__summarize", {"text": "a long text"})
    assert text_of(result) == "editor-llm said: short"
    assert len(asked) == 1 and asked[0].system_prompt == "Be brief." and asked[0].max_tokens == 20
    message = asked[0].messages[0].content
    assert isinstance(message, T.TextContent) and message.text == "a long text"


async def test_glm_answers_sampling_for_a_server_set_to_glm_with_the_requests_settings() -> None:
    fake = FakeGlm([Reply(content="\n\nglm summary")])
    async with face({"asks": inproc(asking_server(), sampling="glm")}, fake) as editor:
        result = await editor.call_tool("asks__summarize", {"text": "a long text"})
    assert text_of(result) == "glm-4.6 said: glm summary"
    sent = fake.requests[0]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a long text"},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["stop"]) == (20, 1.0, ["END"])  # 1.5 brought into range


def holding_server() -> tuple[MCPServer, anyio.Event, anyio.Event]:
    """`asking_server` with a tool that waits until released: (server, holding, release)."""
    server = asking_server()
    holding, release = anyio.Event(), anyio.Event()

    @server.tool()
    async def hold() -> str:
        """Wait until released."""
        holding.set()
        await release.wait()
        return "held"

    return server, holding, release


async def questions_while_another_editor_waits(gateway: Gateway, holding: anyio.Event, release: anyio.Event) -> None:
    """Two editors with answers of their own: while the first one's call waits on the server, the other's calls ask
    the server's questions; each question must reach the editor whose call asked it, and only that one."""
    first_asked: list[str] = []
    other_asked: list[str] = []
    face_server = build_server(gateway, gateway.agent)
    async with (
        Client(face_server, mode="legacy", **answering_editor(first_asked, "first's", "First")) as first,
        Client(face_server, mode="legacy", **answering_editor(other_asked, "other's", "Other")) as other,
    ):

        async def first_holds() -> None:
            await first.call_tool("asks__hold", {})

        async with anyio.create_task_group() as tg:
            tg.start_soon(first_holds)
            await holding.wait()  # the first editor's call waits on the server
            sampled = await other.call_tool("asks__summarize", {"text": "x"})
            greeted = await other.call_tool("asks__greet", {})
            assert text_of(sampled) == "editor-llm said: other's" and text_of(greeted) == "hello Other"
            release.set()
    assert other_asked == ["sampling", "elicitation"] and first_asked == []


async def test_a_question_on_a_calls_own_stream_goes_to_that_caller_while_another_editor_waits() -> None:
    """In memory, a server's question travels in the context of the call that caused it, as on an HTTP response
    stream."""
    server, holding, release = holding_server()
    gateway = Gateway(GatewayConfig(servers={"asks": inproc(server)}, model=MODEL))
    async with gateway.running():
        await questions_while_another_editor_waits(gateway, holding, release)


async def test_a_question_on_the_response_stream_of_an_http_call_goes_to_that_caller_while_another_editor_waits() -> (
    None
):
    server, holding, release = holding_server()
    async with serve_asgi(server.streamable_http_app(host="127.0.0.1")) as url:
        gateway = Gateway(GatewayConfig(servers={"asks": HttpUpstreamConfig(url=f"{url}/mcp")}, model=MODEL))
        async with gateway.running():
            await questions_while_another_editor_waits(gateway, holding, release)


async def test_a_question_that_names_no_request_goes_to_neither_of_two_waiting_editors() -> None:
    """Over stdio a server's question says nothing of the call it belongs to: while two editors' calls wait on the
    server, it is refused instead of being put to one of them."""
    config = GatewayConfig(servers={"proc": python_server("sdk_server.py")}, model=MODEL)
    asked: list[str] = []
    with logged("glm_mcp.servers.proc", "NAP started") as napping:
        async with Gateway(config).running() as gateway:
            face_server = build_server(gateway, gateway.agent)
            async with (
                Client(face_server, mode="legacy", **answering_editor(asked, "first's", "First")) as first,
                Client(face_server, mode="legacy", **answering_editor(asked, "other's", "Other")) as other,
            ):

                async def first_naps() -> None:
                    await first.call_tool("proc__nap", {"seconds": 60})

                async with anyio.create_task_group() as tg:
                    tg.start_soon(first_naps)
                    with anyio.fail_after(10):  # hang guard, not a timing check: a busy 2-core machine
                        await napping.seen.wait()
                    sampled = await other.call_tool("proc__summarize", {"text": "x"})
                    assert sampled.is_error and "several callers wait" in text_of(sampled)
                    tg.cancel_scope.cancel()
                alone = await other.call_tool("proc__summarize", {"text": "y"})
    assert text_of(alone) == "editor-llm said: other's" and asked == ["sampling"]


async def test_sampling_set_to_deny_is_not_advertised_and_the_server_hears_a_refusal() -> None:
    async with face({"asks": inproc(asking_server(), sampling="deny")}, FakeGlm([])) as editor:
        result = await editor.call_tool("asks__summarize", {"text": "x"})
    assert result.is_error and "sampling" in text_of(result).lower()


async def test_sampling_is_advertised_to_a_server_only_where_someone_can_answer_it() -> None:
    server = MCPServer("caps")

    @server.tool()
    def can_sample(ctx: Context) -> bool:
        """Whether the client declared sampling."""
        caps = ctx.session.client_capabilities
        return caps is not None and caps.sampling is not None

    keyless = ModelConfig()  # Z.ai's endpoint, no key
    seen: dict[str, bool] = {}
    for label, sampling, model in [
        ("glm with a key", "glm", MODEL),
        ("glm without a key", "glm", keyless),
        ("editor-then-glm without a key", "editor-then-glm", keyless),
        ("deny", "deny", MODEL),
    ]:
        config = GatewayConfig(servers={"caps": inproc(server, sampling=sampling)}, model=model)
        async with Gateway(config).running() as gateway:
            seen[label] = (await gateway.call_tool("caps__can_sample", {})).structured_content == {"result": True}
    assert seen == {
        "glm with a key": True,
        "glm without a key": False,
        "editor-then-glm without a key": True,  # an editor that samples can still answer
        "deny": False,
    }


async def test_a_form_elicitation_is_answered_by_the_editor_accepted_or_declined() -> None:
    replies = [T.ElicitResult(action="accept", content={"name": "Ada"}), T.ElicitResult(action="decline")]
    seen: list[str] = []

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        seen.append(params.message)
        return replies.pop(0)

    async with face({"asks": inproc(asking_server())}, elicitation_callback=elicit) as editor:
        accepted = await editor.call_tool("asks__greet", {})
        declined = await editor.call_tool("asks__greet", {})
    assert (text_of(accepted), text_of(declined)) == ("hello Ada", "no name (decline)")
    assert seen == ["Your name?", "Your name?"]


async def test_a_url_elicitation_reaches_the_editor_with_its_url() -> None:
    urls: list[str] = []

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        assert isinstance(params, T.ElicitRequestURLParams)
        urls.append(params.url)
        return T.ElicitResult(action="accept")

    async with face({"asks": inproc(asking_server())}, elicitation_callback=elicit) as editor:
        result = await editor.call_tool("asks__sign_in", {})
    assert text_of(result) == "sign-in: accept" and urls == ["https://example.test/login"]


async def test_an_editor_without_elicitation_has_the_server_declined_not_hung() -> None:
    async with face({"asks": inproc(asking_server())}) as editor:
        result = await editor.call_tool("asks__greet", {})
    assert text_of(result) == "no name (decline)"


async def test_roots_come_from_the_calling_editor_else_from_the_config(tmp_path: Path) -> None:
    async def roots(context: ClientRequestContext) -> T.ListRootsResult:
        return T.ListRootsResult(roots=[T.Root.model_validate({"uri": "file:///work/project", "name": "project"})])

    async with face({"asks": inproc(asking_server())}, list_roots_callback=roots) as editor:
        assert text_of(await editor.call_tool("asks__where", {})) == "file:///work/project"
    configured = ServeConfig(roots=(str(tmp_path),))
    async with face({"asks": inproc(asking_server())}, gateway=configured) as editor:
        assert text_of(await editor.call_tool("asks__where", {})) == tmp_path.as_uri()


async def test_completion_of_a_prompt_argument_is_relayed_under_the_exposed_name() -> None:
    async with face({"asks": inproc(asking_server())}) as editor:
        prompts = [prompt.name for prompt in (await editor.list_prompts()).prompts]
        result = await editor.complete(T.PromptReference(name="asks__review"), {"name": "language", "value": "p"})
        with pytest.raises(MCPError) as unknown:
            await editor.complete(T.PromptReference(name="asks__nope"), {"name": "language", "value": "p"})
    assert prompts == ["asks__review"]
    assert result.completion.values == ["python", "perl", "php"]
    assert unknown.value.code == T.INVALID_PARAMS


def subscribable_server(changed: anyio.Event, subscribed: list[str]) -> Server[Any]:
    """A low-level server with one resource that changes when its `touch` tool runs."""

    async def list_resources(ctx: ServerRequestContext[Any], params: Any) -> T.ListResourcesResult:
        return T.ListResourcesResult(resources=[T.Resource(uri="notes://today", name="today")])

    async def read(ctx: ServerRequestContext[Any], params: T.ReadResourceRequestParams) -> T.ReadResourceResult:
        return T.ReadResourceResult(contents=[T.TextResourceContents(uri=params.uri, text="notes")])

    async def subscribe(ctx: ServerRequestContext[Any], params: T.SubscribeRequestParams) -> T.EmptyResult:
        subscribed.append(str(params.uri))
        return T.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any], params: T.UnsubscribeRequestParams) -> T.EmptyResult:
        subscribed.remove(str(params.uri))
        return T.EmptyResult()

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[T.Tool(name="touch", input_schema={"type": "object"})])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        await ctx.session.send_resource_updated("notes://today")
        changed.set()
        return T.CallToolResult(content=[T.TextContent(text="touched")])

    return Server(
        "notes",
        on_list_resources=list_resources,
        on_read_resource=read,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def test_a_subscribed_editor_hears_its_resource_change_and_unsubscribing_reaches_the_server() -> None:
    changed = anyio.Event()
    subscribed: list[str] = []
    updates = UpdatesHeard()
    servers: dict[str, UpstreamConfig] = {"notes": inproc(subscribable_server(changed, subscribed))}
    async with face(servers, message_handler=updates) as editor:
        await editor.subscribe_resource("notes://today")  # pyright: ignore[reportDeprecated]  # 2025-era editors
        assert subscribed == ["notes://today"]
        await editor.call_tool("notes__touch", {})
        with anyio.fail_after(5):
            await updates.arrived.wait()
        await editor.unsubscribe_resource("notes://today")  # pyright: ignore[reportDeprecated]  # 2025-era editors
        assert subscribed == []
    assert updates.uris == ["notes://today"]


async def test_an_editor_that_leaves_without_unsubscribing_has_its_subscription_withdrawn_upstream() -> None:
    changed = anyio.Event()
    subscribed: list[str] = []
    gateway = Gateway(GatewayConfig(servers={"notes": inproc(subscribable_server(changed, subscribed))}))
    async with gateway.running():
        server = build_server(gateway)
        async with Client(server, mode="legacy") as staying, Client(server, mode="legacy") as leaving:
            await staying.subscribe_resource("notes://today")  # pyright: ignore[reportDeprecated]  # 2025-era editors
            await leaving.subscribe_resource("notes://today")  # pyright: ignore[reportDeprecated]  # 2025-era editors
            assert subscribed == ["notes://today"]  # one upstream subscription for both
        async with Client(server, mode="legacy") as alone:
            await alone.subscribe_resource("notes://today")  # pyright: ignore[reportDeprecated]  # 2025-era editors
            assert subscribed == ["notes://today"]
        with anyio.fail_after(5):
            while subscribed:  # withdrawn as the connection closes, not by a request of the editor
                await anyio.wait_all_tasks_blocked()
                await anyio.lowlevel.checkpoint()
    assert subscribed == []


async def test_over_http_the_editor_is_asked_on_its_own_request_stream() -> None:
    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="via http"), model="editor-llm")

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        return T.ElicitResult(action="accept", content={"name": "Grace"})

    app = build_app(Gateway(GatewayConfig(servers={"asks": inproc(asking_server())}, model=MODEL)))
    async with (
        serve_asgi(app) as url,
        Client(f"{url}/mcp", mode="legacy", sampling_callback=sample, elicitation_callback=elicit) as editor,
    ):
        assert text_of(await editor.call_tool("asks__summarize", {"text": "x"})) == "editor-llm said: via http"
        assert text_of(await editor.call_tool("asks__greet", {})) == "hello Grace"


RAW_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


async def _raw_session(http: httpx2.AsyncClient, capabilities: dict[str, Any]) -> dict[str, str]:
    """Open a 2025-era session over plain HTTP declaring `capabilities`; the headers its requests carry."""
    initialize: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    opened = await http.post("/mcp", json=initialize)
    session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
    return session


async def _answer_type(url: str, capabilities: dict[str, Any]) -> str:
    """Open a session declaring `capabilities`, call a tool, and return the answer's content type."""
    async with httpx2.AsyncClient(base_url=url, headers=RAW_HEADERS, timeout=10) as http:
        session = await _raw_session(http, capabilities)
        call: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "asks__review_code", "arguments": {}},
        }
        answered = await http.post("/mcp", json=call, headers=session)
        return answered.headers["content-type"].split(";")[0]


async def test_over_http_only_sessions_that_can_be_asked_get_streamed_answers() -> None:
    server = MCPServer("asks")

    @server.tool()
    def review_code() -> str:
        """Answer at once."""
        return "fine"

    app = build_app(Gateway(GatewayConfig(servers={"asks": inproc(server)}, model=MODEL)))
    async with serve_asgi(app) as url:
        plain = await _answer_type(url, {})
        askable = await _answer_type(url, {"sampling": {}})
    assert (plain, askable) == ("application/json", "text/event-stream")


async def test_a_2026_editor_is_asked_in_input_required_rounds_and_the_same_call_goes_on() -> None:
    asked: list[str] = []
    gateway = Gateway(GatewayConfig(servers={"asks": inproc(asking_server())}, model=MODEL))
    callbacks = answering_editor(asked, "modern", "Hopper", root="file:///modern")
    modern = Client(build_server(gateway, gateway.agent), mode="2026-07-28", **callbacks)
    async with gateway.running(), modern as client:
        assert client.protocol_version == "2026-07-28"
        assert text_of(await client.call_tool("asks__summarize", {"text": "x"})) == "editor-llm said: modern"
        assert text_of(await client.call_tool("asks__greet", {})) == "hello Hopper"
        assert text_of(await client.call_tool("asks__where", {})) == "file:///modern"
    assert asked == ["sampling", "elicitation", "roots"]


async def test_a_2026_editor_that_cannot_sample_gets_glms_answer_in_a_single_round_where_opted_in() -> None:
    fake = FakeGlm([Reply(content="from glm")])
    gateway = Gateway(
        GatewayConfig(servers={"asks": inproc(asking_server(), sampling="glm")}, model=MODEL),
        model_transport=httpx2.ASGITransport(fake.app),
    )
    async with gateway.running(), Client(build_server(gateway, gateway.agent), mode="2026-07-28") as client:
        assert text_of(await client.call_tool("asks__summarize", {"text": "x"})) == "glm-4.6 said: from glm"


async def test_an_unknown_request_state_is_refused_saying_to_start_again() -> None:
    gateway = Gateway(GatewayConfig(servers={"asks": inproc(asking_server())}, model=MODEL))
    async with gateway.running(), Client(build_server(gateway, gateway.agent), mode="2026-07-28") as client:
        with pytest.raises(MCPError) as refused:
            await client.session.call_tool("asks__greet", {}, input_responses={}, request_state="forged")
    assert refused.value.code == T.INVALID_PARAMS and "request_state" in refused.value.message


async def test_the_old_sse_transport_serves_the_catalog_and_relays_questions_behind_the_same_guards() -> None:
    from mcp.client.sse import sse_client

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        return T.ElicitResult(action="accept", content={"name": "Lin"})

    serve = ServeConfig(auth_tokens=(SecretStr("sse-token"),))
    app = build_app(Gateway(GatewayConfig(servers={"asks": inproc(asking_server())}, model=MODEL, gateway=serve)))
    async with serve_asgi(app) as url:
        async with httpx2.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/sse")).status_code == 401
            assert (await http.post("/messages/?session_id=x", json={})).status_code == 401
            bad_host = {"authorization": "Bearer sse-token", "host": "evil.example"}
            assert (await http.get("/sse", headers=bad_host)).status_code == 421
        transport = sse_client(f"{url}/sse", headers={"authorization": "Bearer sse-token"})
        async with Client(transport, mode="legacy", elicitation_callback=elicit) as editor:
            names = [tool.name for tool in (await editor.list_tools()).tools]
            assert "asks__greet" in names
            assert text_of(await editor.call_tool("asks__greet", {})) == "hello Lin"


async def test_titles_icons_annotations_output_schemas_structured_content_and_meta_pass_unchanged() -> None:
    tool = T.Tool(
        name="measure",
        title="Measure a thing",
        description="Measures.",
        input_schema={"type": "object", "properties": {"what": {"type": "string"}}},
        output_schema={"type": "object", "properties": {"size": {"type": "integer"}}, "required": ["size"]},
        icons=[T.Icon(src="https://example.test/ruler.png", mime_type="image/png")],
        annotations=T.ToolAnnotations(title="Ruler", read_only_hint=True, open_world_hint=False),
        _meta={"vendor.example/owner": "metrology"},
    )

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> T.ListToolsResult:
        return T.ListToolsResult(tools=[tool])

    async def call_tool(ctx: ServerRequestContext[Any], params: T.CallToolRequestParams) -> T.CallToolResult:
        return T.CallToolResult(
            content=[T.TextContent(text='{"size": 3}', annotations=T.Annotations(audience=["user"], priority=0.5))],
            structured_content={"size": 3},
            _meta={
                "vendor.example/trace": "t-1",
                "io.modelcontextprotocol/serverInfo": {"name": "x", "version": "1"},
                "progressToken": "upstream-7",  # the upstream request's own token, meaningless to the editor
            },
        )

    upstream = Server("fidelity", on_list_tools=list_tools, on_call_tool=call_tool)
    async with face({"m": inproc(upstream)}) as editor:
        listed = [tool for tool in (await editor.list_tools()).tools if tool.name == "m__measure"]
        result = await editor.call_tool("m__measure", {"what": "desk"})
    assert len(listed) == 1
    assert listed[0].model_dump(exclude={"name"}) == tool.model_dump(exclude={"name"})
    assert result.structured_content == {"size": 3}
    assert result.content == [
        T.TextContent(text='{"size": 3}', annotations=T.Annotations(audience=["user"], priority=0.5))
    ]
    assert result.meta == {"vendor.example/trace": "t-1"}  # the other hop's stamp and progress token are not passed on


def notes_server(deleted: list[str]) -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    def delete_note(title: str) -> str:
        """Delete a note (not annotated: destructive by the spec's defaults)."""
        deleted.append(title)
        return f"deleted {title}"

    return server


async def _agent_deleting(answer: str | None) -> tuple[list[str], str, list[str]]:
    """glm__agent asked to delete a note of a server set to ask; the editor answers `answer` (None: cannot)."""
    deleted: list[str] = []
    questions: list[str] = []
    fake = FakeGlm([Reply(tool_calls=[("notes__delete_note", '{"title": "groceries"}')]), Reply(content="done")])

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        questions.append(params.message)
        assert answer is not None
        return T.ElicitResult(action="accept" if answer == "accept" else "decline")

    editor: dict[str, Any] = {"elicitation_callback": elicit} if answer is not None else {}
    async with face({"notes": inproc(notes_server(deleted), destructive="ask")}, fake, **editor) as client:
        result = await client.call_tool("glm__agent", {"task": "delete my groceries note"})
    assert text_of(result) == "done"
    tool_message = next(m for m in fake.requests[1]["messages"] if m["role"] == "tool")
    return deleted, str(tool_message["content"]), questions


async def test_destructive_ask_runs_the_call_when_the_editor_accepts() -> None:
    deleted, told, questions = await _agent_deleting("accept")
    assert deleted == ["groceries"] and told == "deleted groceries"
    assert len(questions) == 1 and "notes__delete_note" in questions[0] and '"groceries"' in questions[0]


async def test_destructive_ask_tells_the_model_when_the_editor_declines_and_runs_nothing() -> None:
    deleted, told, _ = await _agent_deleting("decline")
    assert deleted == [] and "did not allow notes__delete_note" in told


async def test_destructive_ask_without_an_editor_that_can_confirm_refuses() -> None:
    deleted, told, _ = await _agent_deleting(None)
    assert deleted == [] and "only after the user confirms" in told


@asynccontextmanager
async def chat_stack(fake: FakeGlm) -> AsyncGenerator[openai.AsyncOpenAI, None]:
    async with serve_asgi(fake.app) as glm_url:
        model = ModelConfig(base_url=f"{glm_url}/api/paas/v4", api_key=SecretStr("k"), name="glm-4.6", max_retries=0)
        servers: dict[str, UpstreamConfig] = {"asks": inproc(asking_server(), destructive="allow")}
        async with serve_asgi(build_app(Gateway(GatewayConfig(servers=servers, model=model)))) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            try:
                yield client
            finally:
                await client.close()


def _greeting_glm() -> FakeGlm:
    def script(body: dict[str, Any]) -> Reply:
        told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        return Reply(content=f"GLM heard: {told[0]}") if told else Reply(tool_calls=[("asks__greet", "{}")])

    return FakeGlm(script)


async def test_a_v1_run_pauses_on_a_servers_question_as_glm_elicit_and_goes_on_with_the_clients_answer() -> None:
    fake = _greeting_glm()
    user: list[Any] = [{"role": "user", "content": "greet me"}]
    opt_in = {"glm_mcp": {"elicitation": "client"}}
    async with chat_stack(fake) as client:
        paused = await client.chat.completions.create(model="glm-4.6", messages=user, extra_body=opt_in)
        choice = paused.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
        call = choice.message.tool_calls[0]
        assert call.type == "function" and call.function.name == "glm__elicit"
        question = json.loads(call.function.arguments)
        assert question["message"] == "Your name?" and "name" in question["requestedSchema"]["properties"]
        answer = {"action": "accept", "content": {"name": "Ada"}}
        follow_up: list[Any] = [
            *user,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(answer)},
        ]
        done = await client.chat.completions.create(model="glm-4.6", messages=follow_up, extra_body=opt_in)
    assert done.choices[0].message.content == "GLM heard: hello Ada"
    assert len(fake.requests) == 2  # the same run went on: GLM was not asked again from the start


async def test_a_streamed_v1_run_pauses_and_resumes_too() -> None:
    fake = _greeting_glm()
    user: list[Any] = [{"role": "user", "content": "greet me"}]
    opt_in = {"glm_mcp": {"elicitation": "client"}}
    async with chat_stack(fake) as client:
        stream = await client.chat.completions.create(model="glm-4.6", messages=user, extra_body=opt_in, stream=True)
        chunks = [chunk async for chunk in stream]
        calls = [call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or [])]
        assert [(call.function.name if call.function else None) for call in calls] == ["glm__elicit"]
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
            "tool_calls"
        ]
        call_id = calls[0].id
        assert call_id is not None
        follow_up: list[Any] = [
            *user,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": "glm__elicit", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": '{"action": "decline"}'},
        ]
        resumed = await client.chat.completions.create(
            model="glm-4.6", messages=follow_up, extra_body=opt_in, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in resumed if c.choices])
    assert text == "GLM heard: no name (decline)"


async def test_without_opting_in_a_v1_clients_run_has_the_question_declined() -> None:
    fake = _greeting_glm()
    async with chat_stack(fake) as client:
        done = await client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "greet me"}])
    assert done.choices[0].message.content == "GLM heard: no name (decline)"


async def test_an_answer_to_an_unknown_paused_run_is_a_400() -> None:
    async with chat_stack(_greeting_glm()) as client:
        messages: list[Any] = [
            {"role": "user", "content": "greet me"},
            {"role": "tool", "tool_call_id": "glm__elicit-forged.q1", "content": '{"action": "accept"}'},
        ]
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(model="glm-4.6", messages=messages)
    assert "unknown or expired" in str(refused.value)


async def test_a_call_paused_on_a_2026_editor_that_never_answers_is_cancelled_upstream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from glm_mcp.relay import rounds

    monkeypatch.setattr(rounds, "PAUSE_SECONDS", 0.2)
    ended = anyio.Event()
    server = MCPServer("waits")

    @server.tool()
    async def ask(ctx: Context) -> str:
        """Ask the user, and note when the call ends."""
        try:
            answer = await ctx.elicit("Your name?", Answer)
            return answer.action
        finally:
            ended.set()

    gateway = Gateway(GatewayConfig(servers={"waits": inproc(server)}, model=MODEL))

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        return T.ElicitResult(action="accept", content={"name": "late"})

    async with (
        gateway.running(),
        Client(build_server(gateway), mode="2026-07-28", elicitation_callback=elicit) as client,
    ):
        paused = await client.session.call_tool("waits__ask", {}, allow_input_required=True)
        assert isinstance(paused, T.InputRequiredResult) and paused.request_state is not None
        with anyio.fail_after(5):
            await ended.wait()  # nobody came back: the upstream call was cancelled
        with pytest.raises(MCPError) as expired:
            await client.session.call_tool("waits__ask", {}, input_responses={}, request_state=paused.request_state)
    assert "unknown or expired" in expired.value.message


@pytest.mark.slow  # lets real time pass beyond a pause
async def test_a_2026_editors_long_call_is_not_taken_for_a_paused_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from glm_mcp.relay import rounds

    monkeypatch.setattr(rounds, "PAUSE_SECONDS", 0.1)
    server = MCPServer("slow")

    @server.tool()
    async def work() -> str:
        """Work for longer than a paused call may wait."""
        await anyio.sleep(0.5)  # the work itself, several pauses long
        return "worked"

    gateway = Gateway(GatewayConfig(servers={"slow": inproc(server)}, model=MODEL))
    async with gateway.running(), Client(build_server(gateway), mode="2026-07-28") as client:
        result = await client.call_tool("slow__work", {})
    assert result.structured_content == {"result": "worked"}


async def test_a_2026_editor_listening_for_a_resource_hears_it_change_and_the_server_is_subscribed_meanwhile() -> None:
    from mcp.shared.subscriptions import ResourceUpdated

    changed = anyio.Event()
    subscribed: list[str] = []
    gateway = Gateway(GatewayConfig(servers={"notes": inproc(subscribable_server(changed, subscribed))}, model=MODEL))
    async with gateway.running(), Client(build_server(gateway), mode="2026-07-28") as client:
        async with client.listen(resource_subscriptions=["notes://today"]) as events:
            assert subscribed == ["notes://today"]
            await client.call_tool("notes__touch", {})
            with anyio.fail_after(5):
                event = await anext(aiter(events))
            assert event == ResourceUpdated("notes://today")
        with anyio.fail_after(5):
            while subscribed:  # the listen stream ended: the gateway unsubscribes upstream
                await anyio.wait_all_tasks_blocked()


async def test_roots_asked_outside_any_call_come_from_a_connected_editor() -> None:
    async def roots(context: ClientRequestContext) -> T.ListRootsResult:
        return T.ListRootsResult(roots=[T.Root.model_validate({"uri": "file:///work/editor", "name": "editor"})])

    gateway = Gateway(GatewayConfig(servers={"asks": inproc(asking_server())}, model=MODEL))
    async with gateway.running(), Client(build_server(gateway), mode="legacy", list_roots_callback=roots) as editor:
        await editor.list_tools()  # the face now knows this editor
        answer = gateway.answers.roots
        assert answer is not None
        listed = await answer()
    assert isinstance(listed, T.ListRootsResult)
    assert [str(root.uri) for root in listed.roots] == ["file:///work/editor"]


def withdrawing_server(editor_asked: anyio.Event, withdrawn: anyio.Event) -> MCPServer:
    """A server whose tool asks its caller to sample, then withdraws the question once the editor has it."""
    server = MCPServer("withdraws")

    @server.tool()
    async def think(ctx: Context) -> str:
        """Ask for a sample, then change its mind."""
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                await ctx.session.create_message(  # pyright: ignore[reportDeprecated]  # 2025-era sampling
                    [T.SamplingMessage(role="user", content=T.TextContent(text="think"))],
                    max_tokens=5,
                    related_request_id=ctx.request_id,
                )

            tg.start_soon(ask)
            await editor_asked.wait()
            tg.cancel_scope.cancel()  # the SDK tells the gateway: notifications/cancelled
        withdrawn.set()
        return "withdrawn"

    return server


def _waiting_editor(editor_asked: anyio.Event, cancelled: anyio.Event) -> Any:
    """A sampling callback that never answers by itself and notes being cancelled."""

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        editor_asked.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    return sample


async def test_a_sampling_request_the_server_withdraws_is_cancelled_at_the_editor() -> None:
    editor_asked, withdrawn, cancelled = anyio.Event(), anyio.Event(), anyio.Event()
    servers: dict[str, UpstreamConfig] = {"w": inproc(withdrawing_server(editor_asked, withdrawn))}
    async with face(servers, sampling_callback=_waiting_editor(editor_asked, cancelled)) as editor:
        assert text_of(await editor.call_tool("w__think", {})) == "withdrawn"
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await cancelled.wait()


async def test_over_http_a_withdrawn_sampling_request_is_cancelled_on_the_editors_request_stream() -> None:
    editor_asked, withdrawn, cancelled = anyio.Event(), anyio.Event(), anyio.Event()
    gateway = Gateway(GatewayConfig(servers={"w": inproc(withdrawing_server(editor_asked, withdrawn))}, model=MODEL))
    sample = _waiting_editor(editor_asked, cancelled)
    async with (
        serve_asgi(build_app(gateway)) as url,
        Client(f"{url}/mcp", mode="legacy", sampling_callback=sample) as editor,
    ):
        assert text_of(await editor.call_tool("w__think", {})) == "withdrawn"
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await cancelled.wait()


async def test_a_2026_editors_answer_to_a_withdrawn_question_is_ignored_and_its_call_ends_as_the_server_says() -> None:
    editor_asked, withdrawn = anyio.Event(), anyio.Event()

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        editor_asked.set()
        await withdrawn.wait()  # answers only once the server no longer wants it
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="late"), model="editor-llm")

    gateway = Gateway(GatewayConfig(servers={"w": inproc(withdrawing_server(editor_asked, withdrawn))}, model=MODEL))
    modern = Client(build_server(gateway, gateway.agent), mode="2026-07-28", sampling_callback=sample)
    async with gateway.running(), modern as client:
        result = await client.call_tool("w__think", {})
    assert not result.is_error and text_of(result) == "withdrawn"


def progress_server(heard: list[tuple[float, float | None, str | None]], relayed: anyio.Event) -> MCPServer:
    """A server whose tool asks for a sample and wants progress on it."""
    server = MCPServer("slow")

    @server.tool()
    async def draft(ctx: Context) -> str:
        """Ask for a sample with a progress token."""

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            heard.append((progress, total, message))
            relayed.set()

        params = T.CreateMessageRequestParams(
            messages=[T.SamplingMessage(role="user", content=T.TextContent(text="draft"))], max_tokens=5
        )
        result = await ctx.session.send_request(
            T.CreateMessageRequest(params=params),
            T.CreateMessageResult,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
            progress_callback=on_progress,
        )
        return f"{result.model} drafted"

    return server


async def test_progress_the_editor_reports_on_a_servers_request_reaches_that_server_under_its_own_token() -> None:
    heard: list[tuple[float, float | None, str | None]] = []
    relayed = anyio.Event()
    tokens: list[object] = []

    async def sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
        token = (context.meta or {}).get("progress_token")
        tokens.append(token)
        assert token is not None
        await context.session.send_progress_notification(token, 0.5, 1.0, "half way")  # pyright: ignore[reportDeprecated]  # 2025-era editors report progress
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await relayed.wait()  # the server heard it before the answer
        return T.CreateMessageResult(role="assistant", content=T.TextContent(text="ok"), model="editor-llm")

    async with face({"slow": inproc(progress_server(heard, relayed))}, sampling_callback=sample) as editor:
        assert text_of(await editor.call_tool("slow__draft", {})) == "editor-llm drafted"
    assert heard == [(0.5, 1.0, "half way")]


async def test_a_question_the_server_withdraws_is_not_asked_again_of_a_2026_editor() -> None:
    rounds = Rounds()
    caps = T.ClientCapabilities(sampling=T.SamplingCapability(), elicitation=T.ElicitationCapability())
    withdraw = anyio.Event()
    sample = T.CreateMessageRequestParams(messages=[], max_tokens=5)

    async def call(asker: Asker) -> str:
        assert asker.sample is not None and asker.elicit is not None
        ask_sample = asker.sample

        async def ask() -> None:
            await ask_sample(sample)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await withdraw.wait()
            tg.cancel_scope.cancel()
        answer = await asker.elicit(T.ElicitRequestFormParams(message="Name?", requested_schema={"type": "object"}))
        return f"elicited: {answer}"

    async with rounds.running():
        first = await rounds.run(T.InputResponseRequestParams(), caps, call)
        assert isinstance(first, T.InputRequiredResult) and first.request_state is not None
        assert [request.method for request in (first.input_requests or {}).values()] == ["sampling/createMessage"]
        withdraw.set()
        await anyio.wait_all_tasks_blocked()  # the call withdrew its question and asked the next one
        again = T.InputResponseRequestParams(request_state=first.request_state)
        second = await rounds.run(again, caps, call)
        assert isinstance(second, T.InputRequiredResult)
        assert [request.method for request in (second.input_requests or {}).values()] == ["elicitation/create"]
        # A late answer to the withdrawn question is ignored; the call goes on with the answer it waits for.
        late = T.CreateMessageResult(role="assistant", content=T.TextContent(text="late"), model="m")
        answers: dict[str, T.InputResponse] = {"q1": late}
        answers |= {key: T.ElicitResult(action="decline") for key in second.input_requests or {}}
        last = T.InputResponseRequestParams(request_state=second.request_state, input_responses=answers)
        done = await rounds.run(last, caps, call)
    assert isinstance(done, str) and done.startswith("elicited: ") and "decline" in done


def _noting_sampler(ended: anyio.Event, heard: list[str]) -> MCPServer:
    """A server whose tool asks its caller to sample and notes how the question ended."""
    server = MCPServer("asks")

    @server.tool()
    async def summarize(ctx: Context) -> str:
        """Ask the caller's model."""
        try:
            result = await ctx.session.create_message(  # pyright: ignore[reportDeprecated]  # 2025-era sampling
                [T.SamplingMessage(role="user", content=T.TextContent(text="x"))],
                max_tokens=5,
                related_request_id=ctx.request_id,
            )
            heard.append(f"answer: {result.model}")
        except MCPError as exc:
            heard.append(f"error: {exc.message}")
        finally:
            ended.set()
        return heard[-1] if heard else "?"

    return server


async def _ask_over_raw_http(
    url: str, answer: Callable[[httpx2.AsyncClient, dict[str, str], int], Awaitable[None]]
) -> None:
    """Open a 2025 session that declares sampling, call `asks__summarize`, and on the server's question run
    `answer(http, session headers, question id)`; the POST's stream is dropped when `answer` returns."""
    call: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "asks__summarize", "arguments": {}},
    }
    async with httpx2.AsyncClient(base_url=url, headers=RAW_HEADERS, timeout=30) as http:
        session = await _raw_session(http, {"sampling": {}})
        async with http.stream("POST", "/mcp", json=call, headers=session) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:") and "sampling/createMessage" in line:
                    await answer(http, session, json.loads(line[5:])["id"])
                    return


async def test_an_editor_that_drops_the_stream_a_question_waits_on_ends_that_question_at_once() -> None:
    ended, heard = anyio.Event(), list[str]()
    config = GatewayConfig(servers={"asks": inproc(_noting_sampler(ended, heard), timeout=600)}, model=MODEL)

    async def walk_away(http: httpx2.AsyncClient, session: dict[str, str], question: int) -> None:
        return None

    async with serve_asgi(build_app(Gateway(config))) as url:
        await _ask_over_raw_http(url, walk_away)
        with anyio.fail_after(20):  # hang guard: without the fix the question waits out the 600 s timeout
            await ended.wait()
    assert len(heard) == 1 and heard[0].startswith("error: ") and "closed" in heard[0], heard


async def test_an_editors_malformed_answer_is_refused_in_one_line_naming_what_was_wrong() -> None:
    ended, heard = anyio.Event(), list[str]()
    config = GatewayConfig(servers={"asks": inproc(_noting_sampler(ended, heard))}, model=MODEL)

    async def answer_badly(http: httpx2.AsyncClient, session: dict[str, str], question: int) -> None:
        reply = {"jsonrpc": "2.0", "id": question, "result": {"model": "m"}}
        await http.post("/mcp", json=reply, headers=session)
        with anyio.fail_after(20):  # hang guard, not a timing check: 20 s covers a busy 2-core machine
            await ended.wait()

    async with serve_asgi(build_app(Gateway(config))) as url:
        await _ask_over_raw_http(url, answer_badly)
    assert len(heard) == 1 and heard[0].startswith("error: "), heard
    assert "editor's answer to sampling/createMessage" in heard[0] and "role" in heard[0], heard
    assert "\n" not in heard[0] and "pydantic" not in heard[0], heard


async def test_roots_asked_of_an_editor_with_no_standing_stream_end_without_holding_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from glm_mcp.relay import editor

    monkeypatch.setattr(editor, "ROOTS_WAIT_SECONDS", 0.2)
    gateway = Gateway(GatewayConfig(servers={"asks": inproc(asking_server())}, model=MODEL))
    async with (
        serve_asgi(build_app(gateway)) as url,
        httpx2.AsyncClient(base_url=url, headers=RAW_HEADERS, timeout=30) as http,
    ):
        session = await _raw_session(http, {"roots": {"listChanged": True}})
        listed = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=session)
        assert listed.status_code == 200  # the face knows this editor now; it never opened its GET stream
        answer = gateway.answers.roots
        assert answer is not None
        with anyio.fail_after(20):  # hang guard: without the bound nothing ever answers
            roots = await answer()
    assert isinstance(roots, T.ListRootsResult) and roots.roots == []


class Profile(BaseModel):
    name: str = "Ada"
    age: int = 36
    member: bool = True


async def test_a_form_answer_gets_the_requested_schemas_defaults_for_the_fields_the_editor_left_out() -> None:
    server = MCPServer("forms")
    got: list[dict[str, Any]] = []

    @server.tool()
    async def sign_up(ctx: Context) -> str:
        """Ask for a profile, whose fields have defaults."""
        answer = await ctx.session.elicit_form(
            "Your profile?", Profile.model_json_schema(), related_request_id=ctx.request_id
        )
        got.append(dict(answer.content or {}))
        return answer.action

    async def elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
        return T.ElicitResult(action="accept", content={"age": 40})  # the person changed one field only

    async with face({"forms": inproc(server)}, elicitation_callback=elicit) as editor:
        assert text_of(await editor.call_tool("forms__sign_up", {})) == "accept"
    assert got == [{"age": 40, "name": "Ada", "member": True}]
