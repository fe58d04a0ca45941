"""Changing a running gateway: config reloads (file watch, SIGHUP, /admin/reload), one server at a time, with
editors connected and calls in flight. Real `glm-mcp serve` and `glm-mcp stdio` processes."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as T
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.helpers import ROOT, ToolListHeard, glm_mcp_serve, run_cli

pytestmark = pytest.mark.slow

SDK_SERVER = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")


def _servers(*names: str) -> dict[str, Any]:
    return {name: {"command": sys.executable, "args": [SDK_SERVER]} for name in names}


async def test_editing_the_config_of_a_running_serve_reaches_editors_and_spares_calls_in_flight(tmp_path: Path) -> None:
    config = {"mcpServers": _servers("one")}
    async with glm_mcp_serve(config, tmp_path, "--log-level", "info") as gateway:
        path = tmp_path / "glm-mcp.json"
        heard = ToolListHeard()
        napped: list[T.CallToolResult] = []
        async with gateway.mcp_client(message_handler=heard) as editor, anyio.create_task_group() as tg:
            assert "one__echo" in await heard.tools_until(editor, lambda names: True)

            async def nap() -> None:
                napped.append(await editor.call_tool("one__nap", {"seconds": 1.5}))

            tg.start_soon(nap)
            await anyio.wait_all_tasks_blocked()
            path.write_text(json.dumps({"mcpServers": _servers("one", "two")}))
            names = await heard.tools_until(editor, lambda names: "two__echo" in names)
            assert "one__echo" in names
        assert len(napped) == 1 and not napped[0].is_error  # the unchanged server's call finished undisturbed

        path.write_text('{"mcpServers": {"three": ')  # a broken edit
        async with httpx2.AsyncClient(base_url=gateway.url, headers=gateway.headers) as http:
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                await gateway.stderr_line("reload refused, the running config stays")
            ready = (await http.get("/readyz")).json()
            assert "not valid JSON" in ready["config_error"] and set(ready["servers"]) == {"one", "two"}
            path.write_text(json.dumps({"mcpServers": _servers("two")}))
            gateway.process.send_signal(signal.SIGHUP)
            with anyio.fail_after(10):  # hang guard, not a timing check: 10 s covers a busy 2-core machine
                await gateway.stderr_line('"removed": ["one"]')
            ready = (await http.get("/readyz")).json()
            assert set(ready["servers"]) == {"two"} and "config_error" not in ready


async def test_glm_mcp_stdio_reloads_its_config_too(tmp_path: Path) -> None:
    path = tmp_path / "glm-mcp.json"
    path.write_text(json.dumps({"mcpServers": _servers("one")}))
    heard = ToolListHeard()
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "glm_mcp", "stdio", "--config", str(path)], cwd=str(ROOT)
    )
    async with Client(params, mode="legacy", message_handler=heard) as editor:
        assert "one__echo" in await heard.tools_until(editor, lambda names: True)
        path.write_text(json.dumps({"mcpServers": _servers("one", "two")}))
        assert "two__echo" in await heard.tools_until(editor, lambda names: "two__echo" in names)


async def test_one_server_at_a_time_over_the_admin_api_and_the_cli(tmp_path: Path) -> None:
    async with glm_mcp_serve({"mcpServers": _servers("one", "two")}, tmp_path) as gateway:
        async with httpx2.AsyncClient(base_url=gateway.url, headers=gateway.headers) as http:
            pid = int((await http.post("/admin/call", json={"name": "one__pid", "arguments": {}})).json()["text"])
            env = {"XDG_STATE_HOME": str(tmp_path / "state")}
            port = gateway.url.rsplit(":", 1)[1]
            code, out, err = await run_cli("restart", "one", "--url", gateway.url, env=env)
            assert (code, out.strip()) == (0, "restarted one"), err
            status = (await http.get("/readyz")).json()["servers"]["one"]
            assert status["restarts"] == 1
            new_pid = int((await http.post("/admin/call", json={"name": "one__pid", "arguments": {}})).json()["text"])
            assert new_pid != pid
            assert (await http.post("/admin/servers/two/disable")).status_code == 200
            assert (await http.get("/readyz")).json()["servers"]["two"]["state"] == "disabled"
            assert (await http.post("/admin/servers/two/enable")).status_code == 200
            assert (await http.get("/readyz")).json()["servers"]["two"]["state"] == "ready"
            missing = await http.post("/admin/servers/nope/restart")
            assert missing.status_code == 404 and "no server named 'nope'" in missing.json()["error"]["message"]
            code, _, err = await run_cli("restart", "nope", "--url", f"http://127.0.0.1:{port}", env=env)
            assert code == 1 and "no server named 'nope'" in err and "the configured ones: one, two" in err
        async with httpx2.AsyncClient(base_url=gateway.url) as anonymous:
            assert (await anonymous.post("/admin/reload")).status_code == 401
            page = await anonymous.post("/admin/reload", headers={**gateway.headers, "origin": "http://localhost:9999"})
            assert page.status_code == 403


async def test_the_status_data_lists_every_tool_with_its_policy_quarantined_ones_included(tmp_path: Path) -> None:
    raw = str(ROOT / "tests" / "fixture_servers" / "raw_server.py")
    config = {"mcpServers": {"raw": {"command": sys.executable, "args": [raw]}, **_servers("one")}}
    async with glm_mcp_serve(config, tmp_path) as gateway:
        async with httpx2.AsyncClient(base_url=gateway.url, headers=gateway.headers) as http:
            page = await http.get("/")
            status = (await http.get("/admin/status")).json()
    assert page.status_code == 200 and "<title>glm-mcp</title>" in page.text and "https://" not in page.text
    policies = {tool["name"]: (tool["offered"], tool["policy"]) for tool in status["tool_list"]}
    assert policies["one__echo"] == (True, "runs (read-only or not destructive)")
    assert policies["raw__echo"][0] is False and policies["raw__echo"][1].startswith("refused in the chat loop")
    assert policies["bad_type"][0] is False and policies["bad_type"][1].startswith("quarantined: inputSchema")


@pytest.mark.slow  # a real serve and a reload
async def test_a_reload_of_serve_reports_only_what_the_file_changed(tmp_path: Path) -> None:
    config: dict[str, Any] = {"mcpServers": _servers("one")}  # no auth_tokens: serve generates one
    async with glm_mcp_serve(config, tmp_path, "--host", "127.0.0.1") as gateway:
        config["mcpServers"] = _servers("one", "two")
        (tmp_path / "glm-mcp.json").write_text(json.dumps(config))
        # The file watch applies the edit on its own; waiting for its report keeps /admin/reload from racing it.
        with anyio.fail_after(20):  # hang guard, not a timing check
            await gateway.stderr_line("config reloaded:")
        watched = json.loads(
            next(line for line in gateway.stderr_lines if "config reloaded:" in line).split("config reloaded: ", 1)[1]
        )
        async with httpx2.AsyncClient(base_url=gateway.url, headers=gateway.headers, timeout=30) as http:
            again = (await http.post("/admin/reload")).json()
    assert watched["added"] == ["two"] and watched["notes"] == []
    # Neither the generated token nor the command line's host and port count as changes: a reload of the same file
    # reports nothing at all.
    assert again["ok"] and again["added"] == again["removed"] == again["restarted"] == again["notes"] == []
