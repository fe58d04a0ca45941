"""Test helpers: config builders, process inspection, and a real `glm-mcp` subprocess."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import anyio
import httpx2
import mcp.types as T
import openai
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, SecretStr

from glm_mcp.config import (
    GatewayConfig,
    InProcessUpstreamConfig,
    ModelConfig,
    ServeConfig,
    StdioUpstreamConfig,
    UpstreamConfig,
)
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from glm_mcp.http.connection_limits import serve_protocol
from glm_mcp.tools.schema import KEPT_KEYWORDS
from tests.fakes.fake_glm import FakeGlm, Reply

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SERVERS = Path(__file__).parent / "fixture_servers"


def inproc(server: Any, **options: Any) -> InProcessUpstreamConfig:
    """An upstream connected in memory to `server`."""
    return InProcessUpstreamConfig(server=server, **options)


def python_server(script: str, *args: str, **options: Any) -> StdioUpstreamConfig:
    """A stdio upstream running one of `tests/fixture_servers/` with this interpreter."""
    return StdioUpstreamConfig(command=sys.executable, args=(str(FIXTURE_SERVERS / script), *args), **options)


def children_of(pid: int) -> set[int]:
    """Every live descendant process of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Whether `pid` is running (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class RunningGateway:
    process: Process
    url: str
    stderr_lines: list[str]
    waiting: dict[str, anyio.Event]
    token: str | None = None
    """The bearer token `serve` generated (None when the config names its own or turns auth off)."""

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header a client of this gateway sends."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @asynccontextmanager
    async def mcp_client(
        self, mode: str = "legacy", message_handler: Any = None, **callbacks: Any
    ) -> AsyncGenerator[Client, None]:
        """An MCP SDK client on `/mcp`, with the gateway's token; `callbacks` are the SDK client's
        (`sampling_callback`, `elicitation_callback`, `list_roots_callback`)."""
        async with (
            httpx2.AsyncClient(headers=self.headers, timeout=httpx2.Timeout(30, read=300)) as http,
            Client(
                streamable_http_client(f"{self.url}/mcp", http_client=http),
                mode=mode,
                message_handler=message_handler,
                **callbacks,
            ) as client,
        ):
            yield client

    async def stderr_line(self, needle: str) -> None:
        """Wait until the gateway writes a stderr line containing `needle`."""
        if not any(needle in line for line in self.stderr_lines):
            await self.waiting.setdefault(needle, anyio.Event()).wait()


async def _collect(
    stream: Any, lines: list[str], found: anyio.Event, port: list[int], waiting: dict[str, anyio.Event]
) -> None:
    async for chunk in TextReceiveStream(stream):
        for line in chunk.splitlines():
            lines.append(line)
            for needle, event in waiting.items():
                if needle in line:
                    event.set()
            match = re.search(r"serving on http://[^:]+:(\d+)", line)
            if match and not found.is_set():
                port.append(int(match.group(1)))
                found.set()


@asynccontextmanager
async def glm_mcp_serve(
    config: dict[str, Any] | None, tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> AsyncGenerator[RunningGateway, None]:
    """Run `glm-mcp serve --port 0` as a real process; yields once it listens; SIGTERMs it on exit."""
    command = [sys.executable, "-m", "glm_mcp", "serve", "--port", "0", *extra]
    if config is not None:
        path = tmp_path / "glm-mcp.json"
        path.write_text(json.dumps(config))
        command += ["--config", str(path)]
    process_env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), **(env or {})}
    process = await anyio.open_process(command, cwd=ROOT, env=process_env)
    lines: list[str] = []
    found = anyio.Event()
    port: list[int] = []
    waiting: dict[str, anyio.Event] = {}
    async with anyio.create_task_group() as tg:
        assert process.stderr is not None
        tg.start_soon(_collect, process.stderr, lines, found, port, waiting)
        try:
            # Generous: on a busy 2-core machine (CI runs suites side by side) Python, the SDK and each server can
            # take tens of seconds to start; a real hang still fails here.
            with anyio.fail_after(90):  # see above
                await found.wait()
            token_file = Path(process_env["XDG_STATE_HOME"]) / "glm-mcp" / "token"
            token = token_file.read_text().strip() if token_file.exists() else None
            yield RunningGateway(process, f"http://127.0.0.1:{port[0]}", lines, waiting, token)
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.fail_after(20):  # hang guard, not a timing check: 20 s covers a busy 2-core machine
                await process.wait()
            tg.cancel_scope.cancel()


