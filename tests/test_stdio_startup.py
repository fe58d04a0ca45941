"""`glm-mcp stdio` as editors spawn it: answered at once while servers start, quick to stop."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.abc
import mcp.types as T
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.helpers import ROOT, glm_mcp_serve

pytestmark = pytest.mark.slow  # real processes

SDK_SERVER = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")

SLOW_SERVER = """
import sys, time
print("downloading the package...", file=sys.stderr, flush=True)
time.sleep(float(sys.argv[1]))  # as `npx -y` does on its first run
exec(open(sys.argv[2]).read())
"""


async def test_stdio_answers_at_once_and_announces_a_server_that_is_ready_later(tmp_path: Path) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text(SLOW_SERVER)
    config = tmp_path / "glm-mcp.json"
    servers = {
        "fast": {"command": sys.executable, "args": [SDK_SERVER]},
        "slow": {"command": sys.executable, "args": [str(slow), "4", SDK_SERVER]},
    }
    config.write_text(json.dumps({"mcpServers": servers, "gateway": {"first_list_wait": 2}}))
    changes: list[anyio.Event] = [anyio.Event()]

    async def on_message(message: object) -> None:
        if isinstance(message, T.ToolListChangedNotification):
            changes[-1].set()

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "glm_mcp", "stdio", "--config", str(config)], cwd=str(ROOT)
    )
    async with Client(stdio_client(params), mode="legacy", message_handler=on_message) as editor:
        # `initialize` was answered with the slow server still asleep; the first list waited for the fast one only.
        first = [tool.name for tool in (await editor.list_tools()).tools]
        assert "fast__echo" in first and "slow__echo" not in first
        later = first
        with anyio.fail_after(30):  # hang guard: the slow server starts in about 3 s; a busy machine's margin
            while "slow__echo" not in later:  # the slow server joins: the editor is told, and lists again
                await changes[-1].wait()
                changes.append(anyio.Event())
                later = [tool.name for tool in (await editor.list_tools()).tools]
    assert "slow__echo" in later


async def test_stdio_stops_as_soon_as_its_editor_closes_stdin(tmp_path: Path) -> None:
    config = tmp_path / "glm-mcp.json"  # a config file: its folder is watched for changes
    config.write_text(json.dumps({"mcpServers": {"fast": {"command": sys.executable, "args": [SDK_SERVER]}}}))
    process = await anyio.open_process(
        [sys.executable, "-m", "glm_mcp", "stdio", "--config", str(config)], cwd=ROOT, stderr=None
    )
    async with process:
        assert process.stdin is not None and process.stdout is not None
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        for message in (
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        ):
            await process.stdin.send((json.dumps(message) + "\n").encode())
        answers = b""
        with anyio.fail_after(30):  # hang guard: the gateway serves once Python, the SDK and its server have started
            while b'"id":2' not in answers.replace(b" ", b""):
                answers += await process.stdout.receive()
        assert b'"protocolVersion"' in answers and b"fast__" in answers
        await process.stdin.aclose()  # the gateway is serving, its server running: it has something to stop
        with anyio.fail_after(2.5):  # the config watcher held it 3.5 s or more before
            await process.wait()
    assert process.returncode == 0


async def test_serve_stops_as_soon_as_it_is_asked_when_no_call_runs(tmp_path: Path) -> None:
    config = {"mcpServers": {"fast": {"command": sys.executable, "args": [SDK_SERVER]}}}
    async with glm_mcp_serve(config, tmp_path) as gateway:
        gateway.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(2.5):
            await gateway.process.wait()
    assert gateway.process.returncode == 0


def _initialize(ident: int | str, version: str) -> bytes:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "editor", "version": "1"}}
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": "initialize", "params": params}).encode() + b"\n"


async def _lines_until(process: anyio.abc.Process, last_id: object) -> list[dict[str, object]]:
    """The messages `process` writes until the answer to `last_id`, or until it closes its stdout."""
    assert process.stdout is not None
    received: list[dict[str, object]] = []
    buffered = b""
    with anyio.fail_after(60):  # hang guard, not a timing check: a busy 2-core machine imports slowly
        while not any(message.get("id") == last_id and "method" not in message for message in received):
            try:
                buffered += await process.stdout.receive()
            except anyio.EndOfStream:
                break
            *complete, buffered = buffered.split(b"\n")
            received += [json.loads(line) for line in complete if line.strip()]
    return received


@pytest.mark.parametrize("version", ["2024-11-05", "2025-06-18", "2025-11-25", "2026-07-28", "1999-01-01"])
async def test_the_first_answer_is_the_sdks_own_answer_and_is_given_once(tmp_path: Path, version: str) -> None:
    """`stdio` answers `initialize` before importing the SDK; the answer must be the one the SDK gives (which it
    gives itself where stdin is a regular file), and the SDK's own answer must not follow it."""
    config = tmp_path / "glm-mcp.json"
    config.write_text(json.dumps({"mcpServers": {"fast": {"command": sys.executable, "args": [SDK_SERVER]}}}))
    command = [sys.executable, "-m", "glm_mcp", "stdio", "--config", str(config)]
    ping = json.dumps({"jsonrpc": "2.0", "id": "p", "method": "ping"}).encode() + b"\n"
    as_file = tmp_path / "stdin"
    as_file.write_bytes(_initialize(7, version) + ping)
    with as_file.open("rb") as stdin:
        async with await anyio.open_process(command, stdin=stdin, cwd=ROOT) as sdk:
            from_sdk = await _lines_until(sdk, 7)  # it stops at the file's end, maybe before its ping
    async with await anyio.open_process(command, cwd=ROOT) as early:
        assert early.stdin is not None
        await early.stdin.send(_initialize(7, version) + ping)
        from_early = await _lines_until(early, "p")
        await early.stdin.aclose()
        await early.wait()
    answers = [message for message in from_early if message.get("id") == 7]
    assert answers == [message for message in from_sdk if message.get("id") == 7]
    assert len(answers) == 1
    assert cast(dict[str, Any], answers[0]["result"])["serverInfo"]["name"] == "glm-mcp"


def test_the_first_answer_knows_the_revisions_the_sdk_negotiates() -> None:
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    from glm_mcp.eras import HANDSHAKE_VERSIONS

    assert HANDSHAKE_VERSIONS == tuple(HANDSHAKE_PROTOCOL_VERSIONS)
