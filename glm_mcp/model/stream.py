"""Reading GLM's answers, JSON or SSE, into a `Turn`, quirks included. No I/O of its own: a stream's lines come
from whoever reads the connection.

Contract (glm-api.md §4, §5, §8):
- a stream is read to `data: [DONE]`: `finish_reason` may come on every tool-call chunk (2025-09), only on
  the last chunk (2025-11, 2026), or never; the last one seen wins;
- a tool call may come whole in one delta or in fragments by `index` (`tool_stream`); fragments are joined;
- the `object` field may be missing; `role` may repeat on every delta; content may be "\\n" beside tool calls;
- an `error` object inside a 200 stream, or a JSON body with one, raises `ModelHTTPError` with GLM's code;
- a stream's text is handed on as it comes, the lines of one read as one delta of each kind, the first as soon as
  it is read;
- text is made well-formed: a surrogate pair escaped across two chunks (`\\ud83d`, then `\\ude00`) is joined, a
  lone surrogate becomes U+FFFD, so no answer fails to encode as UTF-8.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio.lowlevel

from glm_mcp._json import as_list, as_object, loads, well_formed
from glm_mcp.errors import ModelError, ModelHTTPError, ModelResponseError
from glm_mcp.model.messages import ToolCall, Turn
from glm_mcp.model.profile import CODE_HINTS, RETRYABLE_CODES

DeltaFnT = Callable[[str, str], Awaitable[None]]
"""Called with ("content" | "reasoning_content", text) as a streamed answer arrives, and with ("retry", a JSON
object) when an attempt failed and is retried: `{"attempt", "reason"}`, or, once the retry's text departs from
what was handed on, `{"attempt", "replaces": {"kind", "from_char"}}`."""


MAX_ANSWER_BYTES = 64 * 2**20
"""The most of an answer kept at once: a whole body, or a stream's line so far. Past it the answer is refused, not
kept: a `base_url` that leads somewhere other than a model's API must not fill the gateway's memory."""


async def lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[str]]:
    """The lines of a body arriving as `chunks` (without their ends), as lists: the lines each chunk completed.

    Raises:
        ModelResponseError: A line runs past `MAX_ANSWER_BYTES`.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending: list[str] = []
    size = 0
    async for chunk in chunks:
        text = decoder.decode(chunk)
        if "\n" not in text:  # a part of a long line: kept in pieces, not joined again with each one
            pending.append(text)
            size += len(text)
            if size > MAX_ANSWER_BYTES:
                raise ModelResponseError(f"the model endpoint sent a line longer than {_MIB} MiB; {_CHECK_URL}")
            continue
        *lines, rest = ("".join(pending) + text if pending else text).split("\n")
        pending, size = ([rest], len(rest)) if rest else ([], 0)
        yield [line[:-1] if line.endswith("\r") else line for line in lines]
    if last := "".join(pending) + decoder.decode(b"", final=True):
        yield [last]


async def read_whole(chunks: AsyncIterator[bytes]) -> bytes:
    """A body arriving as `chunks`, whole.

    Raises:
        ModelResponseError: It is larger than `MAX_ANSWER_BYTES`.
    """
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ModelResponseError(f"the model endpoint's answer is larger than {_MIB} MiB; {_CHECK_URL}")
        parts.append(chunk)
    return b"".join(parts)


_MIB = MAX_ANSWER_BYTES // 2**20
_CHECK_URL = "is model.base_url a model's API (Z.ai's, or a vLLM or SGLang server's /v1)?"


def error_from_body(status_code: int, text: str, retry_after: float | None = None) -> ModelHTTPError:
    """Build the error for an error answer: GLM's `{"error": {"code": "1302", "message": ...}}` or a variant."""
    code: str | None = None
    message = text.strip()[:500] or f"HTTP {status_code}"
    try:
        data = as_object(json.loads(text))
    except (ValueError, TypeError):
        data = None
    if data is not None:
        error: Any = data.get("error", data)
        if (fields := as_object(error)) is not None:
            if fields.get("code") is not None:
                code = str(fields["code"])
            if raw_message := fields.get("message") or fields.get("msg"):
                message = str(raw_message)
        elif isinstance(error, str):
            message = error
    hint = CODE_HINTS.get(code or "")
    full = f"{message} ({hint})" if hint else message
    return ModelHTTPError(full, upstream_status=status_code, code=code, body=text, retry_after=retry_after)