async def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """Run `python -m glm_mcp ARGS` to completion: (exit code, stdout, stderr)."""
    result = await anyio.run_process(
        [sys.executable, "-m", "glm_mcp", *args], cwd=cwd, env={**os.environ, **(env or {})}, check=False, input=stdin
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def write_config(tmp_path: Path, servers: dict[str, Any], **sections: Any) -> Path:
    """Write a config file with `mcpServers` and optional sections; returns its path."""
    path = tmp_path / "glm-mcp.json"
    path.write_text(json.dumps({"mcpServers": servers, **sections}))
    return path


def argv(*parts: str | Path) -> Sequence[str]:
    return [str(part) for part in parts]


@asynccontextmanager
async def serve_asgi(
    app: Any,
    port: int = 0,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    protocol: Any = "auto",
) -> AsyncGenerator[str, None]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (`port`, by default a free one) for the duration; yields its URL.
    With `ssl_certfile` and `ssl_keyfile`, over HTTPS; with `protocol`, through that HTTP protocol class (`serve`'s
    own is `connection_limits.serve_protocol`).

    The socket listens before uvicorn starts, so a client may connect at once: it waits in the backlog.
    """
    import uvicorn

    from glm_mcp.http.server import HostServer, listening_socket

    sock = listening_socket("127.0.0.1", port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="auto",
        timeout_graceful_shutdown=1,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        http=protocol,
    )
    server = HostServer(config)
    stopped = anyio.Event()

    async def serve() -> None:
        try:
            await server.serve([sock])
        finally:
            stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        try:
            yield f"{'https' if ssl_certfile else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.stop()
            with anyio.move_on_after(10):  # a bound, not a timing check: 10 s covers a busy 2-core machine
                await stopped.wait()
            tg.cancel_scope.cancel()
            sock.close()


async def open_gate(gate: Path) -> None:
    """Let a `fixture_servers/gated_server.py` waiting at the named pipe `gate` go on (opening blocks until it reads)."""
    (await anyio.to_thread.run_sync(open, gate, "w")).close()


async def wait_gone(pid: int) -> None:
    """Wait until `pid` has exited (a pidfd becomes readable then); works for processes that are not our children."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if alive(pid):
            await anyio.wait_readable(fd)
    finally:
        os.close(fd)


def growing_server() -> MCPServer:
    """An in-process server whose `grow` tool adds a tool `fresh` and announces `tools/list_changed`."""
    server = MCPServer("dyn")

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool and announce it."""
        server.add_tool(lambda: "new", name="fresh", description="A new tool.")
        await ctx.session.send_tool_list_changed()
        return "grown"

    return server


async def call_changing_the_catalog(gateway: Gateway, name: str, arguments: dict[str, Any]) -> T.CallToolResult:
    """Call a tool that changes its server's listing; returns once the gateway has rebuilt its catalog."""
    changed = anyio.Event()

    async def heard(old: object, new: object) -> None:
        changed.set()

    unregister = gateway.on_catalog_change(heard)
    try:
        result = await gateway.call_tool(name, arguments)
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await changed.wait()
    finally:
        unregister()
    return result


class ToolListHeard:
    """An editor's message handler that hears `tools/list_changed`, and waits for the tool list it wants."""

    def __init__(self) -> None:
        self.changed = anyio.Event()

    async def __call__(self, message: object) -> None:
        if isinstance(message, T.ToolListChangedNotification):
            self.changed.set()

    async def tools_until(
        self, client: Client, predicate: Callable[[list[str]], bool], seconds: float = 10
    ) -> list[str]:
        with anyio.fail_after(seconds):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            while True:
                self.changed = anyio.Event()  # before the listing: a change heard during it is not missed
                names = [tool.name for tool in (await client.list_tools()).tools]
                if predicate(names):
                    return names
                await self.changed.wait()


@dataclass
class UpdatesHeard:
    """An SDK client's message handler that notes each `notifications/resources/updated`."""

    uris: list[str] = field(default_factory=list[str])
    arrived: anyio.Event = field(default_factory=anyio.Event)

    async def __call__(self, message: object) -> None:
        if isinstance(message, T.ResourceUpdatedNotification):
            self.uris.append(str(message.params.uri))
            self.arrived.set()


def text_of(result: T.CallToolResult) -> str:
    """The text of a tool result's first content block (which must be text)."""
    block = result.content[0]
    assert isinstance(block, T.TextContent)
    return block.text


def memo_server() -> MCPServer:
    """A server with one read-only tool, `recall`, that knows when the launch is."""
    server = MCPServer("memo")

    @server.tool(annotations=T.ToolAnnotations(read_only_hint=True))
    def recall(topic: str) -> str:
        """Recall what is known about a topic."""
        return f"{topic}: the launch is on Friday"

    return server


def glm_recalling(body: dict[str, Any]) -> Reply:
    """A scripted GLM (for `FakeGlm`) that calls `memo__recall`, then answers with what it was told."""
    told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if told:
        return Reply(content=f"The note says: {told[-1]}", reasoning="The tool answered.")
    return Reply(tool_calls=[("memo__recall", '{"topic": "launch"}')], reasoning="I should look it up.")


class Name(BaseModel):
    name: str


def greeting_server() -> MCPServer:
    """A server whose one tool, `greet`, asks the user's name (form elicitation) before it greets."""
    server = MCPServer("asks")

    @server.tool(annotations=T.ToolAnnotations(read_only_hint=True))
    async def greet(ctx: Context, greeting: str = "hello") -> str:
        """Ask the user's name, then greet."""
        answer = await ctx.elicit("Your name?", Name)
        return f"{greeting} {answer.data.name}" if answer.action == "accept" and answer.data else answer.action

    return server


def glm_greeting(body: dict[str, Any]) -> Reply:
    """A scripted GLM that calls `asks__greet`, then says what it heard."""
    told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    return Reply(content=f"GLM heard: {told[0]}") if told else Reply(tool_calls=[("asks__greet", "{}")])


WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
"""The parameters of the client tool `get_weather` the face tests send."""


def glm_asking_weather(body: dict[str, Any]) -> Reply:
    """A scripted GLM that calls the client's `get_weather` for Oslo, then says what the client answered."""
    told = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if told:
        return Reply(content=f"It is {told[-1]} outside.")
    return Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')])


@asynccontextmanager
async def gateway_before_glm(
    glm_app: Any, *tokens: str, servers: dict[str, Any] | None = None
) -> AsyncGenerator[str, None]:
    """The gateway's HTTP app on 127.0.0.1 in front of an emulated GLM (`glm_app`) and `servers` (by default
    `memo`), accepting `tokens`; yields its URL."""
    async with serve_asgi(glm_app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"), max_retries=0)
        serve = ServeConfig(auth_tokens=tuple(SecretStr(token) for token in tokens))
        upstreams: dict[str, Any] = servers if servers is not None else {"memo": inproc(memo_server())}
        config = GatewayConfig(servers=upstreams, model=model, gateway=serve)
        async with serve_asgi(build_app(Gateway(config))) as url:
            yield url


def weather_server(started: list[str] | None = None, gate: anyio.Event | None = None) -> MCPServer:
    """A read-only server: `forecast` (noting each city in `started`, waiting for `gate`) and `fail`."""
    server = MCPServer("weather")

    @server.tool(annotations=T.ToolAnnotations(read_only_hint=True))
    async def forecast(city: str, days: int = 1) -> str:
        """Forecast for a city."""
        if started is not None:
            started.append(city)
        if gate is not None:
            await gate.wait()
        return f"{city}: sunny for {days} day(s)"

    @server.tool(annotations=T.ToolAnnotations(read_only_hint=True))
    def fail(reason: str) -> str:
        """Always fails."""
        raise ToolError(f"cannot: {reason}")

    return server


def memo_adding_server() -> MCPServer:
    """A server named memo whose `add` remembers texts (not destructive) and `count` says how many."""
    server = MCPServer("memo")
    memos: list[str] = []

    @server.tool(annotations=T.ToolAnnotations(destructive_hint=False))
    def add(text: str) -> str:
        """Remember a text."""
        memos.append(text)
        return f"memo {len(memos)} saved"

    @server.tool(annotations=T.ToolAnnotations(read_only_hint=True))
    def count() -> int:
        """How many memos there are."""
        return len(memos)

    return server


@dataclass
class Stack:
    """The GLM emulator, a gateway in front of it (both over real HTTP), and an `openai` client of the gateway."""

    fake: FakeGlm
    url: str
    client: openai.AsyncOpenAI


@asynccontextmanager
async def stack(
    fake: FakeGlm,
    servers: dict[str, MCPServer] | None = None,
    destructive: Literal["allow", "deny"] = "deny",
    host: Literal["serve", "uvicorn"] = "serve",
) -> AsyncGenerator[Stack, None]:
    """`stack` with `servers` (by default weather and memo) behind the gateway, hosted as `serve` hosts it (its own
    HTTP protocol) or, with `host="uvicorn"`, as any ASGI server would (uvicorn's own)."""
    servers = servers if servers is not None else {"weather": weather_server(), "memo": memo_adding_server()}
    async with serve_asgi(fake.app) as glm_url:
        model = ModelConfig(
            base_url=f"{glm_url}/api/paas/v4", api_key=SecretStr("zai-key"), name="glm-4.6", max_retries=1
        )
        upstreams: dict[str, UpstreamConfig] = {
            name: inproc(server, destructive=destructive) for name, server in servers.items()
        }
        config = GatewayConfig(servers=upstreams, model=model)
        protocol = serve_protocol(config.gateway) if host == "serve" else "auto"
        async with serve_asgi(build_app(Gateway(config)), protocol=protocol) as url:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            try:
                yield Stack(fake, url, client)
            finally:
                await client.close()


@asynccontextmanager
async def asgi_lifespan(app: Any) -> AsyncGenerator[None, None]:
    """Drive an ASGI app's lifespan (ASGITransport sends none)."""
    send_in, receive_in = anyio.create_memory_object_stream[dict[str, Any]](4)
    send_out, receive_out = anyio.create_memory_object_stream[dict[str, Any]](4)
    async with send_in, receive_in, send_out, receive_out, anyio.create_task_group() as tg:
        tg.start_soon(
            app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive_in.receive, send_out.send
        )
        await send_in.send({"type": "lifespan.startup"})
        assert (await receive_out.receive())["type"] == "lifespan.startup.complete"
        try:
            yield
        finally:
            await send_in.send({"type": "lifespan.shutdown"})
            await receive_out.receive()


GLM_TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def assert_glm_acceptable(schema: Any, top: bool = True) -> None:
    """What GLM takes: known keywords only, a known type (or anyOf) on every node, an object at the top."""
    assert isinstance(schema, dict)
    schema = cast(dict[str, Any], schema)
    assert set(schema) <= KEPT_KEYWORDS, set(schema) - KEPT_KEYWORDS
    if top:
        assert schema["type"] == "object" and isinstance(schema["properties"], dict)
    assert schema.get("type") in GLM_TYPES or "anyOf" in schema
    for sub in schema.get("properties", {}).values():
        assert_glm_acceptable(sub, top=False)
    if "items" in schema:
        assert_glm_acceptable(schema["items"], top=False)
    for option in schema.get("anyOf", []):
        assert_glm_acceptable(option, top=False)
    for name in schema.get("required", []):
        assert name in schema["properties"]


class LogWatcher(logging.Handler):
    """Keeps every record a logger emits; `seen` is set by the first one that contains `needle`."""

    def __init__(self, needle: str) -> None:
        super().__init__(logging.DEBUG)
        self.needle = needle
        self.seen = anyio.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if self.needle in record.getMessage():
            self.seen.set()


@contextmanager
def logged(name: str, needle: str) -> Generator[LogWatcher, None, None]:
    """Watch the logger `name` (at info and above, its children included) for a line containing `needle`."""
    watcher = LogWatcher(needle)
    watched = logging.getLogger(name)
    level = watched.level
    watched.addHandler(watcher)
    watched.setLevel(logging.INFO)
    try:
        yield watcher
    finally:
        watched.removeHandler(watcher)
        watched.setLevel(level)
