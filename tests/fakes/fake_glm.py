"""A GLM emulator: speaks Z.ai's chat-completions wire format, quirks included, and records every request.

Three stream generations, as recorded from the real service (`tests/recordings/`):
- "2025-09": no `object` field; answers open with "\\n"; every tool-call chunk carries
  `finish_reason: "tool_calls"`; the last chunk repeats it with `usage`;
- "2025-11": no `object`; the first chunk carries `"reasoning_content": "\\n"`; tool-call chunks carry no
  `finish_reason`; only the last chunk does, with `usage`;
- "2026": `object` present; no leading newlines; `finish_reason` and `usage` (with `reasoning_tokens`) only last.
With `tool_stream: true` in the request, tool-call arguments arrive in fragments (GLM-4.6 and newer).
When tools are offered, 2025 answers open with newlines ("\\n\\n" in 2025-09 bodies, "\\n" in 2025-11), even
beside tool calls. Bodies carry `request_id`, and no `object` before 2026.
Errors are `{"error": {"code": "<string>", "message": ...}}` with the HTTP status, or an error object inside
a 200 stream; `finish_reason: "network_error"` aborts an answer. A stream carries `usage` only when the request asked
with `stream_options: {"include_usage": true}`, as OpenAI and vLLM (GLM self-hosted) do.

The model is scripted: a list of replies taken in order, or a function of the request body.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Generation = str  # "2025-09" | "2025-11" | "2026"


@dataclass
class Reply:
    """One scripted assistant turn."""

    content: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    """(function name, raw arguments string), sent exactly as given."""
    finish_reason: str | None = None
    stream_error: dict[str, Any] | None = None
    """An error object sent inside the 200 stream after the text (streamed requests only)."""


@dataclass
class Failure:
    """An error answer: HTTP status, GLM business code (a string on the wire), message."""

    status: int
    code: str
    message: str
    retry_after: str | None = None


@dataclass
class Garbage:
    """An answer that is not GLM's format at all."""

    status: int = 200
    body: str = "<html>502 Bad Gateway</html>"
    media_type: str = "text/html"


Answer = Reply | Failure | Garbage
ScriptFnT = Callable[[dict[str, Any]], Answer]


def _words(text: str) -> list[str]:
    pieces: list[str] = []
    for index, word in enumerate(text.split(" ")):
        pieces.append(word if index == 0 else " " + word)
    return [piece for piece in pieces if piece]


