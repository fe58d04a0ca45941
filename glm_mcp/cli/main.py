"""The `glm-mcp` command: argument parsing, logging set-up, and exit codes (0 ok, 1 runtime failure, 2 usage).

The only module that reads argv and the environment besides `config.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import ipaddress
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import mcp.types as T
import watchfiles
from pydantic import SecretStr

from glm_mcp.agent.results import AgentEvent
from glm_mcp.catalog import is_destructive, loop_policy
from glm_mcp.cli.doctor import FAIL, diagnose, render
from glm_mcp.cli.install import (
    CLIENTS,
    Plan,
    apply,
    claude_settings_path,
    config_path,
    launch_command,
    plan,
    plan_http,
    plan_model_env,
    user_config_path,
    user_config_text,
)
from glm_mcp.cli.terminal import as_json, shown
from glm_mcp.cli.token import load_or_create, token_path
from glm_mcp.config import GatewayConfig, find_config_path, load_config
from glm_mcp.errors import ConfigError, ModelError
from glm_mcp.gateway.core import Gateway
from glm_mcp.redact import MASK, ScrubbingFormatter, register, scrub

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_T = TypeVar("_T")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exits would print usage to stdout for some errors
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glm-mcp", description="A gateway between MCP servers and GLM function calling.")
    parser.add_argument("--log-level", default=None, help="debug, info, warning (default) or error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--config", help="config file (default: $GLM_MCP_CONFIG, ./glm-mcp.json, built-in)")
        sub.add_argument("--log-level", default=argparse.SUPPRESS, help="debug, info, warning (default) or error")
        return sub

    serve = with_config(commands.add_parser("serve", help="run the HTTP service (/mcp, /healthz, /readyz)"))
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8765; 0 picks a free one)")
    with_config(commands.add_parser("stdio", help="serve the merged catalog as an MCP server on stdin/stdout"))
    tools = with_config(commands.add_parser("tools", help="list every exposed tool and each server's state"))
    tools.add_argument("--json", action="store_true", help="print JSON")
    call = with_config(commands.add_parser("call", help="call one exposed tool and print its result"))
    call.add_argument("name", help="the exposed tool name, for example clock__now")
    call.add_argument("arguments", nargs="?", default="{}", help="the arguments as a JSON object")
    call.add_argument("--json", action="store_true", help="print the whole result as JSON (binary data as base64)")
    call.add_argument("--out", metavar="DIR", help="write images, audio and binary resources to files in DIR")
    chat = with_config(commands.add_parser("chat", help="one agent run: GLM with the gateway's tools"))
    chat.add_argument("prompt", help="what to ask; - reads it from stdin")
    chat.add_argument("--system", help="a system prompt")
    chat.add_argument("--server", action="append", dest="servers", help="only offer this server's tools (repeatable)")
    install = with_config(commands.add_parser("install", help="add glm-mcp to an editor's MCP config"))
    install.add_argument("client", choices=CLIENTS, help="the editor")
    install.add_argument("--dry-run", action="store_true", help="show the new config file instead of writing it")
    install.add_argument(
        "--http",
        nargs="?",
        const="http://127.0.0.1:8765/mcp",
        metavar="URL",
        help="point the editor at a running `glm-mcp serve` (default http://127.0.0.1:8765/mcp), with its token",
    )
    install.add_argument(
        "--model",
        nargs="?",
        const="",
        metavar="NAME",
        help="claude-code only: also point Claude Code's model at the gateway (ANTHROPIC_BASE_URL, the token, "
        "ANTHROPIC_MODEL: NAME, by default the config's model) in its settings.json",
    )
    install.add_argument(
        "--files-root",
        help="the folder the bundled files server serves, when install writes a new config (default: a folder "
        "of its own, created)",
    )
    install.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="an environment variable the editor should pass (editors do not pass your shell's), e.g. ZAI_API_KEY",
    )
    with_config(commands.add_parser("token", help="print the bearer token `glm-mcp serve` requires"))
    restart = with_config(commands.add_parser("restart", help="restart one server of a running `glm-mcp serve`"))
    restart.add_argument("server", help="the configured server name")
    restart.add_argument("--url", help="the running gateway (default: http://HOST:PORT of the config)")
    doctor = with_config(commands.add_parser("doctor", help="check the config, the servers, the tools and the model"))
    doctor.add_argument("--no-model", action="store_true", help="skip the request to the model endpoint")
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("glm-mcp-gateway")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _setup_logging(level_name: str | None) -> None:
    level_name = (level_name or os.environ.get("GLM_MCP_LOG_LEVEL") or "warning").upper()
    level = logging.getLevelNamesMapping().get(level_name)
    if level is None:
        raise _UsageError(f"--log-level: unknown level {level_name.lower()!r}; use debug, info, warning or error")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _run(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run the async `main` on asyncio, with uvloop's faster event loop where it is installed.

    A config error raised inside task groups comes out as itself, so it is reported in one line like any other.
    """
    try:
        import uvloop  # noqa: F401  # pyright: ignore[reportUnusedImport]  # imported only to fail early when missing
    except ImportError:
        options: dict[str, Any] = {}
    else:
        options = {"use_uvloop": True}
    try:
        return anyio.run(main, backend_options=options)
    except BaseExceptionGroup as group:
        config_errors, rest = group.split(ConfigError)
        if config_errors is None or rest is not None:
            raise
        raise _first_leaf(config_errors) from None


