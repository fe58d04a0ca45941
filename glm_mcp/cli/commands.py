"""The commands that run the gateway in the foreground: `stdio`, `tools`, `call`, `chat`, `doctor`, `restart`,
`token`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import anyio
import mcp.types as T

from glm_mcp.agent.results import AgentEvent
from glm_mcp.catalog import is_destructive, loop_policy
from glm_mcp.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    freeze_heap,
    gateway_token,
    loader,
    reload_on_change,
    run_async,
)
from glm_mcp.cli.doctor import FAIL, diagnose, render
from glm_mcp.cli.terminal import as_json, shown
from glm_mcp.config import GatewayConfig
from glm_mcp.errors import ModelError, UsageError
from glm_mcp.faces.mcp.first_answer import FirstAnswer
from glm_mcp.gateway.core import Gateway

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _running_gateway(
    config: GatewayConfig,
    loader: Callable[[], GatewayConfig] | None = None,
    *,
    refuse_name_conflicts: bool = True,
    ready_wait_seconds: float | None = None,
    interactive_logins: bool = True,
) -> AsyncGenerator[Gateway, None]:
    """The gateway of a command, started; by default it waits, as a one-shot command does, until every server has
    had its turn and its own `start_timeout` (`GatewayConfig.start_wait`)."""
    gateway = Gateway(
        config,
        loader=loader,
        refuse_name_conflicts=refuse_name_conflicts,
        ready_wait_seconds=config.start_wait() if ready_wait_seconds is None else ready_wait_seconds,
        interactive_logins=interactive_logins,
    )
    async with gateway.running():
        yield gateway


def stdio(config: GatewayConfig, args: argparse.Namespace, first: FirstAnswer | None = None) -> int:
    """Serve the catalog on stdio; `first` holds the editor's stdio when its `initialize` was answered already."""
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
            async with _running_gateway(config, loader=loader(args), ready_wait_seconds=0) as gateway:
                tg.start_soon(reload_on_change, gateway, args)
                tg.start_soon(gateway.settle)
                freeze_heap()
                await serve_stdio(gateway, gateway.agent, first)
            tg.cancel_scope.cancel()

    try:
        run_async(run)
    finally:
        if first is not None:
            first.release()
    return EXIT_OK


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:100] if (text or "").strip() else ""


def tools(config: GatewayConfig, args: argparse.Namespace) -> int:
    async def run() -> dict[str, Any]:
        async with _running_gateway(config, interactive_logins=False) as gateway:
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

    report = run_async(run)
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
                line += f" (still starting after {config.start_wait():g} s)"
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


def call(config: GatewayConfig, args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        raise UsageError(f"the arguments are not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(arguments, dict):
        raise UsageError('the arguments must be a JSON object, for example \'{"timezone": "UTC"}\'')

    only = _owner(config, args.name)
    if only is not None:  # start only the server that owns the tool
        config = config.model_copy(update={"servers": {only: config.servers[only]}})

    async def run() -> T.CallToolResult:
        async with _running_gateway(config, interactive_logins=False) as gateway:
            return await gateway.call_tool(args.name, arguments)  # pyright: ignore[reportUnknownArgumentType]  # JSON from the command line

    out = Path(args.out).expanduser() if args.out else None
    if out is not None and not out.is_dir():
        raise UsageError(f"--out {args.out}: not a folder; create it first")
    result = run_async(run)
    text = as_json(result) if args.json else shown(result, args.name, out)
    print(text, file=sys.stderr if result.is_error and not args.json else sys.stdout)
    return EXIT_FAILURE if result.is_error else EXIT_OK


def chat(config: GatewayConfig, args: argparse.Namespace) -> int:
    if (missing := config.model.missing_key) is not None:
        raise UsageError(missing)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("the prompt is empty")

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
        raise UsageError(f"--server: no server named {', '.join(unknown)}; configured: {', '.join(config.servers)}")

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

    return run_async(run)


def doctor(config: GatewayConfig, args: argparse.Namespace) -> int:
    async def run() -> int:
        # Clashes are reported as findings; a server that needs a login is reported, not logged into.
        async with _running_gateway(config, refuse_name_conflicts=False, interactive_logins=False) as gateway:
            findings = await diagnose(gateway, probe_model=not args.no_model)
        print(f"config: {config.source}")
        print(render(findings))
        return EXIT_FAILURE if any(finding.status == FAIL for finding in findings) else EXIT_OK

    return run_async(run)


def restart(config: GatewayConfig, args: argparse.Namespace) -> int:
    import httpx2

    serve = config.gateway
    host = f"[{serve.host}]" if ":" in serve.host else serve.host
    base = args.url or f"http://{'127.0.0.1' if serve.host in ('0.0.0.0', '::') else host}:{serve.port}"
    token = gateway_token(config)
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


def token(config: GatewayConfig, args: argparse.Namespace) -> int:
    token = gateway_token(config)
    if token is None:
        print('glm-mcp: authentication is off in this config ("auth_tokens": [])', file=sys.stderr)
        return EXIT_FAILURE
    print(token)
    return EXIT_OK
