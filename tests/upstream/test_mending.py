"""Half an emoji from a server: a lone surrogate escape in an answer (as a JavaScript server that cut a string writes
it) reaches the client as U+FFFD at once, over stdio, streamable HTTP and SSE, instead of the SDK dropping the answer
and the call waiting for its timeout."""

from __future__ import annotations

import logging

import anyio
import mcp.types as T
import pytest
from mcp import Client

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig, UpstreamConfig
from glm_mcp.faces.mcp.server import build_server
from glm_mcp.gateway.core import Gateway
from tests.fixture_servers.raw_http_server import MENDED_TEXT, raw_http_app
from tests.helpers import python_server, serve_asgi

BOUND_SECONDS = 20
"""Far below the call timeout the dropped answer used to wait for, far above a mended call's milliseconds."""


async def _two_calls(upstream: UpstreamConfig, tool: str) -> list[str]:
    async with Gateway(GatewayConfig(servers={"cut": upstream})).running() as gateway:
        async with Client(build_server(gateway), mode="legacy") as editor:
            texts: list[str] = []
            for _ in range(2):
                with anyio.fail_after(BOUND_SECONDS):
                    result = await editor.call_tool(tool, {"text": "hi"})
                block = result.content[0]
                assert isinstance(block, T.TextContent) and not result.is_error
                texts.append(block.text)
    return texts


@pytest.mark.parametrize("kind", ["http", "sse"])
async def test_half_an_emoji_from_an_http_server_is_read_as_a_replacement_character(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve_asgi(raw_http_app()) as url:
        path = "/mcp" if kind == "http" else "/sse"
        upstream = HttpUpstreamConfig(url=f"{url}{path}", type=kind)  # pyright: ignore[reportArgumentType]  # a literal
        with caplog.at_level(logging.WARNING):
            texts = await _two_calls(upstream, "cut__cut")
    assert texts == [MENDED_TEXT, MENDED_TEXT]  # the lone half replaced, the whole pair kept
    warned = [r.getMessage() for r in caplog.records if "surrogate" in r.getMessage()]
    assert len(warned) == 1 and "server 'cut'" in warned[0]


async def test_half_an_emoji_from_a_stdio_server_is_read_as_a_replacement_character(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        texts = await _two_calls(python_server("raw_server.py", "--half-emoji"), "cut__echo")
    assert texts == ['{"text": "hi"}\ufffd'] * 2
    warned = [r.getMessage() for r in caplog.records if "surrogate" in r.getMessage()]
    assert len(warned) == 1 and "server 'cut'" in warned[0]


async def test_bytes_that_are_not_utf8_from_a_stdio_server_are_read_as_a_replacement_character() -> None:
    # A server writing Latin-1 ("café" as 63 61 66 e9): strict decoding ended the session and the call waited.
    texts = await _two_calls(python_server("raw_server.py", "--latin-1"), "cut__echo")
    assert texts == ['{"text": "hi"} caf\ufffd'] * 2