def is_retryable(error: ModelHTTPError) -> bool:
    """Whether an error is worth a retry after a pause."""
    if error.code in CODE_HINTS:
        return False
    if error.code in RETRYABLE_CODES:
        return True
    status = error.upstream_status or 0
    return status == 429 and error.code is None or status >= 500


def parse_completion(data: Any) -> Turn:
    """Read a non-streamed answer.

    Raises:
        ModelHTTPError: The body is an error object.
        ModelResponseError: The body is not a chat completion.
    """
    body = as_object(data)
    if body is None:
        raise ModelResponseError("the model endpoint answered with something that is not a JSON object")
    if "error" in body:
        raise error_from_body(200, json.dumps(body))
    choices = as_list(body.get("choices")) or []
    choice = as_object(choices[0]) if choices else None
    if choice is None:
        raise ModelResponseError("the model endpoint answered without choices")
    message = as_object(choice.get("message") or {})
    if message is None:
        raise ModelResponseError("the model endpoint answered with a message that is not an object")
    turn = Turn(
        content=_text(message.get("content")),
        reasoning_content=_text(message.get("reasoning_content")),
        finish_reason=choice.get("finish_reason"),
        usage=as_object(body.get("usage")),
        id=body.get("id"),
        model=body.get("model"),
    )
    for position, raw in enumerate(as_list(message.get("tool_calls")) or []):
        turn.tool_calls.append(_tool_call(raw, position))
    return _well_formed(turn)


def _well_formed(turn: Turn) -> Turn:
    """`turn` with every text the model sent in it well-formed (see `_json.well_formed`): what the faces write of it
    always encodes as UTF-8."""
    turn.content = well_formed(turn.content)
    turn.reasoning_content = well_formed(turn.reasoning_content)
    for field in ("id", "model", "finish_reason"):
        if isinstance(value := getattr(turn, field), str):
            setattr(turn, field, well_formed(value))
    for call in turn.tool_calls:
        call.id, call.name, call.arguments = well_formed(call.id), well_formed(call.name), well_formed(call.arguments)
    return turn


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    parts = as_list(value)  # content parts
    if parts is None:
        return ""
    return "".join(str(part.get("text", "")) for item in parts if (part := as_object(item)) is not None)


def _arguments(value: Any) -> str:
    # The OpenAPI spec mistypes arguments as an object; some servers really send one.
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _tool_call(raw: Any, position: int) -> ToolCall:
    call = as_object(raw)
    if call is None:
        raise ModelResponseError("the model sent a tool call that is not an object")
    function = as_object(call.get("function")) or {}
    index = call.get("index", position)
    return ToolCall(
        id=str(call.get("id") or f"call_{position}"),
        name=str(function.get("name") or ""),
        arguments=_arguments(function.get("arguments")),
        index=index if isinstance(index, int) else position,
    )


