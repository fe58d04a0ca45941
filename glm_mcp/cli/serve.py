"""`glm-mcp serve`: the HTTP gateway on its socket, until a signal; reloads on SIGHUP and when the config changes."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
from pydantic import SecretStr

from glm_mcp import telemetry
from glm_mcp.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    freeze_heap,
    loader,
    reload_on_change,
    run_async,
)
from glm_mcp.cli.token import load_or_create, token_path
from glm_mcp.config import GatewayConfig, config_from_text
from glm_mcp.errors import UsageError
from glm_mcp.gateway.core import Gateway
from glm_mcp.redact import register

logger = logging.getLogger(__name__)


MIN_REMOTE_TOKEN = 32
"""The shortest token `serve` accepts when it binds an address other machines can reach."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: GatewayConfig, args: argparse.Namespace) -> int:
    import uvicorn

    from glm_mcp.http.app import build_app
    from glm_mcp.http.connection_limits import serve_protocol
    from glm_mcp.http.server import HostServer, listen

    host = args.host or config.gateway.host
    port = config.gateway.port if args.port is None else args.port
    tokens = config.gateway.auth_tokens
    if not _is_loopback(host) and not tokens and config.gateway.oidc is None:
        raise UsageError(
            f'refusing to bind {host} without authentication: add "auth_tokens" to the "gateway" section '
            "of the config, or bind 127.0.0.1"
        )
    short = [index for index, token in enumerate(tokens or ()) if len(token.get_secret_value()) < MIN_REMOTE_TOKEN]
    if not _is_loopback(host) and short:
        raise UsageError(
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
    elif not tokens and config.gateway.oidc is not None:
        auth_note = f"clients send an OpenID Connect token of {config.gateway.oidc.issuer}"
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
        freeze_heap()
        print(f"glm-mcp serving on http://{shown}:{bound_port} (MCP at /mcp; {auth_note})", file=sys.stderr, flush=True)

    read_again = loader(args)

    def as_served(loaded: GatewayConfig | None = None) -> GatewayConfig:
        """The config read again (or `loaded`, one another replica published) as `serve` runs it: the command
        line's host and port, the generated token where the file names none (so a reload reports only what the
        file changed)."""
        loaded = loaded or read_again()
        update: dict[str, object] = {"host": host, "port": port}
        if loaded.gateway.auth_tokens is None and generated is not None:
            update["auth_tokens"] = generated
        return loaded.model_copy(update={"gateway": loaded.gateway.model_copy(update=update)})

    def published(text: str, source: str) -> GatewayConfig:
        return as_served(config_from_text(text, os.environ, source, Path.cwd()))

    gateway = Gateway(config, loader=as_served)
    otel = config.gateway.otel
    telemetry.start(os.environ, otel.endpoint, otel.service_name)  # before the app: it traces only when on
    app = build_app(gateway, on_ready=announce, from_text=published)
    protocol = serve_protocol(config.gateway)
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
            tg.start_soon(reload_on_change, gateway, args)
            try:
                await server.serve(sockets=sockets)
            except SystemExit:  # uvicorn's way of saying the start failed; what failed was logged or is said below
                pass
            tg.cancel_scope.cancel()

    try:
        run_async(run)
    finally:
        telemetry.stop()  # what is left goes out before the process ends
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
