"""What a stdio server's process gets from the gateway's environment, and what a slow start is reported as."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import mcp.types as T
import pytest

from glm_mcp.config import parse_config
from glm_mcp.gateway.core import Gateway
from tests.helpers import FIXTURE_SERVERS, ROOT

pytestmark = pytest.mark.slow

ENVIRON = {
    "HTTPS_PROXY": "http://proxy.internal:3128",
    "SSL_CERT_FILE": "/etc/corp-ca.pem",
    "LANG": "de_DE.UTF-8",
    "LC_ALL": "de_DE.UTF-8",
    "MY_SETTING": "on",
    "UNRELATED_SECRET": "never-passed",
    "PATH": "/usr/bin:/bin",
}


async def _seen(server_entry: dict[str, object], names: list[str], **gateway: object) -> dict[str, str]:
    data = {"mcpServers": {"p": server_entry}, "gateway": gateway} if gateway else {"mcpServers": {"p": server_entry}}
    config = parse_config(data, ENVIRON, "cfg.json")
    seen: dict[str, str] = {}
    async with Gateway(config).running() as gateway_:
        for name in names:
            result = await gateway_.call_tool("p__getenv", {"name": name})
            block = result.content[0]
            assert isinstance(block, T.TextContent)
            seen[name] = block.text
    return seen


def _entry(**extra: object) -> dict[str, object]:
    return {"command": sys.executable, "args": [str(FIXTURE_SERVERS / "sdk_server.py")], **extra}


async def test_proxy_ca_and_locale_variables_pass_and_nothing_else() -> None:
    seen = await _seen(_entry(), ["HTTPS_PROXY", "SSL_CERT_FILE", "LANG", "LC_ALL", "MY_SETTING", "UNRELATED_SECRET"])
    assert seen == {
        "HTTPS_PROXY": "http://proxy.internal:3128",
        "SSL_CERT_FILE": "/etc/corp-ca.pem",
        "LANG": "de_DE.UTF-8",
        "LC_ALL": "de_DE.UTF-8",
        "MY_SETTING": "<unset>",
        "UNRELATED_SECRET": "<unset>",
    }


async def test_inherit_env_passes_more_per_server_and_for_all() -> None:
    assert (await _seen(_entry(inherit_env=["MY_*"]), ["MY_SETTING", "UNRELATED_SECRET"])) == {
        "MY_SETTING": "on",
        "UNRELATED_SECRET": "<unset>",
    }
    assert (await _seen(_entry(), ["UNRELATED_SECRET"], inherit_env=True)) == {"UNRELATED_SECRET": "never-passed"}


async def test_a_server_that_does_not_answer_is_reported_with_what_it_was_doing(tmp_path: Path) -> None:
    silent = tmp_path / "silent.py"
    silent.write_text(
        "import sys, time\nprint('loading the model weights', file=sys.stderr, flush=True)\ntime.sleep(60)\n"
    )
    entry = {"command": sys.executable, "args": [str(silent), "--token", "sk-arg-SECRET"], "start_timeout": 1}
    config = parse_config(
        {"mcpServers": {"slow": entry}, "gateway": {"auth_tokens": ["sk-arg-SECRET"]}}, ENVIRON, "cfg.json"
    )
    async with Gateway(config, ready_wait_seconds=5).running() as gateway:
        error = gateway.status()["servers"]["slow"].get("error", "")
    assert error.startswith("no answer to initialize after 1 s (start_timeout); command: ")
    assert str(silent) in error and "--token ***" in error
    assert error.endswith("last stderr: loading the model weights")


async def test_a_banner_on_stdout_is_one_warning_naming_the_server_and_the_server_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chatty = tmp_path / "chatty.py"
    chatty.write_text(
        "print('Welcome to Chatty 1.0 (stdio mode)', flush=True)\n"
        f"exec(open({str(ROOT / 'tests' / 'fixture_servers' / 'sdk_server.py')!r}).read())\n"
    )
    config = parse_config({"mcpServers": {"chatty": {"command": sys.executable, "args": [str(chatty)]}}}, ENVIRON, "c")
    caplog.set_level(logging.WARNING)
    async with Gateway(config).running() as gateway:
        result = await gateway.call_tool("chatty__echo", {"text": "fine"})
    assert not result.is_error
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.getMessage() for record in warnings] == [
        "server 'chatty' printed a line on stdout that is not MCP (it should log to stderr); ignored: "
        "Welcome to Chatty 1.0 (stdio mode)"
    ]
    assert not [record for record in warnings if record.exc_info]  # no traceback


async def test_a_failure_shows_the_first_error_line_of_stderr_and_the_last_ones(tmp_path: Path) -> None:
    failing = tmp_path / "failing.py"
    lines = ["starting", "ImportError: no module named 'weights'", *[f"cleanup step {n}" for n in range(8)]]
    failing.write_text(
        "import sys\n" + "".join(f"print({line!r}, file=sys.stderr)\n" for line in lines) + "sys.exit(3)\n"
    )
    config = parse_config({"mcpServers": {"f": {"command": sys.executable, "args": [str(failing)]}}}, ENVIRON, "c")
    async with Gateway(config, ready_wait_seconds=5).running() as gateway:
        error = gateway.status()["servers"]["f"].get("error", "")
    assert (
        "last stderr: ImportError: no module named 'weights' | … | cleanup step 5 | cleanup step 6 | cleanup step 7"
        in error
    )
