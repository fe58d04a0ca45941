"""The command line as a new user meets it: real `glm-mcp` processes, real servers, the emulator as GLM."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import ROOT, children_of, glm_mcp_serve, open_gate, run_cli, serve_asgi, write_config

pytestmark = pytest.mark.slow

SDK_SERVER = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")


async def test_version_prints_the_installed_version() -> None:
    code, out, _ = await run_cli("--version")
    assert code == 0 and out.startswith("glm-mcp ")


async def test_chat_reads_the_prompt_from_stdin_and_takes_a_system_prompt(tmp_path: Path) -> None:
    fake = FakeGlm([Reply(content="Hello.")])
    async with serve_asgi(fake.app) as url:
        path = write_config(tmp_path, {}, model={"base_url": url, "api_key": "k"})
        code, out, err = await run_cli("chat", "-", "--system", "Be brief.", "--config", str(path), stdin=b"Say hi\n")
    assert (code, out) == (0, "Hello.\n"), err
    assert fake.requests[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hi\n"},
    ]


async def test_chat_with_an_unknown_server_is_a_usage_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"proc": {"command": sys.executable, "args": [SDK_SERVER]}}, model={"api_key": "k"})
    code, _, err = await run_cli("chat", "hi", "--server", "nosuch", "--config", str(path))
    assert code == 2 and "no server named nosuch" in err and "Traceback" not in err


async def test_call_starts_only_the_server_that_owns_the_tool(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    other = tmp_path / "other.py"
    other.write_text(f"open({str(marker)!r}, 'w').close()\nimport time\ntime.sleep(60)\n")
    servers = {
        "proc": {"command": sys.executable, "args": [SDK_SERVER]},
        "other": {"command": sys.executable, "args": [str(other)]},
    }
    path = write_config(tmp_path, servers)
    code, out, err = await run_cli("call", "proc__echo", '{"text": "hi"}', "--config", str(path))
    assert (code, out.strip()) == (0, "hi"), err
    assert not marker.exists()


async def test_tools_output_to_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`glm-mcp tools --json | head` when head has gone: the pipe's reading end is closed before anything is written."""
    path = write_config(tmp_path, {"proc": {"command": sys.executable, "args": [SDK_SERVER]}})
    command = [sys.executable, "-m", "glm_mcp", "tools", "--json", "--config", str(path)]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = await anyio.run_process(command, cwd=ROOT, stdout=write_end, check=False)
    finally:
        os.close(write_end)
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr, result.stderr.decode()
    assert result.returncode == 0


async def test_serve_without_a_model_key_warns_and_answers_503_at_once(tmp_path: Path) -> None:
    config: dict[str, Any] = {"mcpServers": {}, "gateway": {"auth_tokens": []}}
    async with glm_mcp_serve(config, tmp_path, env={"ZAI_API_KEY": ""}) as gateway:
        async with httpx2.AsyncClient(base_url=gateway.url) as http:
            body = {"messages": [{"role": "user", "content": "hi"}]}
            answer = await http.post("/v1/chat/completions", json=body)
        assert any("no model key" in line for line in gateway.stderr_lines)
    assert answer.status_code == 503 and "set ZAI_API_KEY" in answer.json()["error"]["message"]


