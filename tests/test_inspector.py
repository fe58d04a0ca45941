"""The MCP Inspector's CLI (Node 22, from npm) against `glm-mcp serve`: over `/sse` and over `/mcp`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import glm_mcp_serve

pytestmark = pytest.mark.slow


def _clock_config() -> dict[str, Any]:
    clock = {"command": sys.executable, "args": ["-m", "servers.clock"]}
    return {"mcpServers": {"clock": clock}}


async def _inspect(bin_dir: Path, url: str, transport: str, token: str, *method: str) -> Any:
    command = [
        str(bin_dir / "mcp-inspector"),
        "--cli",
        url,
        "--transport",
        transport,
        "--header",
        f"Authorization: Bearer {token}",
        "--method",
        *method,
    ]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = await anyio.run_process(command, env=env, check=False, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


async def test_the_inspector_cli_lists_and_calls_tools_over_sse_and_streamable_http(
    node22_bin: Path, tmp_path: Path
) -> None:
    async with glm_mcp_serve(_clock_config(), tmp_path) as gateway:
        assert gateway.token is not None
        for path, transport in (("/sse", "sse"), ("/mcp", "http")):
            listed = await _inspect(node22_bin, f"{gateway.url}{path}", transport, gateway.token, "tools/list")
            names = {tool["name"] for tool in listed["tools"]}
            assert {"glm__agent", "clock__now"} <= names, (transport, names)
            called = await _inspect(
                node22_bin,
                f"{gateway.url}{path}",
                transport,
                gateway.token,
                "tools/call",
                "--tool-name",
                "clock__now",
                "--tool-arg",
                "timezone=UTC",
            )
            assert called.get("isError") is not True and "UTC" in json.dumps(called), called
