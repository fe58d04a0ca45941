"""The official MCP conformance suite's server scenarios: against the project's conformance server directly, then
through `glm-mcp serve` with that server as a passthrough (`"prefix": ""`) upstream, and against the gateway itself
(`dns-rebinding-protection`). The suite is npm `@modelcontextprotocol/conformance`, pinned in `tests/node22`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from tests.helpers import ROOT, glm_mcp_serve

pytestmark = pytest.mark.slow

EXPECTED_FAILURES = Path(__file__).parent / "conformance" / "expected-failures.yaml"
SCENARIOS = 32


@asynccontextmanager
async def conformance_server() -> AsyncGenerator[str, None]:
    """`tests/conformance_server.py` as a process; yields its `/mcp` URL once it listens."""
    command = [sys.executable, "-m", "tests.conformance_server"]
    async with await anyio.open_process(command, cwd=ROOT) as process:
        assert process.stderr is not None
        url = ""
        with anyio.fail_after(30):  # hang guard: the gateway's start, with node's, on a busy 2-core machine
            async for chunk in TextReceiveStream(process.stderr):
                if found := re.search(r"listening on (\S+)", chunk):
                    url = found.group(1)
                    break
        try:
            yield url
        finally:
            process.terminate()


async def run_suite(bin_dir: Path, url: str) -> tuple[int, str]:
    """Every server scenario against `url`; (exit status, output)."""
    command = [
        str(bin_dir / "conformance"),
        "server",
        "--url",
        url,
        "--suite",
        "all",
        "--expected-failures",
        str(EXPECTED_FAILURES),
    ]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = await anyio.run_process(command, env=env, check=False, stderr=subprocess.STDOUT)
    return done.returncode, done.stdout.decode("utf-8", "replace")


def scenarios_passed(output: str) -> list[str]:
    return re.findall(r"✓ ([a-z0-9-]+):", output)


async def test_every_conformance_scenario_that_passes_directly_passes_through_the_gateway(
    node22_bin: Path, tmp_path: Path
) -> None:
    async with conformance_server() as upstream:
        direct_status, direct = await run_suite(node22_bin, upstream)
        assert direct_status == 0, direct
        passed_directly = scenarios_passed(direct)
        assert len(passed_directly) == SCENARIOS, direct

        config: dict[str, Any] = {
            "mcpServers": {"conformance": {"url": upstream, "prefix": ""}},
            "gateway": {"auth_tokens": []},
        }
        async with glm_mcp_serve(config, tmp_path) as gateway:
            through_status, through = await run_suite(node22_bin, f"{gateway.url}/mcp")
    assert through_status == 0, through
    assert scenarios_passed(through) == passed_directly, through
