"""MCP servers bundled with glm-mcp; each runs with `python -m servers.<name>`, or inside the gateway's own process
(a `{"bundled": "<name>"}` entry: no interpreter of its own to start, the gateway's import of the SDK shared)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

BUNDLED = ("clock", "files", "notes")


class ArgumentsError(ValueError):
    """A bundled server's arguments are wrong (the message says which, and what it takes)."""


class Arguments(argparse.ArgumentParser):
    """A server's command line, which raises `ArgumentsError` instead of exiting when run inside the gateway."""

    def __init__(self, *, prog: str, description: str | None, inside: bool) -> None:
        super().__init__(prog=prog, description=description, add_help=not inside)  # no --help to exit the gateway
        self._inside = inside

    def error(self, message: str) -> NoReturn:
        if self._inside:
            raise ArgumentsError(f"{message}; it takes: {self.format_usage().strip().removeprefix('usage: ')}")
        super().error(message)


def bundled_server(name: str, args: Sequence[str]) -> Any:
    """The bundled server `name` set up with its command-line `args`, to serve inside this process.

    Raises:
        ArgumentsError: `args` are not the server's.
    """
    if name not in BUNDLED:
        raise ArgumentsError(f"there is no bundled server {name!r}; there are {', '.join(BUNDLED)}")
    module = importlib.import_module(f"servers.{name}")
    return module.configure(args, inside=True)


def serve_until_closed(server: Any) -> None:
    """Serve on stdin and stdout until the client closes stdin, then exit at once: the interpreter's own teardown
    of the SDK's modules takes a quarter of a second, which every editor restart would wait for. Everything a tool
    writes is written before it answers, so nothing is lost."""
    server.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
