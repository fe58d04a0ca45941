"""The emulator speaks what GLM speaks: its streams and bodies have the recorded shapes, generation by generation."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.fakes.fake_glm import FakeGlm, Reply
from tests.replay import GENERATIONS, exchanges, recordings, sse_chunks


def _shape(chunk: dict[str, Any] | str) -> str:
    """What matters of a chunk: object field, delta keys (a lone newline marked), finish_reason, usage."""
    if isinstance(chunk, str):
        return chunk
    choice: dict[str, Any] = chunk["choices"][0] if chunk.get("choices") else {}
    delta: dict[str, Any] = choice.get("delta", {})
    keys: list[str] = []
    for key, value in delta.items():
        if key == "tool_calls":
            keys.append("tool_calls:" + ",".join(sorted(value[0])))
        elif key == "content":
            keys.append({"\n": "content=NL", "": "content=''"}.get(value, "content"))
        elif key == "reasoning_content":
            keys.append("reasoning=NL" if value == "\n" else "reasoning")
        else:
            keys.append(key)
    # Empty content beside reasoning, and newlines inside reasoning, are noise of the real stream.
    shape = ",".join(keys).replace("content='',reasoning=NL", "FIRST").replace("content='',reasoning", "reasoning")
    shape = shape.replace("reasoning=NL", "reasoning").replace("content,reasoning", "content")
    finish = f" finish={choice['finish_reason']}" if choice.get("finish_reason") else ""
    return ("object " if "object" in chunk else "") + shape + finish + (" usage" if "usage" in chunk else "")


def _runs(shapes: list[str]) -> list[str]:
    """Runs of equal shapes; a mid-stream lone newline is text like any other."""
    normal: list[str] = []
    for index, shape in enumerate(shapes):
        if index > 0:
            shape = shape.replace("FIRST", "reasoning")
            if "content=NL" in shape and normal and normal[-1].endswith(",content"):
                shape = shape.replace("content=NL", "content")
        normal.append(shape)
    return [shape for shape, _ in itertools.groupby(normal)]


def _reply_from(chunks: list[dict[str, Any] | str]) -> Reply:
    content = reasoning = ""
    calls: list[tuple[str, str]] = []
    for chunk in chunks:
        if isinstance(chunk, str):
            continue
        delta = chunk["choices"][0].get("delta", {})
        content += delta.get("content") or ""
        reasoning += delta.get("reasoning_content") or ""
        calls += [(call["function"]["name"], call["function"]["arguments"]) for call in delta.get("tool_calls", [])]
    return Reply(content=content.strip("\n"), reasoning=reasoning.strip("\n"), tool_calls=calls)


@pytest.mark.parametrize("path", recordings("*stream*.yaml"), ids=lambda p: f"{p.parent.name}/{p.name}")
async def test_streams_have_the_recorded_shape(path: Path) -> None:
    for exchange in exchanges(path):
        recorded = sse_chunks(exchange.body)
        fake = FakeGlm([_reply_from(recorded)], generation=GENERATIONS[path.parent.name])
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(fake.app), base_url="http://glm") as http:
            response = await http.post("/chat/completions", json={**exchange.request, "stream": True})
        emulated = sse_chunks(response.text)
        assert response.headers["content-type"] == "text/event-stream;charset=UTF-8"
        assert _runs([_shape(c) for c in emulated]) == _runs([_shape(c) for c in recorded])


@pytest.mark.parametrize(
    "path", [p for p in recordings("*.yaml") if "stream" not in p.name], ids=lambda p: f"{p.parent.name}/{p.name}"
)
async def test_bodies_have_the_recorded_fields(path: Path) -> None:
    for exchange in exchanges(path):
        recorded = json.loads(exchange.body)
        message = recorded["choices"][0]["message"]
        reply = Reply(
            content=(message.get("content") or "").lstrip("\n"),
            reasoning=message.get("reasoning_content", ""),
            tool_calls=[(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls", [])],
        )
        fake = FakeGlm([reply], generation=GENERATIONS[path.parent.name])
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(fake.app), base_url="http://glm") as http:
            emulated = (await http.post("/chat/completions", json=exchange.request)).json()
        assert sorted(emulated) == sorted(recorded)
        assert sorted(emulated["choices"][0]) == sorted(recorded["choices"][0])
        assert sorted(emulated["choices"][0]["message"]) == sorted(message)
        assert emulated["choices"][0]["message"]["content"] == message["content"]
        for made, real in zip(
            emulated["choices"][0]["message"].get("tool_calls", []), message.get("tool_calls", []), strict=True
        ):
            assert sorted(made) == sorted(real) and made["function"] == real["function"]
        assert sorted(emulated["usage"]) == sorted(recorded["usage"])
