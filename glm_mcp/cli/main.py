"""The `glm-mcp` command: argument parsing, logging set-up, and exit codes (0 ok, 1 runtime failure, 2 usage).

With `cli.common` and `cli.serve`, the only code that reads argv and the environment besides `config.loading`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import logging
import os
import sys
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from glm_mcp.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    freeze_heap,
)
from glm_mcp.cli.install import (
    CLIENTS,
)
from glm_mcp.config import GatewayConfig, load_config
from glm_mcp.errors import ConfigError, UsageError
from glm_mcp.redact import ScrubbingFormatter, register

logger = logging.getLogger(__name__)


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
    log_in = with_config(commands.add_parser("login", help="log in to a remote server behind OAuth"))
    log_in.add_argument("server", help="the configured server name")
    log_in.add_argument("--person", help="whose login, for a server whose logins are each person's")
    log_out = with_config(commands.add_parser("logout", help="forget the login to a remote server"))
    log_out.add_argument("server", help="the configured server name")
    log_out.add_argument("--person", help="whose login, for a server whose logins are each person's")
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
        raise UsageError(f"--log-level: unknown level {level_name.lower()!r}; use debug, info, warning or error")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@contextlib.contextmanager
def _importing() -> Generator[None]:
    """A command's imports, without the cyclic garbage collector: they make hundreds of thousands of objects and no
    garbage, and collecting while they ran cost about a tenth of `serve`'s start. What they made is frozen at once
    (`freeze_heap`, which `serve` and `stdio` call again when ready), so the first collection does not walk it."""
    gc.disable()
    try:
        yield
    finally:
        freeze_heap()
        gc.enable()


def _run(command: str, config: GatewayConfig, args: argparse.Namespace) -> int:
    """Run `command`, importing only its own module: the gateway's (and the MCP SDK's) import is paid by the
    commands that run one, and `stdio` answers the editor's `initialize` before it (`first_answer`)."""
    if command == "stdio":
        from glm_mcp.faces.mcp.first_answer import claim_stdio

        first = claim_stdio()
        with _importing():
            from glm_mcp.cli.commands import stdio

        return stdio(config, args, first)
    if command == "serve":
        with _importing():
            from glm_mcp.cli.serve import serve

        return serve(config, args)
    if command == "install":
        from glm_mcp.cli.installing import install

        return install(config, args)
    if command in ("login", "logout"):
        from glm_mcp.cli import login

        return login.login(config, args) if command == "login" else login.logout(config, args)
    from glm_mcp.cli import commands

    run: dict[str, Any] = {
        "token": commands.token,
        "restart": commands.restart,
        "tools": commands.tools,
        "call": commands.call,
        "chat": commands.chat,
        "doctor": commands.doctor,
    }
    return int(run[command](config, args))


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
        return _run(args.command, config, args)
    except (ConfigError, UsageError) as exc:
        print(f"glm-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`glm-mcp tools --json | head`): nothing left to say, and nobody to say it to.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