async def test_host_localhost_listens_on_both_loopbacks(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    async with glm_mcp_serve({"mcpServers": {}}, tmp_path, "--host", "localhost") as gateway:
        port = gateway.url.rsplit(":", 1)[1]
        async with httpx2.AsyncClient() as http:
            four = await http.get(f"http://127.0.0.1:{port}/healthz")
            six = await http.get(f"http://[::1]:{port}/healthz")
    assert four.status_code == six.status_code == 200


async def test_a_call_while_its_server_restarts_waits_for_it(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, {"proc": {"command": sys.executable, "args": [SDK_SERVER]}}, gateway={"auth_tokens": []}
    )
    async with glm_mcp_serve(json.loads(path.read_text()), tmp_path) as gateway, gateway.mcp_client() as client:
        crashed = await client.call_tool("proc__crash", {})
        assert crashed.is_error
        again = await client.call_tool("proc__echo", {"text": "back"})
    assert not again.is_error and "back" in str(again.content)


async def test_debug_logs_each_spawn_call_and_model_request(tmp_path: Path) -> None:
    fake = FakeGlm([Reply(tool_calls=[("proc__echo", '{"text": "x"}')]), Reply(content="done")])
    async with serve_asgi(fake.app) as url:
        path = write_config(
            tmp_path,
            {"proc": {"command": sys.executable, "args": [SDK_SERVER], "env": {"TOKEN": "t-SECRET-1"}}},
            model={"base_url": url, "api_key": "k"},
        )
        code, _, err = await run_cli("chat", "go", "--config", str(path), "--log-level", "debug")
    assert code == 0, err
    assert "server 'proc': spawning" in err and "TOKEN" in err and "t-SECRET-1" not in err
    assert "call echo on 'proc': ok in" in err
    assert "model request to glm-4.6: ok (tool_calls)" in err and "100 prompt" in err


async def test_a_config_without_servers_is_said_plainly(tmp_path: Path) -> None:
    path = write_config(tmp_path, {})
    code, out, _ = await run_cli("tools", "--config", str(path))
    assert code == 0 and f"no servers are configured in {path}" in out


async def test_two_passthrough_servers_sharing_a_name_stop_serve_and_stdio_with_a_config_error(tmp_path: Path) -> None:
    same = {"command": sys.executable, "args": [SDK_SERVER], "prefix": ""}
    path = write_config(tmp_path, {"first": same, "second": same}, gateway={"auth_tokens": []})
    for command in (["serve", "--port", "0"], ["stdio"], ["tools"]):
        if command == ["stdio"]:  # an editor keeps stdin open: stdio answers at once, then stops at the clash
            code, err = await _stdio_until_it_exits(path)
        else:
            code, _, err = await run_cli(*command, "--config", str(path), stdin=b"")
        assert code == 2, (command, err)
        assert "Traceback" not in err, err
        said = [line for line in err.splitlines() if line.startswith("glm-mcp: ")]
        assert len(said) == 1 and f"{path}: mcpServers.second.prefix" in said[0], err
        assert "server 'first'" in said[0] and "tool 'echo'" in said[0], err
    # doctor goes on and lists each name left out, naming both servers.
    code, out, _ = await run_cli("doctor", "--no-model", "--config", str(path))
    assert code == 1 and "tool second/echo" in out and "'first'" in out


async def _stdio_until_it_exits(path: Path) -> tuple[int, str]:
    """Run `glm-mcp stdio` with stdin held open, as an editor does, until it exits on its own: (code, stderr)."""
    process = await anyio.open_process([sys.executable, "-m", "glm_mcp", "stdio", "--config", str(path)], cwd=ROOT)
    async with process:
        with anyio.fail_after(60):  # hang guard: a Python start plus the servers' start, on a busy 2-core machine
            await process.wait()
        assert process.stderr is not None
        err = (await process.stderr.receive(1_000_000)).decode() if process.returncode else ""
    return process.returncode or 0, err


async def test_serve_without_a_config_runs_the_bundled_servers_for_a_client_with_the_printed_token(
    tmp_path: Path,
) -> None:
    """The README's quick start: no config file, `glm-mcp serve`, and a client with the token `glm-mcp token` prints."""
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "GLM_MCP_CONFIG": ""}
    async with glm_mcp_serve(None, tmp_path, env=env) as gateway:
        code, printed, _ = await run_cli("token", env={**env, "XDG_STATE_HOME": str(tmp_path / "state")})
        assert code == 0 and printed.strip() == gateway.token
        async with gateway.mcp_client() as editor:
            tools = {tool.name for tool in (await editor.list_tools()).tools}
            added = await editor.call_tool("notes__add_note", {"text": "quick start"})
        async with httpx2.AsyncClient(timeout=10) as http:
            status = (await http.get(f"{gateway.url}/readyz")).json()
        spawned = children_of(gateway.process.pid)
    assert {"clock__now", "files__read_file", "notes__add_note", "glm__agent"} <= tools
    assert not added.is_error and (tmp_path / "data" / "glm-mcp" / "notes.json").exists()
    # The bundled servers run inside the gateway: no interpreter of their own to start.
    assert {name: server["transport"] for name, server in status["servers"].items()} == dict.fromkeys(
        ("clock", "files", "notes"), "bundled"
    )
    assert spawned == set()


async def test_tools_shows_each_servers_state_and_filtered_tools_and_fails_while_one_is_down(tmp_path: Path) -> None:
    servers = {
        "proc": {"command": sys.executable, "args": [SDK_SERVER], "tools": {"deny": ["crash", "hang"]}},
        "gone": {"command": str(tmp_path / "no-such-server")},
    }
    path = write_config(tmp_path, servers)
    code, out, _ = await run_cli("tools", "--config", str(path))
    assert code == 1, out
    assert "proc__echo" in out and "proc__crash" not in out
    assert "proc: ready" in out and "filtered out by tools.allow/deny: crash, hang" in out
    assert "gone: failed" in out and "no-such-server" in out


