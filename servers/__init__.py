"""MCP servers bundled with glm-mcp; each runs with `python -m servers.<name>`."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


def serve_until_closed(server: Any) -> None:
    """Serve on stdin and stdout until the client closes stdin, then exit at once: the interpreter's own teardown
    of the SDK's modules takes a quarter of a second, which every editor restart would wait for. Everything a tool
    writes is written before it answers, so nothing is lost."""
    server.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
