"""The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, pinned in `tests/node22`).

Server side: each revision's scenarios against the project's conformance server directly, then through
`glm-mcp serve` with that server as a passthrough (`"prefix": ""`) upstream. Client side: glm-mcp's upstream side
as the client under test (`tests/conformance_client.py` drives it through `glm-mcp stdio`)."""

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


EXPECTED_FAILURES = Path(__file__).parent / "conformance-expected-failures.yml"
"""What `--suite all` may fail through the gateway, each with its reason: the tasks extension the upstream lacks."""


async def run_suite(bin_dir: Path, url: str, *selection: str) -> tuple[int, str]:
    """The server scenarios `selection` picks (`--requirements REVISION`, `--suite all`...), against `url`: the exit
    status and the output."""
    command = [str(bin_dir / "conformance"), "server", "--url", url, *selection]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = await anyio.run_process(command, env=env, check=False, stderr=subprocess.STDOUT)
    return done.returncode, done.stdout.decode("utf-8", "replace")


def scenarios_passed(output: str) -> set[str]:
    return set(re.findall(r"✓ ([a-z0-9-]+):", output))


def scored(output: str) -> tuple[int, int]:
    """(passed, run) of the scenarios a `--requirements` run scores (those it lists as not scored left out)."""
    results = {name: mark for mark, name in re.findall(r"^([✓✗]) ([a-z0-9-]+):", output, re.MULTILINE)}
    unscored = set(re.findall(r"^  [✓✗] ([a-z0-9-]+) \(", output, re.MULTILINE))
    counted = {name: mark for name, mark in results.items() if name not in unscored}
    return sum(mark == "✓" for mark in counted.values()), len(counted)


@asynccontextmanager
async def conformance_gateway(tmp_path: Path) -> AsyncGenerator[tuple[str, str], None]:
    """The project's conformance server, and `glm-mcp serve` with it as a passthrough upstream: both `/mcp` URLs."""
    async with conformance_server() as upstream:
        config: dict[str, Any] = {
            "mcpServers": {"conformance": {"url": upstream, "prefix": ""}},
            "gateway": {"auth_tokens": []},
        }
        async with glm_mcp_serve(config, tmp_path) as gateway:
            yield upstream, f"{gateway.url}/mcp"


@pytest.mark.parametrize(("revision", "scenarios"), [("2025-11-25", 30), ("2026-07-28", 37)])
async def test_every_scored_scenario_of_each_revision_passes_directly_and_through_the_gateway(
    node22_bin: Path, tmp_path: Path, revision: str, scenarios: int
) -> None:
    """The project's conformance server is a server of both eras, listing its 2026-07-28 test tools to callers of
    that era only, as the suite's reference server does: through the gateway, each revision's editor reaches
    everything it offers in its own era. Every scored scenario passes, directly and through the gateway."""
    async with conformance_gateway(tmp_path) as (upstream, gateway):
        _, direct = await run_suite(node22_bin, upstream, "--requirements", revision)
        _, through = await run_suite(node22_bin, gateway, "--requirements", revision)
    assert scored(direct) == (scenarios, scenarios), direct
    assert scored(through) == (scenarios, scenarios), through
    assert scenarios_passed(direct) <= scenarios_passed(through), through


async def test_the_whole_suite_through_the_gateway_fails_only_the_listed_extension(
    node22_bin: Path, tmp_path: Path
) -> None:
    """`--suite all`, every revision and extension: the suite itself fails the run for an unlisted failure, and for a
    listed scenario that passes."""
    async with conformance_gateway(tmp_path) as (_, gateway):
        status, output = await run_suite(
            node22_bin, gateway, "--suite", "all", "--expected-failures", str(EXPECTED_FAILURES)
        )
    assert status == 0, output
    assert len(scenarios_passed(output)) >= 50, output


CLIENT_DRIVER = Path(__file__).parent / "conformance_client.py"
AUTH_2025_11_25 = [
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
]
CLIENT_SCENARIOS = {
    "2025-03-26": ["auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"],
    "2025-06-18": [
        "initialize",
        "tools_call",
        "auth/token-endpoint-auth-basic",
        "auth/token-endpoint-auth-post",
        "auth/token-endpoint-auth-none",
    ],
    "2025-11-25": [
        "initialize",
        "tools_call",
        "elicitation-sep1034-client-defaults",
        "sse-retry",
        "json-schema-2020-12-preservation",
        *AUTH_2025_11_25,
    ],
    "2026-07-28": [
        "tools_call",
        "request-metadata",
        "sep-2322-client-request-state",
        "http-standard-headers",
        "http-custom-headers",
        "http-invalid-tool-headers",
        "json-schema-ref-no-deref",
        "json-schema-2020-12-preservation",
        *AUTH_2025_11_25,
        "auth/resource-mismatch",
        "auth/offline-access-scope",
        "auth/offline-access-not-supported",
        "auth/authorization-server-migration",
        "auth/iss-supported",
        "auth/iss-not-advertised",
        "auth/iss-supported-missing",
        "auth/iss-wrong-issuer",
        "auth/iss-unexpected",
        "auth/iss-normalized",
        "auth/metadata-issuer-mismatch",
    ],
    "extension": [
        "auth/client-credentials-jwt",
        "auth/client-credentials-basic",
        "auth/enterprise-managed-authorization",
        "auth/dpop",
        "auth/dpop-nonce",
        "auth/wif-jwt-bearer",
    ],
}
"""Every client scenario of the pinned suite that each revision requires (an authorization scenario once per
revision it belongs to, on that revision's wire), and the suite's authorization extensions. They run one at a time:
side by side, 13 Python gateways starting at once on 2 cores time out, which says nothing about the client."""

CLIENT_EXPECTED_FAILURES: dict[tuple[str, str], str] = {}
"""Scenarios that fail, with the reason: none. (The driver's editor speaks the scenario's revision, as the suite
asks of a client under test; a 2025-era editor would make the gateway try a handshake beside a 2026-07-28 session,
which a scenario of 2026-07-28 only counts against it.)"""


async def run_client_scenario(bin_dir: Path, revision: str, scenario: str) -> str:
    """One client scenario, with glm-mcp's upstream side as the client under test; its output. An extension
    scenario belongs to no revision."""
    command = [str(bin_dir / "conformance"), "client", "--command", f"{sys.executable} {CLIENT_DRIVER}"]
    command += ["--scenario", scenario]
    if revision != "extension":
        command += ["--spec-version", revision]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = await anyio.run_process(command, env=env, cwd=ROOT, check=False, stderr=subprocess.STDOUT)
    return done.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("revision", "scenario"),
    [(revision, scenario) for revision, scenarios in CLIENT_SCENARIOS.items() for scenario in scenarios],
)
async def test_glm_mcp_as_a_client_passes_every_scenario_but_the_listed_ones(
    node22_bin: Path, revision: str, scenario: str
) -> None:
    """Each scenario is its own test (one gateway start and one suite run each, a few seconds)."""
    output = await run_client_scenario(node22_bin, revision, scenario)
    counts = re.search(r"Passed: (\d+)/(\d+), (\d+) failed, (\d+) warnings", output)
    assert counts is not None, output
    passed = counts.group(1) != "0" and counts.group(3) == counts.group(4) == "0"
    expected = (revision, scenario) not in CLIENT_EXPECTED_FAILURES
    assert passed == expected, output
