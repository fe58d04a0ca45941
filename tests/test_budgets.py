"""Budgets per caller in one process (no Redis): requests a minute, runs at once, GLM tokens a day, on every face."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, ModelConfig, ServeConfig, parse_config
from glm_mcp.errors import ConfigError
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import serve_asgi

CHAT = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "glm-4.6", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


@asynccontextmanager
async def gateway_with(fake: FakeGlm, **serve: Any) -> AsyncGenerator[httpx2.AsyncClient, None]:
    async with serve_asgi(fake.app) as glm:
        model = ModelConfig(base_url=glm, api_key=SecretStr("k"))
        config = GatewayConfig(model=model, gateway=ServeConfig.model_validate(serve))
        async with serve_asgi(build_app(Gateway(config))) as url, httpx2.AsyncClient(base_url=url, timeout=30) as http:
            yield http


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_per_day_refuse_the_next_run_on_every_face_once_spent() -> None:
    fake = FakeGlm(lambda body: Reply(content="hello there"))  # 100 prompt + 2 completion tokens a request
    async with gateway_with(fake, auth_tokens=["tok-abcdef"], limits={"tokens_per_day": 100}) as http:
        first = await http.post("/v1/chat/completions", json=CHAT, headers=_bearer("tok-abcdef"))
        assert first.status_code == 200
        second = await http.post("/v1/chat/completions", json=CHAT, headers=_bearer("tok-abcdef"))
        assert second.status_code == 429
        assert second.json()["error"]["type"] == "rate_limit_error"
        assert "over tokens_per_day" in second.json()["error"]["message"]
        assert "102 of 100" in second.json()["error"]["message"]
        assert 0 < int(second.headers["Retry-After"]) <= 86_400
        claude = await http.post("/v1/messages", json=MESSAGES, headers={"x-api-key": "tok-abcdef"})
        assert claude.status_code == 429
        assert claude.json()["type"] == "error" and claude.json()["error"]["type"] == "rate_limit_error"
        assert "tokens_per_day" in claude.json()["error"]["message"]
    assert len(fake.requests) == 1  # the refused runs never reached GLM


async def test_concurrent_runs_refuse_a_second_run_while_the_first_holds_its_slot() -> None:
    fake = FakeGlm(lambda body: Reply(content="done"))
    fake.hold = anyio.Event()
    async with gateway_with(fake, auth_tokens=["tok-abcdef"], limits={"concurrent_runs": 1}) as http:
        answers: list[int] = []

        async def first() -> None:
            answers.append(
                (await http.post("/v1/chat/completions", json=CHAT, headers=_bearer("tok-abcdef"))).status_code
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await fake.entered.wait()
            refused = await http.post("/v1/chat/completions", json=CHAT, headers=_bearer("tok-abcdef"))
            assert refused.status_code == 429
            assert "over concurrent_runs" in refused.json()["error"]["message"]
            assert refused.headers["Retry-After"] == "2"
            fake.hold.set()
        assert answers == [200]
        again = await http.post("/v1/chat/completions", json=CHAT, headers=_bearer("tok-abcdef"))
        assert again.status_code == 200  # the slot came back when the run ended


async def test_a_tokens_own_limits_override_the_global_ones_and_are_counted_per_person() -> None:
    fake = FakeGlm(lambda body: Reply(content="ok"))
    tokens = [{"name": "ada", "token": "ada-token-1", "limits": {"requests_per_minute": 2}}, "plain-token-1"]
    async with gateway_with(fake, auth_tokens=tokens, limits={"requests_per_minute": 100}) as http:
        statuses = [
            (await http.post("/v1/chat/completions", json=CHAT, headers=_bearer("ada-token-1"))).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        plain = [
            (await http.post("/v1/chat/completions", json=CHAT, headers=_bearer("plain-token-1"))).status_code
            for _ in range(3)
        ]
        assert plain == [200, 200, 200]
        metrics = (await http.get("/metrics", headers=_bearer("plain-token-1"))).text
        assert 'glm_mcp_caller_refusals_total{caller="person:ada",limit="requests_per_minute"} 1.0' in metrics
        assert 'glm_mcp_caller_tokens_total{caller="person:ada"} 202.0' in metrics
        status = (await http.get("/admin/status", headers=_bearer("plain-token-1"))).json()
        ada = next(row for row in status["usage"] if row["caller"] == "person:ada")
        assert ada["tokens_today"] == 202 and ada["requests_this_minute"] == 3
        assert ada["limits"] == {"requests_per_minute": 2}


async def test_an_mcp_request_over_its_budget_gets_a_json_rpc_error_with_retry_after() -> None:
    async with gateway_with(FakeGlm([]), auth_tokens=["tok-abcdef"], limits={"requests_per_minute": 1}) as http:
        headers = {**_bearer("tok-abcdef"), "Accept": "application/json, text/event-stream"}
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        await http.post("/mcp", json=ping, headers=headers)
        refused = await http.post("/mcp", json=ping, headers=headers)
        assert refused.status_code == 429
        body = refused.json()
        assert body["jsonrpc"] == "2.0" and body["error"]["data"] == {"limit": "requests_per_minute"}
        assert "1 requests a minute" in body["error"]["message"]
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await http.get("/v1/models", headers=_bearer("tok-abcdef"))).status_code == 200  # not counted


def test_limits_in_the_config_are_checked_with_a_message_that_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"gateway\.limits\.requests_per_minute"):
        parse_config({"gateway": {"limits": {"requests_per_minute": 0}}}, {})
    with pytest.raises(ConfigError, match="tokens_per_minute"):
        parse_config({"gateway": {"limits": {"tokens_per_minute": 5}}}, {})
    with pytest.raises(ConfigError, match="redis://"):
        parse_config({"gateway": {"redis_url": "localhost:6379"}}, {})
    own = {"name": "ada", "token": "ada-token-1", "limits": {"requests_per_minute": "many"}}
    with pytest.raises(ConfigError, match=r"auth_tokens\[1\]\.limits\.requests_per_minute: .*valid integer"):
        parse_config({"gateway": {"auth_tokens": ["plain-token-1", own]}}, {})
    with pytest.raises(ConfigError, match=r"gateway\.otel\.endpoint: .*http://host:4318"):
        parse_config({"gateway": {"otel": {"endpoint": "collector:4318"}}}, {})


def test_the_redis_url_comes_from_the_environment_when_the_config_names_none() -> None:
    config = parse_config({}, {"GLM_MCP_REDIS_URL": "redis://cache:6379/0"})
    assert config.gateway.redis_url is not None
    assert config.gateway.redis_url.get_secret_value() == "redis://cache:6379/0"
    assert "cache:6379" not in repr(config.gateway)  # a URL may hold a password: never printed
