"""Bad input thrown at every HTTP endpoint: always a 4xx with a JSON error, never a 500; Host and Origin checks."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import cast

import anyio
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, ModelConfig
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import asgi_lifespan, inproc, memo_adding_server, serve_asgi


@asynccontextmanager
async def client() -> AsyncGenerator[httpx2.AsyncClient, None]:
    fake = FakeGlm(lambda body: Reply(content="fine"))
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"))
        app = build_app(Gateway(GatewayConfig(servers={"memo": inproc(memo_adding_server())}, model=model)))
        async with (
            asgi_lifespan(app),
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://127.0.0.1:8765") as http,
        ):
            yield http


texts = st.text(max_size=20) | st.text(
    st.characters(max_codepoint=0x7F) | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=8
)  # surrogates too, whole pairs and lone halves, which `json.dumps` escapes
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
near_requests = st.fixed_dictionaries(
    {
        "messages": st.one_of(
            json_values,
            st.lists(st.dictionaries(st.sampled_from(["role", "content", "tool_calls"]), json_values), max_size=3),
        )
    },
    optional={
        "tools": json_values,
        "tool_choice": json_values,
        "stream": json_values,
        "glm_mcp": json_values,
        "model": json_values,
        "n": json_values,
        "stream_options": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_requests.map(lambda v: json.dumps(v).encode()),
)


FACES = ["/v1/chat/completions", "/v1/messages", "/v1/responses"]


@pytest.mark.slow
async def test_fuzzed_bodies_never_get_a_500_and_always_a_json_answer() -> None:
    async with client() as http:
        results: list[tuple[str, int]] = []

        @settings(
            max_examples=300,
            deadline=None,
            suppress_health_check=cast(list[HealthCheck], list(HealthCheck)),
            database=None,
        )
        @given(body=bodies, path=st.sampled_from([*FACES, "/v1/models", "/readyz", "/nope", "/mcp"]))
        def check(body: bytes, path: str) -> None:
            async def one() -> None:
                headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
                response = await http.post(path, content=body, headers=headers)
                results.append((path, response.status_code))
                assert response.status_code < 500, (path, body, response.text)
                if response.headers.get("content-type", "").startswith("application/json"):
                    json.loads(response.text)
                elif path != "/mcp" and response.status_code != 200:
                    raise AssertionError(f"{path} answered {response.status_code} without JSON: {response.text[:100]}")

            anyio.from_thread.run(one)

        await anyio.to_thread.run_sync(check)
    assert {status for path, status in results if path == "/nope"} == {404}
    assert {status for path, status in results if path == "/v1/models"} == {405}


async def test_half_an_emoji_in_a_request_is_refused_with_400_naming_where_it_is() -> None:
    messages = '{"model": "glm-4.6", "max_tokens": 9, "messages": [{"role": "user", "content": "hi \\ud83d"}]}'
    lone = {**dict.fromkeys(FACES[:2], messages), FACES[2]: '{"model": "glm-4.6", "input": "hi \\ud83d"}'}
    call = '{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "memo__add\\ud83d"}}'
    async with client() as http:
        for path, body in lone.items():
            refused = await http.post(path, content=body, headers={"content-type": "application/json"})
            where = "input" if path == "/v1/responses" else "messages[0].content"
            message = refused.json()["error"]["message"]
            assert refused.status_code == 400 and f"{where} holds half of a UTF-16 surrogate pair" in message, path
            whole = body.replace("\\ud83d", "\\ud83d\\ude00")  # the whole pair is an emoji, and welcome
            answered = await http.post(path, content=whole, headers={"content-type": "application/json"})
            assert answered.status_code == 200, (path, answered.text)
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        mcp = await http.post("/mcp", content=call, headers=headers)
    assert mcp.status_code == 400 and mcp.json()["error"]["code"] == -32700


async def test_oversized_bodies_are_refused_with_413() -> None:
    async with client() as http:
        response = await http.post(
            "/v1/chat/completions", content=b"x" * (9 * 2**20), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413 and "larger than" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": "evil.example.com"}, 421),
        ({"origin": "https://evil.example.com"}, 403),
        ({"origin": "http://localhost:3000"}, 403),
        ({}, 200),
    ],
)
async def test_v1_checks_host_and_origin_against_dns_rebinding(headers: dict[str, str], status: int) -> None:
    async with client() as http:
        response = await http.get("/v1/models", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


async def test_too_many_client_tools_are_refused() -> None:
    tools = [{"type": "function", "function": {"name": f"t{i}", "parameters": {"type": "object"}}} for i in range(129)]
    async with client() as http:
        response = await http.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "tools": tools}
        )
    assert response.status_code == 400 and response.json()["error"]["param"] == "tools"


async def test_optional_whitespace_around_mcp_header_values_is_not_part_of_them() -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "memo__count",
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            },
        },
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": " 2026-07-28",
        "mcp-method": "tools/call\t",
        "mcp-name": "memo__count  ",
    }
    async with client() as http:
        answered = await http.post("/mcp", json=call, headers=headers)
    assert answered.status_code == 200, answered.text
    assert '"result"' in answered.text and '"error"' not in answered.text, answered.text
