"""Secrets never leak: known secret values in the model key, tokens, server `env` and `headers`, then a search of
everything the gateway printed, logged (at debug level) and served."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers import ROOT, glm_mcp_serve, run_cli

pytestmark = pytest.mark.slow

SECRETS = {
    "ZAI_API_KEY": "sk-model-SECRET-1111",
    "GW_TOKEN": "tok-gateway-SECRET-2222",
    "ENV_SECRET": "env-server-SECRET-3333",
    "HDR_SECRET": "hdr-upstream-SECRET-4444",
}


def _config() -> dict[str, object]:
    fixture = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")
    return {
        "mcpServers": {
            "proc": {"command": sys.executable, "args": [fixture], "env": {"API_TOKEN": "${ENV_SECRET}"}},
            "gone": {"command": "/nonexistent/server", "env": {"API_TOKEN": "${ENV_SECRET}"}},
            "remote": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${HDR_SECRET}"}},
        },
        # The model endpoint is unreachable, so the chat request fails and its error is searched too.
        "model": {"base_url": "http://127.0.0.1:9/v4", "api_key": "${ZAI_API_KEY}", "max_retries": 0},
        "gateway": {"auth_tokens": ["${GW_TOKEN}"]},
    }


async def test_no_secret_appears_in_output_logs_or_responses(tmp_path: Path) -> None:
    seen: list[str] = []
    auth = {"Authorization": f"Bearer {SECRETS['GW_TOKEN']}"}
    async with glm_mcp_serve(_config(), tmp_path, "--log-level", "debug", env=SECRETS) as gateway:
        async with httpx2.AsyncClient(base_url=gateway.url, headers=auth) as http:
            for path in ("/readyz", "/healthz", "/v1/models"):
                seen.append((await http.get(path)).text)
            chat = await http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
            assert chat.status_code == 502
            seen.append(chat.text)
            seen.append((await http.post("/v1/chat/completions", content=b"{bad")).text)
            async with httpx2.AsyncClient(base_url=gateway.url) as anonymous:
                seen.append((await anonymous.post("/mcp", json={})).text)
            async with Client(streamable_http_client(f"{gateway.url}/mcp", http_client=http), mode="legacy") as client:
                seen.append(json.dumps([t.name for t in (await client.list_tools()).tools]))
                for name in ("proc__echo", "gone__x", "remote__x"):
                    seen.append((await client.call_tool(name, {"text": "x"})).model_dump_json())
    seen.extend(gateway.stderr_lines)
    config = tmp_path / "glm-mcp.json"
    for command in (["tools", "--json"], ["tools"], ["call", "gone__x"], ["doctor"]):
        _, out, err = await run_cli(*command, "--config", str(config), "--log-level", "debug", env=SECRETS)
        seen.extend([out, err])
    everything = "\n".join(seen)
    assert "proc__echo" in everything and "gone" in everything  # the search did cover real output
    leaked = [name for name, value in SECRETS.items() if value in everything]
    assert leaked == []