class StreamAssembler:
    """Feeds on the JSON of each `data:` line; `turn()` is the assembled answer."""

    def __init__(self) -> None:
        self._turn = Turn()
        self._calls: dict[int, ToolCall] = {}
        self._held: dict[str, str] = {}
        """A kind's last high surrogate, kept to be joined with the low one the next chunk may open with."""
        self.done = False

    def feed_line(self, line: str) -> list[tuple[str, str]]:
        """Read one SSE line; returns the ("content" | "reasoning_content", text) deltas it carried.

        Raises:
            ModelHTTPError: The line carries an error object.
            ModelResponseError: The line is not JSON.
        """
        if not line.startswith("data:"):
            return []
        payload = line[5:].strip()
        if payload == "[DONE]":
            self.done = True
            return []
        if not payload:
            return []
        try:
            chunk = loads(payload, lone_surrogates=True)  # made well-formed as they are read
        except ValueError:
            raise ModelResponseError(f"the model stream carried a line that is not JSON: {payload[:200]}") from None
        return self.feed(chunk)

    def feed(self, chunk: Any) -> list[tuple[str, str]]:
        """Read one parsed chunk; returns its content and reasoning deltas."""
        data = as_object(chunk)
        if data is None:
            raise ModelResponseError("the model stream carried a chunk that is not a JSON object")
        if "error" in data:
            raise error_from_body(200, json.dumps(data))
        turn = self._turn
        turn.id = turn.id or data.get("id")
        turn.model = turn.model or data.get("model")
        if (usage := as_object(data.get("usage"))) is not None:
            turn.usage = usage
        deltas: list[tuple[str, str]] = []
        for item in as_list(data.get("choices")) or []:
            choice = as_object(item)
            delta = as_object(choice.get("delta") or {}) if choice is not None else None
            if choice is None or delta is None:
                continue
            for key in ("reasoning_content", "content"):
                text = delta.get(key)
                if not isinstance(text, str) or not text:
                    continue
                if self._held or not text.isascii():
                    text = self._whole(key, text)
                if text:
                    deltas.append((key, text))
                    self._add(key, text)
            for raw in as_list(delta.get("tool_calls")) or []:
                self._merge_call(raw)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                turn.finish_reason = finish
        return deltas

    def _add(self, kind: str, text: str) -> None:
        if kind == "content":
            self._turn.content += text
        else:
            self._turn.reasoning_content += text

    def _whole(self, kind: str, text: str) -> str:
        """`text` well-formed, joined to the high surrogate kept from the last chunk, a high surrogate at its end kept
        in turn."""
        text = self._held.pop(kind, "") + text
        if "\ud800" <= text[-1] <= "\udbff":
            self._held[kind] = text[-1]
            text = text[:-1]
        return well_formed(text)

    def rest(self) -> list[tuple[str, str]]:
        """The deltas still kept at the stream's end: a high surrogate no low one followed, as U+FFFD."""
        deltas = [(kind, "\ufffd") for kind in self._held]
        self._held.clear()
        for kind, text in deltas:
            self._add(kind, text)
        return deltas

    def _merge_call(self, raw: Any) -> None:
        fragment = as_object(raw)
        if fragment is None:
            raise ModelResponseError("the model stream carried a tool call that is not an object")
        index_value = fragment.get("index")
        index = index_value if isinstance(index_value, int) else len(self._calls)
        function = as_object(fragment.get("function")) or {}
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = ToolCall(id="", name="", arguments="", index=index)
        if fragment.get("id"):
            call.id = str(fragment["id"])
        if function.get("name"):
            call.name = str(function["name"])
        call.arguments += _arguments(function.get("arguments"))

    def turn(self) -> Turn:
        """The answer assembled so far, tool calls in index order."""
        turn = self._turn
        turn.tool_calls = [self._calls[index] for index in sorted(self._calls)]
        for position, call in enumerate(turn.tool_calls):
            call.id = call.id or f"call_{position}"
        return _well_formed(turn)  # tool calls' fragments joined first, so a pair split between two is whole


async def read_stream(batches: AsyncIterator[list[str]], on_delta: DeltaFnT) -> StreamAssembler:
    """Read a stream's lines, a batch per read of the connection, to `data: [DONE]` or their end, handing its text
    to `on_delta`; the assembler holds the answer.

    Raises:
        ModelHTTPError: The stream carried an error object (after the text before it was handed on).
        ModelResponseError: A line is not JSON.
    """
    assembler = StreamAssembler()
    first = True
    async for lines in batches:
        # GLM often sends several chunks in a packet; each delta handed on costs the client a frame and a write.
        deltas: list[tuple[str, str]] = []
        failure: ModelError | None = None
        for line in lines:
            try:
                deltas += assembler.feed_line(line)
            except ModelError as exc:
                failure = exc
                break
            if assembler.done:
                break
        for kind, text in _joined(deltas):
            await on_delta(kind, text)
            if first:
                # The loop is handed back once after the first text: the host writes what a task sent when the task
                # gives the loop back, so the first token leaves now, not after the rest of the read is handed on.
                first = False
                await anyio.lowlevel.checkpoint()
        if failure is not None:
            raise failure
        if assembler.done:
            break
    for kind, text in assembler.rest():
        await on_delta(kind, text)
    return assembler


def _joined(deltas: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive deltas of the same kind as one."""
    joined: list[tuple[str, str]] = []
    for kind, text in deltas:
        if joined and joined[-1][0] == kind:
            joined[-1] = (kind, joined[-1][1] + text)
        else:
            joined.append((kind, text))
    return joined