class FakeGlm:
    """The emulator; `app` is the ASGI application, `requests` every body received, in order."""

    def __init__(
        self,
        script: Sequence[Answer] | ScriptFnT,
        *,
        generation: Generation = "2025-09",
        model: str = "glm-4.6",
        seed: int = 0,
    ) -> None:
        self.script: list[Answer] | ScriptFnT = script if callable(script) else list(script)
        self.generation = generation
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.connections: list[object] = []
        """Each request's client address (host, port): one entry per TCP connection when they are reused."""
        self.hold: anyio.Event | None = None
        """When an event, answers wait for it after setting `entered` (streams after their first chunk);
        `cancelled` is set if the wait is cancelled (the client went away)."""
        self.entered = anyio.Event()
        self.cancelled = anyio.Event()
        self._calls = 0
        self._random = random.Random(seed)
        self.app = Starlette(
            routes=[
                Route("/api/paas/v4/chat/completions", self._chat, methods=["POST"]),
                Route("/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    def _next(self, body: dict[str, Any]) -> Answer:
        if callable(self.script):
            return self.script(body)
        if not self.script:
            raise AssertionError("the fake GLM was asked more often than scripted")
        return self.script.pop(0)

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.connections.append(request.client)
        answer = self._next(body)
        self._calls += 1
        ident = f"2025{self._calls:06d}{self._random.randrange(16**16):016x}"
        if self.hold is not None and not body.get("stream"):
            await self._wait()
        if isinstance(answer, Failure):
            headers = {"Retry-After": answer.retry_after} if answer.retry_after else {}
            return JSONResponse(
                {"error": {"code": answer.code, "message": answer.message}}, answer.status, headers=headers
            )
        if isinstance(answer, Garbage):
            return Response(answer.body, answer.status, media_type=answer.media_type)
        if body.get("stream"):
            return StreamingResponse(
                self._stream(answer, ident, bool(body.get("tool_stream")), bool(body.get("tools")), _wants_usage(body)),
                media_type="text/event-stream;charset=UTF-8",
            )
        return JSONResponse(
            self._completion(answer, ident, bool(body.get("tools"))), media_type="application/json; charset=UTF-8"
        )

    async def _wait(self) -> None:
        assert self.hold is not None
        self.entered.set()
        try:
            await self.hold.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise

    def _finish(self, reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def _usage(self, reply: Reply) -> dict[str, Any]:
        completion = len(reply.content.split()) + len(reply.reasoning.split()) + 10 * len(reply.tool_calls)
        usage: dict[str, Any] = {
            "prompt_tokens": 100,
            "completion_tokens": completion,
            "total_tokens": 100 + completion,
            "prompt_tokens_details": {"cached_tokens": 43},
        }
        if self.generation == "2026":
            usage["completion_tokens_details"] = {"reasoning_tokens": len(reply.reasoning.split())}
        return usage

    def _call_id(self, index: int) -> str:
        if self.generation == "2025-09":
            return f"call_-{self._random.randrange(10**18, 10**19)}"
        return f"call_{self._random.randrange(16**24):024x}"

    def _completion(self, reply: Reply, ident: str, tools_offered: bool) -> dict[str, Any]:
        content = reply.content
        if tools_offered:
            content = {"2025-09": "\n\n", "2025-11": "\n"}.get(self.generation, "") + content
        message: dict[str, Any] = {"content": content, "role": "assistant"}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "function": {"arguments": arguments, "name": name},
                    "id": self._call_id(i),
                    "index": i,
                    "type": "function",
                }
                for i, (name, arguments) in enumerate(reply.tool_calls)
            ]
        body: dict[str, Any] = {
            "choices": [{"finish_reason": self._finish(reply), "index": 0, "message": message}],
            "created": int(time.time()),
            "id": ident,
            "model": self.model,
            "request_id": ident,
            "usage": self._usage(reply),
        }
        if self.generation == "2026":
            body["object"] = "chat.completion"
        return body

    async def _stream(
        self, reply: Reply, ident: str, tool_stream: bool, tools_offered: bool, usage: bool
    ) -> AsyncIterator[str]:
        head: dict[str, Any] = {"id": ident, "created": int(time.time())}
        if self.generation == "2026":
            head["object"] = "chat.completion.chunk"
        head["model"] = self.model

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choice: dict[str, Any] = {"index": 0}
            if finish:
                choice["finish_reason"] = finish
            choice["delta"] = delta
            return "data: " + json.dumps({**head, "choices": [choice], **extra}, ensure_ascii=False) + "\n\n"

        finish = self._finish(reply)
        if self.generation == "2025-11":
            yield chunk({"role": "assistant", "content": "", "reasoning_content": "\n"})
        if self.hold is not None:  # a streamed answer stalls after its first bytes
            yield chunk({"role": "assistant", "reasoning_content": "..."})
            await self._wait()
        reasoning = reply.reasoning
        content = reply.content
        newlines = tools_offered and self.generation != "2026"
        if newlines and self.generation == "2025-09":
            yield chunk({"role": "assistant", "content": "\n"})
        for word in _words(reasoning):
            yield chunk({"role": "assistant", "reasoning_content": word})
        if newlines:
            yield chunk({"role": "assistant", "content": "\n"})
        for word in _words(content):
            yield chunk({"role": "assistant", "content": word})
        if reply.stream_error is not None:
            yield "data: " + json.dumps({"error": reply.stream_error}) + "\n\n"
            return
        for index, (name, arguments) in enumerate(reply.tool_calls):
            call_id = self._call_id(index)
            per_call = finish if self.generation == "2025-09" else None
            if tool_stream:
                first = {"id": call_id, "index": index, "type": "function", "function": {"name": name, "arguments": ""}}
                yield chunk({"tool_calls": [first]}, per_call)
                for start in range(0, len(arguments), 7):
                    fragment = {"index": index, "function": {"arguments": arguments[start : start + 7]}}
                    yield chunk({"tool_calls": [fragment]}, per_call)
            else:
                whole = {
                    "id": call_id,
                    "index": index,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                yield chunk({"tool_calls": [whole]}, per_call)
        if usage:
            yield chunk({"role": "assistant", "content": ""}, finish, usage=self._usage(reply))
        else:
            yield chunk({"role": "assistant", "content": ""}, finish)
        yield "data: [DONE]\n\n"


def _wants_usage(body: dict[str, Any]) -> bool:
    """Whether a streamed request asked for usage (`stream_options.include_usage`): OpenAI and vLLM send the usage
    chunk only then, so the emulator does too; the gateway always asks."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(cast(dict[str, Any], options).get("include_usage"))
