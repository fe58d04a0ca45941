"""Real stdio servers as child processes: crash and restart, cancellation, start failures, no orphans."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
from collections.abc import Generator
from pathlib import Path

import anyio
import mcp.types as T
import pytest
from mcp import Client, StdioServerParameters

from glm_mcp.config import GatewayConfig, UpstreamConfig
from glm_mcp.gateway.core import Gateway
from tests.helpers import ROOT, ToolListHeard, alive, children_of, logged, open_gate, python_server

pytestmark = pytest.mark.slow


def _text(result: T.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, T.TextContent)
    return block.text


@contextlib.contextmanager
def stderr_line(server: str, needle: str) -> Generator[anyio.Event, None, None]:
    """An event set when the stdio server `server` writes a stderr line containing `needle`."""
    with logged(f"glm_mcp.servers.{server}", needle) as watcher:
        yield watcher.seen


async def test_a_server_killed_mid_call_answers_that_call_with_an_error_then_comes_back() -> None:
    restarted = anyio.Event()
    gateway = Gateway(GatewayConfig(servers={"proc": python_server("sdk_server.py")}))

    async def listener(old: object, new: object) -> None:
        if gateway.servers["proc"].restarts and "proc__pid" in gateway.catalog.tools:
            restarted.set()

    gateway.on_catalog_change(listener)
    async with gateway.running():
        first_pid = int(_text(await gateway.call_tool("proc__pid", {})))
        with anyio.fail_after(5):
            failed = await gateway.call_tool("proc__crash", {})
        assert failed.is_error
        assert _text(failed).startswith("The call failed at server 'proc': ")
        with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
            await restarted.wait()
        assert gateway.status()["servers"]["proc"]["state"] == "ready"
        assert gateway.status()["servers"]["proc"]["restarts"] == 1
        second_pid = int(_text(await gateway.call_tool("proc__pid", {})))
        assert second_pid != first_pid
        assert not alive(first_pid)


async def test_a_server_killed_with_sigkill_mid_call_answers_the_call_with_an_error() -> None:
    with stderr_line("proc", "HANG started") as started:
        async with Gateway(GatewayConfig(servers={"proc": python_server("sdk_server.py")})).running() as gateway:
            pid = int(_text(await gateway.call_tool("proc__pid", {})))
            outcome: list[T.CallToolResult] = []
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    outcome.append(await gateway.call_tool("proc__hang", {}))

                tg.start_soon(call)
                with anyio.fail_after(5):
                    await started.wait()
                os.kill(pid, signal.SIGKILL)
            assert outcome[0].is_error
            assert _text(outcome[0]).startswith("The call failed at server 'proc': ")
            assert gateway.status()["servers"]["proc"]["state"] in ("restarting", "ready")


async def test_a_timed_out_call_is_cancelled_in_the_server_process_and_the_session_survives() -> None:
    with stderr_line("proc", "HANG cancelled") as cancelled:
        config = GatewayConfig(servers={"proc": python_server("sdk_server.py", timeout=0.5)})
        async with Gateway(config).running() as gateway:
            result = await gateway.call_tool("proc__hang", {})
            assert result.is_error
            assert "timed out after 0.5 s" in _text(result)
            with anyio.fail_after(5):
                await cancelled.wait()
            assert _text(await gateway.call_tool("proc__echo", {"text": "alive"})) == "alive"


async def test_no_child_process_outlives_the_gateway() -> None:
    config = GatewayConfig(
        servers={
            "a": python_server("sdk_server.py"),
            "b": python_server("sdk_server.py"),
            "raw": python_server("raw_server.py"),
        }
    )
    before = children_of(os.getpid())
    async with Gateway(config).running() as gateway:
        assert gateway.status()["ready"]
        spawned = children_of(os.getpid()) - before
        assert len(spawned) >= 3
    assert [pid for pid in spawned if alive(pid)] == []


async def test_garbage_on_a_servers_stdout_does_not_break_its_session() -> None:
    config = GatewayConfig(servers={"raw": python_server("raw_server.py", "--garbage")})
    async with Gateway(config).running() as gateway:
        assert gateway.status()["servers"]["raw"]["state"] == "ready"
        assert _text(await gateway.call_tool("raw__echo", {"text": "x"})) == '{"text": "x"}'


async def test_progress_from_a_raw_server_is_relayed() -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Gateway(GatewayConfig(servers={"raw": python_server("raw_server.py")})).running() as gateway:
        result = await gateway.call_tool("raw__slow", {"n": 1}, on_progress=on_progress)
        assert _text(result) == '{"n": 1}'
        assert seen == [1, 2, 3]


async def test_a_server_echoing_ids_as_strings_still_gets_its_answers_and_progress_through() -> None:
    """The dispatcher's rule, kept by the gateway's own lane for tool calls: "7" answers request 7."""
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    servers: dict[str, UpstreamConfig] = {"raw": python_server("raw_server.py", "--string-ids", timeout=30)}
    async with Gateway(GatewayConfig(servers=servers)).running() as gateway:
        result = await gateway.call_tool("raw__slow", {"n": 2}, on_progress=on_progress)
        assert _text(result) == '{"n": 2}' and not result.is_error
        assert seen == [1, 2, 3]


async def test_glm_mcp_stdio_spawned_by_an_editor_serves_every_server_and_leaves_nothing_behind(
    tmp_path: anyio.Path,
) -> None:
    config = tmp_path / "glm-mcp.json"
    fixture = ROOT / "tests" / "fixture_servers" / "sdk_server.py"
    servers = {
        "proc": {"command": sys.executable, "args": [str(fixture)]},
        "clock": {"command": sys.executable, "args": ["-m", "servers.clock"]},
    }
    await anyio.Path(config).write_text(json.dumps({"mcpServers": servers}))
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "glm_mcp", "stdio", "--config", str(config)], cwd=str(ROOT)
    )
    every = ["glm__agent", "clock__convert", "clock__list_timezones", "clock__now", "clock__wait", "proc__crash",
             "proc__echo", "proc__getenv", "proc__hang", "proc__nap", "proc__pid", "proc__progress", "proc__summarize"]  # fmt: skip
    heard = ToolListHeard()
    async with Client(params, mode="legacy", message_handler=heard) as editor:
        # A server still starting after the first listing's short wait comes with `list_changed`, as an editor sees.
        assert await heard.tools_until(editor, lambda names: names == every, seconds=60) == every
        upstream_pid = int(_text(await editor.call_tool("proc__pid", {})))
        assert alive(upstream_pid)
        steps: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            steps.append(progress)

        done = await editor.call_tool("proc__progress", {"steps": 2}, progress_callback=on_progress)
        assert _text(done) == "done after 2 steps" and steps == [1, 2]
        now = await editor.call_tool("clock__now", {"timezone": "UTC"})
        assert now.structured_content is not None and now.structured_content["timezone"] == "UTC"
    assert not alive(upstream_pid)


def _gate_open_for(gate: Path) -> bool:
    """Whether a server is waiting at `gate` (a named pipe with a reader); opening it for writing would not block."""
    try:
        os.close(os.open(gate, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as exc:
        assert exc.errno == errno.ENXIO, exc  # no reader yet
        return False
    return True


async def test_stdio_servers_past_max_starting_servers_wait_their_turn_and_their_start_timeout_runs_from_it(
    tmp_path: Path,
) -> None:
    gates = {name: tmp_path / f"{name}.gate" for name in ("first", "second")}
    for gate in gates.values():
        os.mkfifo(gate)
    servers: dict[str, UpstreamConfig] = {
        "first": python_server("gated_server.py", str(gates["first"])),
        "second": python_server("gated_server.py", str(gates["second"]), start_timeout=3),
    }
    config = GatewayConfig.model_validate({"servers": servers, "gateway": {"max_starting_servers": 1}})
    gateway = Gateway(config, ready_wait_seconds=0)
    with stderr_line("first", "at the gate") as first_waits, stderr_line("second", "at the gate") as second_waits:
        async with gateway.running():
            with anyio.fail_after(30):  # hang guard
                await first_waits.wait()
            # The first server's start is held longer than the second's start_timeout; the second, waiting for
            # its turn, has not even been spawned, and its timeout has not begun.
            await anyio.sleep(3.5)  # the slow start itself, not a synchronisation
            assert not second_waits.is_set() and not _gate_open_for(gates["second"])
            assert gateway.status()["servers"]["second"]["state"] == "starting"
            await open_gate(gates["first"])
            with anyio.fail_after(30):  # hang guard
                await second_waits.wait()
            await open_gate(gates["second"])
            with anyio.fail_after(30):  # hang guard
                while {"first__echo", "second__echo"} - set(gateway.catalog.tools):
                    await gateway.next_change()
            servers_now = gateway.status()["servers"]
            assert servers_now["first"]["state"] == servers_now["second"]["state"] == "ready"
            assert servers_now["second"]["restarts"] == 0  # its first start was not cut off by its start_timeout