def _first_leaf(group: BaseExceptionGroup[ConfigError]) -> ConfigError:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _freeze_heap() -> None:
    """Keep the objects of start-up (about 90,000: the SDK, pydantic models) out of later garbage collections.

    A full collection over them took ~50 ms here and showed up as the p99 of every request.
    """
    gc.collect()
    gc.freeze()


MIN_REMOTE_TOKEN = 32
"""The shortest token `serve` accepts when it binds an address other machines can reach."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the console script)."""
    args = _parser().parse_args(argv)
    try:
        _setup_logging(args.log_level)
        config = load_config(args.config, os.environ, Path.cwd())
        register(config.secret_values())
        logger.info("config: %s", config.source)
        if not config.servers and args.command in ("serve", "stdio", "chat"):
            logger.warning('no servers are configured in %s: add them under "mcpServers"', config.source)
        command = {
            "token": _token,
            "restart": _restart,
            "serve": _serve,
            "stdio": _stdio,
            "tools": _tools,
            "call": _call,
            "chat": _chat,
            "doctor": _doctor,
            "install": _install,
        }[args.command]
        return command(config, args)
    except (ConfigError, _UsageError) as exc:
        print(f"glm-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`glm-mcp tools --json | head`): nothing left to say, and nobody to say it to.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _serve(config: GatewayConfig, args: argparse.Namespace) -> int:
    import uvicorn

    from glm_mcp.http.app import build_app
    from glm_mcp.http.connection_limits import bounded_protocol
    from glm_mcp.http.server import HostServer, listen

    host = args.host or config.gateway.host
    port = config.gateway.port if args.port is None else args.port
    tokens = config.gateway.auth_tokens
    if not _is_loopback(host) and not tokens:
        raise _UsageError(
            f'refusing to bind {host} without authentication: add "auth_tokens" to the "gateway" section '
            "of the config, or bind 127.0.0.1"
        )
    short = [index for index, token in enumerate(tokens or ()) if len(token.get_secret_value()) < MIN_REMOTE_TOKEN]
    if not _is_loopback(host) and short:
        raise _UsageError(
            f"refusing to bind {host} with a token shorter than {MIN_REMOTE_TOKEN} characters "
            f"(gateway.auth_tokens[{short[0]}]): a short token can be guessed from the network; "
            "use a long random one, such as `python -c 'import secrets; print(secrets.token_urlsafe(32))'` prints"
        )
    auth_note = "clients send the bearer token of the config's auth_tokens"
    generated: tuple[SecretStr, ...] | None = None
    if tokens is None:
        path = token_path(os.environ, Path.home())
        tokens = generated = (SecretStr(load_or_create(path)),)
        register(token.get_secret_value() for token in tokens)
        auth_note = f"clients send the bearer token kept in {path}: `glm-mcp token` prints it"
    elif not tokens:
        auth_note = "authentication is off"
        logger.warning(
            'authentication is off ("auth_tokens": []): every local user and process can run every tool '
            "and spend the model key"
        )
    serve_config = config.gateway.model_copy(update={"host": host, "port": port, "auth_tokens": tokens})
    config = config.model_copy(update={"gateway": serve_config})
    if (missing := config.model.missing_key) is not None:
        logger.warning("%s; /v1/chat/completions and glm__agent answer 503 until then", missing)
    try:
        sockets = listen(host, port)
    except OSError as exc:
        print(f"glm-mcp: cannot bind {host}:{port}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    bound_port = sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host

    def announce() -> None:
        _freeze_heap()
        print(f"glm-mcp serving on http://{shown}:{bound_port} (MCP at /mcp; {auth_note})", file=sys.stderr, flush=True)

    read_again = _loader(args)

    def as_served() -> GatewayConfig:
        """The config read again as `serve` runs it: the command line's host and port, the generated token where
        the file names none (so a reload reports only what the file changed)."""
        loaded = read_again()
        update: dict[str, object] = {"host": host, "port": port}
        if loaded.gateway.auth_tokens is None and generated is not None:
            update["auth_tokens"] = generated
        return loaded.model_copy(update={"gateway": loaded.gateway.model_copy(update=update)})

    gateway = Gateway(config, loader=as_served)
    app = build_app(gateway, on_ready=announce)
    protocol = bounded_protocol(
        max_connections=config.gateway.max_connections, header_timeout_seconds=config.gateway.header_timeout
    )
    server = HostServer(
        uvicorn.Config(
            app,
            http=protocol,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=10,
            access_log=False,
        )
    )

    async def run() -> None:
        quiet = _QuietStop(lambda: server.should_exit, anyio.get_cancelled_exc_class())
        logging.getLogger("uvicorn.error").addFilter(quiet)
        # A start refused for a config problem is said once below, not as uvicorn's traceback.
        logging.getLogger("uvicorn.error").addFilter(lambda record: app.startup_error is None)
        async with anyio.create_task_group() as tg:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        # Standing streams of idle editors end at once; in-flight calls get the grace period.
                        # A second signal cuts those calls short, and the gateway still stops its servers in
                        # order (uvicorn's own force exit would skip that and log the lifespan's cancellation).
                        app.close_streams()
                        if server.should_exit:
                            running = list(server.server_state.tasks)
                            logger.warning("stopping now: %d call(s) in flight cut short", len(running))
                            for task in running:
                                task.cancel()
                        else:
                            logger.info("stopping: calls in flight get 10 s (a second signal cuts them short)")
                        server.stop()

            tg.start_soon(stop_on_signal)
            tg.start_soon(_reload_on_change, gateway, args)
            try:
                await server.serve(sockets=sockets)
            except SystemExit:  # uvicorn's way of saying the start failed; what failed was logged or is said below
                pass
            tg.cancel_scope.cancel()

    _run(run)
    if app.startup_error is not None:
        raise app.startup_error
    return EXIT_OK if server.started else EXIT_FAILURE


class _QuietStop(logging.Filter):
    """While `serve` stops, uvicorn reports the requests it (or a second signal) cancels as crashes, with a
    traceback each; they were cut short on purpose. The traceback goes, the fact stays in plain words."""

    def __init__(self, stopping: Callable[[], bool], cancelled: type[BaseException]) -> None:
        super().__init__()
        self._stopping = stopping
        self._cancelled = cancelled

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._stopping():
            return True
        return record.exc_info is None or not isinstance(record.exc_info[1], self._cancelled)


def _loader(args: argparse.Namespace) -> Callable[[], GatewayConfig]:
    """How a reload reads the config again: the same lookup as at start."""
    cwd = Path.cwd()
    return lambda: load_config(args.config, os.environ, cwd)


async def _reload_on_change(gateway: Gateway, args: argparse.Namespace) -> None:
    """Reload on SIGHUP and whenever the config file changes (editors that replace the file included)."""
    path = find_config_path(args.config, os.environ, Path.cwd())
    async with anyio.create_task_group() as tg:

        async def on_hangup() -> None:
            with anyio.open_signal_receiver(signal.SIGHUP) as signals:
                async for _ in signals:
                    await gateway.reload()

        tg.start_soon(on_hangup)
        if path is None:
            return
        target = path.resolve()
        folder = target.parent

        def is_the_config(change: watchfiles.Change, changed: str) -> bool:
            return Path(changed).name == target.name

        # The watcher's thread returns every 100 ms (rust_timeout): cancelling it waits for that, not for 5 s, so
        # `stdio` and `serve` stop at once. Only the config's own folder is watched, not what lies below it.
        changes = watchfiles.awatch(  # pyright: ignore[reportUnknownMemberType]  # watchfiles types its stop_event loosely
            folder, watch_filter=is_the_config, debounce=200, step=50, recursive=False, rust_timeout=100
        )
        async for _ in changes:
            logger.info("the config file changed: reloading")
            await gateway.reload()


@contextlib.asynccontextmanager
async def _running_gateway(
    config: GatewayConfig,
    loader: Callable[[], GatewayConfig] | None = None,
    *,
    refuse_name_conflicts: bool = True,
    ready_wait_seconds: float = 10.0,
) -> AsyncGenerator[Gateway, None]:
    gateway = Gateway(
        config, loader=loader, refuse_name_conflicts=refuse_name_conflicts, ready_wait_seconds=ready_wait_seconds
    )
    async with gateway.running():
        yield gateway


def _stdio(config: GatewayConfig, args: argparse.Namespace) -> int:
    from glm_mcp.faces.mcp.stdio import serve_stdio

    async def run() -> None:
        async with anyio.create_task_group() as tg:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                    async for _ in signals:
                        tg.cancel_scope.cancel()

            tg.start_soon(stop_on_signal)
            # The editor's `initialize` is answered at once: the servers start meanwhile (the first tools/list waits
            # a little for them), and a name clash among them still stops the start.
            async with _running_gateway(config, loader=_loader(args), ready_wait_seconds=0) as gateway:
                tg.start_soon(_reload_on_change, gateway, args)
                tg.start_soon(gateway.settle)
                _freeze_heap()
                await serve_stdio(gateway, gateway.agent)
            tg.cancel_scope.cancel()

    _run(run)
    return EXIT_OK


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:100] if (text or "").strip() else ""


def _tools(config: GatewayConfig, args: argparse.Namespace) -> int:
    # Every server gets its own start timeout to show up, not the service's shorter ready wait.
    wait = max((server.start_timeout for server in config.servers.values()), default=1.0)

    async def run() -> dict[str, Any]:
        async with Gateway(config, ready_wait_seconds=wait).running() as gateway:
            tools = [
                {
                    "name": name,
                    "server": entry.server,
                    "tool": entry.original,
                    "description": _first_line(tool.description),
                    "destructive": is_destructive(tool),
                    "chat_loop": loop_policy(tool, config.servers[entry.server].destructive),
                }
                for name, (entry, tool) in gateway.catalog.tools.items()
            ]
            return {**gateway.status(), "tools": tools}

    report = _run(run)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        width = max((len(tool["name"]) for tool in report["tools"]), default=4)
        for tool in report["tools"]:
            print(f"{tool['name']:<{width}}  {tool['description']}")
        print()
        if not report["servers"]:
            print(f'no servers are configured in {config.source}: add them under "mcpServers"')
        for name, status in report["servers"].items():
            line = f"{name}: {status['state']}, {status['tools']} tools"
            if "error" in status:
                line += f" ({status['error']})"
            if status["state"] == "starting":
                line += f" (still starting after {config.servers[name].start_timeout:g} s)"
            print(line)
            for item in status.get("quarantined", []):
                print(f"  quarantined {item['tool']}: {item['reason']}")
            if filtered := status.get("filtered"):
                print(f"  filtered out by tools.allow/deny: {', '.join(filtered)}")
            for note in status.get("notes", []):
                print(f"  note: {note}")
            for conflict in status.get("conflicts", []):
                print(f"  not exposed {conflict['name']}: {conflict['reason']}")
    return EXIT_OK if report["ready"] else EXIT_FAILURE


def _owner(config: GatewayConfig, name: str) -> str | None:
    """The one server whose name or prefix starts the exposed tool name `name`, if exactly one does."""
    owners = [
        server
        for server, entry in config.servers.items()
        if entry.prefix != "" and name.startswith(f"{entry.prefix or server}__")
    ]
    return owners[0] if len(owners) == 1 else None


def _call(config: GatewayConfig, args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        raise _UsageError(f"the arguments are not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(arguments, dict):
        raise _UsageError('the arguments must be a JSON object, for example \'{"timezone": "UTC"}\'')

    only = _owner(config, args.name)
    if only is not None:  # start only the server that owns the tool
        config = config.model_copy(update={"servers": {only: config.servers[only]}})

    async def run() -> T.CallToolResult:
        wait = max((server.start_timeout for server in config.servers.values()), default=1.0)
        async with Gateway(config, ready_wait_seconds=wait).running() as gateway:
            return await gateway.call_tool(args.name, arguments)  # pyright: ignore[reportUnknownArgumentType]  # JSON from the command line

    out = Path(args.out).expanduser() if args.out else None
    if out is not None and not out.is_dir():
        raise _UsageError(f"--out {args.out}: not a folder; create it first")
    result = _run(run)
    text = as_json(result) if args.json else shown(result, args.name, out)
    print(text, file=sys.stderr if result.is_error and not args.json else sys.stdout)
    return EXIT_FAILURE if result.is_error else EXIT_OK


def _chat(config: GatewayConfig, args: argparse.Namespace) -> int:
    if (missing := config.model.missing_key) is not None:
        raise _UsageError(missing)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise _UsageError("the prompt is empty")

    async def on_event(event: AgentEvent) -> None:
        if event.kind == "content":
            print(event.text, end="", flush=True)
        elif event.kind == "tool_call":
            print(f"-> {event.data['name']} {event.data['arguments']}", file=sys.stderr, flush=True)
        elif event.kind == "tool_result":
            mark = "!!" if event.data["is_error"] else "<-"
            text = " ".join(event.text.split())
            print(f"{mark} {event.data['name']}: {text[:200]}", file=sys.stderr, flush=True)
        elif event.kind == "retry" and "replaces" in event.data:
            # A terminal cannot take text back: say so, then the retry's text follows.
            start = event.data["replaces"]["from_char"]
            print(f"\n[glm-mcp] the answer was interrupted; from character {start} on it reads:", file=sys.stderr)

    unknown = sorted(set(args.servers or ()) - set(config.servers))
    if unknown:
        raise _UsageError(f"--server: no server named {', '.join(unknown)}; configured: {', '.join(config.servers)}")

    async def run() -> int:
        async with _running_gateway(config) as gateway:
            agent = gateway.agent
            system = [{"role": "system", "content": args.system}] if args.system else []
            body = {"model": config.model.name, "messages": [*system, {"role": "user", "content": prompt}]}
            try:
                offer = agent.offer((), args.servers, messages=body["messages"])
                result = await agent.run(body, offer, stream=True, on_event=on_event)
            except ModelError as exc:
                print(f"glm-mcp: the model failed: {exc.message}", file=sys.stderr)
                return EXIT_FAILURE
            if result.stopped_by:
                print(result.turn.content, end="")
            if result.note:
                print(f"\n[glm-mcp] {result.note}", file=sys.stderr)
            print()
            return EXIT_FAILURE if result.stopped_by else EXIT_OK

    return _run(run)


def _doctor(config: GatewayConfig, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with _running_gateway(config, refuse_name_conflicts=False) as gateway:  # reported as findings
            findings = await diagnose(gateway, probe_model=not args.no_model)
        print(f"config: {config.source}")
        print(render(findings))
        return EXIT_FAILURE if any(finding.status == FAIL for finding in findings) else EXIT_OK

    return _run(run)


def _gateway_token(config: GatewayConfig) -> str | None:
    """The token clients of `serve` must send: the config's first, or the generated one; None when auth is off."""
    if config.gateway.auth_tokens is None:
        return load_or_create(token_path(os.environ, Path.home()))
    tokens = config.gateway.auth_tokens
    return tokens[0].get_secret_value() if tokens else None


def _install_env(specs: list[str]) -> dict[str, str]:
    """`--env NAME` (its value from this shell) and `--env NAME=VALUE`."""
    env: dict[str, str] = {}
    for spec in specs:
        name, has_value, value = spec.partition("=")
        if not has_value:
            if name not in os.environ:
                raise _UsageError(f"--env {name}: it is not set in this shell; set it, or write --env {name}=VALUE")
            value = os.environ[name]
        env[name] = value
    return env


def _user_config(args: argparse.Namespace, *, dry_run: bool) -> Path:
    """The user's glm-mcp config (created with an explicit files root when there is none): what install names."""
    path = user_config_path(Path.home(), os.environ)
    if path.exists():
        return path
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "glm-mcp"
    root = Path(args.files_root).expanduser().resolve() if args.files_root else data_home / "files"
    if root in (Path("/"), Path.home().resolve()):
        raise _UsageError(f"--files-root {root}: serving / or your home folder gives every tool all your files")
    if not dry_run:
        root.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(user_config_text(root, data_home / "notes.json"), encoding="utf-8")
        print(f"glm-mcp: wrote {path} (the bundled servers; files serves {root}); edit it to add servers")
    return path


def _restart(config: GatewayConfig, args: argparse.Namespace) -> int:
    import httpx2

    serve = config.gateway
    host = f"[{serve.host}]" if ":" in serve.host else serve.host
    base = args.url or f"http://{'127.0.0.1' if serve.host in ('0.0.0.0', '::') else host}:{serve.port}"
    token = _gateway_token(config)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx2.post(f"{base.rstrip('/')}/admin/servers/{args.server}/restart", headers=headers, timeout=60)
    except httpx2.HTTPError as exc:
        print(
            f"glm-mcp: no gateway answers at {base} ({type(exc).__name__}); is `glm-mcp serve` running?",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        print(f"glm-mcp: {message}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"restarted {args.server}")
    return EXIT_OK


def _token(config: GatewayConfig, args: argparse.Namespace) -> int:
    token = _gateway_token(config)
    if token is None:
        print('glm-mcp: authentication is off in this config ("auth_tokens": [])', file=sys.stderr)
        return EXIT_FAILURE
    print(token)
    return EXIT_OK


def _install(config: GatewayConfig, args: argparse.Namespace) -> int:
    path = config_path(args.client, Path.home(), os.environ)
    env = _install_env(args.env)
    register(env.values())
    config_file = find_config_path(args.config, os.environ, Path.cwd())
    try:
        if args.http:
            token = _gateway_token(config)
            register([token] if token else [])
            change = plan_http(args.client, path, args.http, token)
        else:
            if config_file is None:
                config_file = _user_config(args, dry_run=args.dry_run)
            command, launch_args = launch_command(config_file)
            change = plan(args.client, path, command, launch_args, env)
        changes = [change]
        if args.model is not None:
            changes.append(_model_change(config, args))
    except ConfigError as exc:
        print(f"glm-mcp: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    for change in changes:
        if args.dry_run:
            print(f"# {change.path} would become (secrets shown as {MASK}):")
            print(scrub(change.text), end="")
        elif change.unchanged:
            print(f"{change.path} already says what glm-mcp would write (nothing written)")
        else:
            saved = apply(change)
            backup = f" (the previous version is in {saved.name})" if saved is not None else ""
            print(f"glm-mcp added to {args.client}: {change.path}{backup}; restart the editor to load it")
    return EXIT_OK


def _model_change(config: GatewayConfig, args: argparse.Namespace) -> Plan:
    """Claude Code's settings pointing its model at this gateway (`install claude-code --model`).

    Raises:
        ConfigError: Another client than claude-code, or authentication is off (Claude Code needs a token).
    """
    if args.client != "claude-code":
        raise ConfigError("--model is for claude-code: it points Claude Code's model at the gateway")
    token = _gateway_token(config)
    if not token:
        raise ConfigError('--model needs the gateway\'s token, and authentication is off ("auth_tokens": [])')
    register([token])
    serve = config.gateway
    host = "127.0.0.1" if serve.host in ("0.0.0.0", "::") else f"[{serve.host}]" if ":" in serve.host else serve.host
    variables = {
        "ANTHROPIC_BASE_URL": f"http://{host}:{serve.port}",
        "ANTHROPIC_AUTH_TOKEN": token,
        "ANTHROPIC_MODEL": args.model or config.model.name,
    }
    return plan_model_env(claude_settings_path(Path.home(), os.environ), variables)
