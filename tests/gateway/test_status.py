"""The status projection (`gateway.status`): what `/readyz`, `/admin/status`, `doctor` and the metrics show of each
server, over real servers (in memory and as subprocesses)."""

from __future__ import annotations

import json
import sys

from mcp.server.mcpserver import MCPServer

from glm_mcp.config import GatewayConfig, StdioUpstreamConfig, ToolFilterConfig
from glm_mcp.gateway.core import Gateway
from tests.helpers import inproc, python_server


def tools_server(name: str, *tools: str) -> MCPServer:
    """A server with one tool per name in `tools`."""
    server = MCPServer(name)
    for tool in tools:
        server.add_tool(lambda: "done", name=tool, description=f"{tool} something")
    return server


async def test_each_server_shows_its_counts_and_what_was_left_out_with_the_reason() -> None:
    config = GatewayConfig(
        servers={
            "raw": python_server("raw_server.py"),
            "kept": inproc(tools_server("kept", "read", "delete_all"), tools=ToolFilterConfig(deny=("delete_*",))),
            "alpha": inproc(tools_server("alpha", "same"), prefix=""),
            "beta": inproc(tools_server("beta", "same"), prefix=""),
        }
    )
    async with Gateway(config, refuse_name_conflicts=False).running() as gateway:
        status = gateway.status()
    raw, kept, alpha, beta = (status["servers"][name] for name in ("raw", "kept", "alpha", "beta"))
    assert raw["state"] == "ready" and raw["transport"] == "stdio" and raw["tools"] == 6
    assert {item["tool"] for item in raw.get("quarantined", [])} == {"bad_type", "no_schema", "echo", "<unnamed>"}
    assert kept["tools"] == 1 and kept.get("filtered") == ["delete_all"]
    clashes = [*alpha.get("conflicts", []), *beta.get("conflicts", [])]
    assert [clash["name"] for clash in clashes] == ["same"]
    assert status["tools"] == 6 + 1 + 1  # the clashing name is served by one of the two
    assert "names left out" in status.get("config_error", "")


async def test_ready_means_every_enabled_server_is_connected_and_a_failure_says_why_without_secrets() -> None:
    secret = "sk-very-secret-value-123"
    broken = StdioUpstreamConfig(command=sys.executable, args=("-c", "raise SystemExit(3)"), env={"API_KEY": secret})
    config = GatewayConfig(servers={"broken": broken, "ok": inproc(tools_server("ok", "ping"))})
    async with Gateway(config, ready_wait_seconds=5).running() as gateway:
        status = gateway.status()
    assert status["ready"] is False
    assert status["servers"]["ok"]["state"] == "ready" and status["servers"]["ok"]["uptime_seconds"] is not None
    failed = status["servers"]["broken"]
    assert failed["state"] in ("failed", "restarting") and failed.get("error")
    assert secret not in json.dumps(status)