async def test_call_prints_the_result_and_exits_1_on_a_tool_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"proc": {"command": sys.executable, "args": [SDK_SERVER]}})
    code, out, err = await run_cli("call", "proc__echo", '{"text": "fine"}', "--config", str(path))
    assert (code, out.strip()) == (0, "fine"), err
    code, out, err = await run_cli("call", "proc__echo", "{}", "--config", str(path))
    assert code == 1 and out == "" and "text" in err and "Traceback" not in err


async def test_the_log_level_is_taken_before_or_after_the_command_or_from_the_environment(tmp_path: Path) -> None:
    chatty = tmp_path / "chatty.py"
    chatty.write_text(
        "import runpy, sys\n"
        "print('hello from stderr', file=sys.stderr, flush=True)\n"
        f"runpy.run_path({SDK_SERVER!r}, run_name='__main__')\n"
    )
    path = write_config(tmp_path, {"proc": {"command": sys.executable, "args": [str(chatty)]}})
    runs = [
        await run_cli("--log-level", "info", "tools", "--config", str(path)),
        await run_cli("tools", "--config", str(path), "--log-level", "info"),
        await run_cli("tools", "--config", str(path), env={"GLM_MCP_LOG_LEVEL": "info"}),
    ]
    for code, _, err in runs:
        assert code == 0, err
        said = [line for line in err.splitlines() if "glm_mcp.servers.proc" in line]
        assert any("hello from stderr" in line for line in said), err
    _, _, quiet = await run_cli("tools", "--config", str(path))
    assert "hello from stderr" not in quiet  # the default level is warning


PICTURE_SERVER = """
import base64
import mcp.types as T
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("pics")
PNG = base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n" + b"\\0" * 40).decode()


@mcp.tool()
def snapshot() -> list[T.TextContent | T.ImageContent]:
    \"\"\"A caption and a picture.\"\"\"
    return [T.TextContent(text="the office"), T.ImageContent(data=PNG, mime_type="image/png")]


mcp.run()
"""


async def test_call_shows_a_picture_saves_it_with_out_and_prints_it_whole_with_json(tmp_path: Path) -> None:
    script = tmp_path / "pics.py"
    script.write_text(PICTURE_SERVER)
    path = write_config(tmp_path, {"pics": {"command": sys.executable, "args": [str(script)]}})
    code, plain, _ = await run_cli("call", "pics__snapshot", "--config", str(path))
    assert code == 0 and plain.startswith("the office\n[image: image/png, 48 bytes; --out DIR saves it")
    assert "model" not in plain
    (tmp_path / "out").mkdir()
    code, saved, _ = await run_cli("call", "pics__snapshot", "--out", str(tmp_path / "out"), "--config", str(path))
    picture = tmp_path / "out" / "pics__snapshot-1.png"
    assert code == 0 and f"saved to {picture}" in saved and picture.read_bytes().startswith(b"\x89PNG")
    code, whole, _ = await run_cli("call", "pics__snapshot", "--json", "--config", str(path))
    content = json.loads(whole)["content"]
    assert code == 0 and content[1]["type"] == "image" and content[1]["mimeType"] == "image/png"
    assert base64.b64decode(content[1]["data"]).startswith(b"\x89PNG")


async def test_doctor_waits_for_a_server_slower_than_ten_seconds_within_its_start_timeout(tmp_path: Path) -> None:
    gate = tmp_path / "slow.gate"
    os.mkfifo(gate)
    gated = str(ROOT / "tests" / "fixture_servers" / "gated_server.py")
    slow = {"command": sys.executable, "args": [gated, str(gate)], "start_timeout": 60}
    path = write_config(tmp_path, {"slow": slow}, model={"api_key": "zai-key"})
    done: list[tuple[int, str, str]] = []
    async with anyio.create_task_group() as tg:

        async def doctor() -> None:
            done.append(await run_cli("doctor", "--no-model", "--config", str(path)))

        tg.start_soon(doctor)
        # The server's start takes longer than the 10 s a serving gateway waits before it is up; a one-shot command
        # waits for each server's own start_timeout instead.
        await anyio.sleep(15)  # the slow start itself (10 s past the gateway's own start), not a synchronisation
        assert not done
        await open_gate(gate)
    code, out, _ = done[0]
    assert code == 0, out
    assert any(
        line.startswith("ok") and "server slow" in line and "tools (stdio)" in line for line in out.splitlines()
    ), out
