"""What the command's parts share: the usage error, exit codes, running async code on the best event loop, reloading
when the config changes, and the token clients send."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import watchfiles

from glm_mcp.cli.token import load_or_create, token_path
from glm_mcp.config import GatewayConfig, find_config_path, load_config
from glm_mcp.errors import ConfigError

if TYPE_CHECKING:  # the gateway (and the MCP SDK under it) is imported only by the commands that run one
    from glm_mcp.gateway.core import Gateway

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_T = TypeVar("_T")


def run_async(main: Callable[[], Awaitable[_T]]) -> _T:
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


def freeze_heap() -> None:
    """Keep the objects of start-up (about 90,000: the SDK, pydantic models) out of later garbage collections.

    A full collection over them took ~50 ms here and showed up as the p99 of every request. They are frozen as they
    are, without a collection first: that one took the same 50 ms at every start, on the way to ready.
    """
    gc.freeze()


def loader(args: argparse.Namespace) -> Callable[[], GatewayConfig]:
    """How a reload reads the config again: the same lookup as at start."""
    cwd = Path.cwd()
    return lambda: load_config(args.config, os.environ, cwd)


async def reload_on_change(gateway: Gateway, args: argparse.Namespace) -> None:
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

        # The watcher's thread looks at `stop` every `step` (50 ms) without coming back to the event loop; `stop` is
        # set as this task is cancelled, so `stdio` and `serve` stop at once. (Cancelling alone would wait for the
        # thread's next return: its `rust_timeout`, 5 s.) Only the config's own folder is watched, not below it.
        stop = anyio.Event()

        async def stop_with_the_watch() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                stop.set()

        tg.start_soon(stop_with_the_watch)
        changes = watchfiles.awatch(  # pyright: ignore[reportUnknownMemberType]  # watchfiles types its stop_event loosely
            folder, watch_filter=is_the_config, debounce=200, step=50, recursive=False, stop_event=stop
        )
        async for _ in changes:
            logger.info("the config file changed: reloading")
            await gateway.reload()


def gateway_token(config: GatewayConfig) -> str | None:
    """The token clients of `serve` must send: the config's first, or the generated one; None when auth is off."""
    if config.gateway.auth_tokens is None:
        return load_or_create(token_path(os.environ, Path.home()))
    tokens = config.gateway.auth_tokens
    return tokens[0].get_secret_value() if tokens else None
