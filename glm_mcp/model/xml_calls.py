"""GLM's native tool-call format, when it leaks into text instead of arriving as structured calls. No I/O.

Self-hosted GLM (vLLM, SGLang, llama.cpp) with a missing or mismatched tool-call parser writes its calls as
text (glm-api.md §7). The glm45 form puts the name on the first line and each argument on its own lines:

    <tool_call>get_weather
    <arg_key>city</arg_key>
    <arg_value>Beijing</arg_value>
    </tool_call>

the glm47 form allows the arguments on the name's line, and zero-argument calls `<tool_call>name</tool_call>`.

Contract:
- `LeakFilter` reads text as it arrives (whole or in deltas), holds back only what may still become a call,
  and turns every complete block that names an offered tool into a `LeakedCall`, removed from the text; a block
  the text ends inside that names an offered tool is a `LeakedCall` marked `cut_off` (it must never run); a
  block naming anything else and all other text come out unchanged;
- `clean_name` and `clean_value` remove the format's tags that leak into a structured call.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
_NAME = re.compile(r"\s*([^\s<]+)\s*")
_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)
_TAGS = ("<tool_call>", "</tool_call>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>")


@dataclass(frozen=True)
class LeakedCall:
    """A call found in text: the tool's name and its arguments as written (every value a string)."""

    name: str
    arguments: dict[str, str]
    cut_off: bool = False
    """The block never closed (the answer ended inside it): such a call must not run."""


def parse_block(body: str) -> LeakedCall | None:
    """The call inside one `<tool_call>…</tool_call>` block, or None if it is not in the format."""
    name = _NAME.match(body)
    if name is None:
        return None
    rest = body[name.end() :]
    pairs = list(_PAIR.finditer(rest))
    leftover = _PAIR.sub("", rest).strip()
    if leftover:
        return None
    arguments: dict[str, str] = {}
    for pair in pairs:
        key = pair.group(1).strip()
        if not key or key in arguments:
            return None
        arguments[key] = pair.group(2)
    return LeakedCall(name.group(1), arguments)


def parse_pairs(text: str) -> dict[str, str] | None:
    """Arguments written as `<arg_key>…</arg_key><arg_value>…</arg_value>` pairs, or None if they are not."""
    if not text.lstrip().startswith("<arg_key>"):
        return None
    call = parse_block("x " + text.replace(CLOSE, ""))
    return call.arguments if call is not None and call.arguments else None


def clean_name(name: str) -> str:
    """A structured call's name without leaked tags: `get_weather</tool_call>` is `get_weather`."""
    if "<" not in name:
        return name
    for tag in _TAGS:
        name = name.replace(tag, " ")
    parts = name.split()
    return parts[0] if parts else ""


def clean_value(value: str) -> str:
    """A string value without the format's tags around it: `<arg_value>Beijing</arg_value>` is `Beijing`."""
    if "<" not in value:
        return value
    cleaned = strip_trailing_tags(value.removeprefix("<arg_value>"), strip_space=False)
    return cleaned or value  # a value that is nothing but a tag is what the model wrote, not a leak around one


def strip_trailing_tags(text: str, *, strip_space: bool = True) -> str:
    """Text followed by leaked closing tags: `{"a": 1}</tool_call>` is `{"a": 1}`."""
    while True:
        trimmed = text.rstrip() if strip_space else text
        for tag in ("</tool_call>", "</arg_value>"):
            if trimmed.endswith(tag):
                text = trimmed[: -len(tag)]
                break
        else:
            return trimmed


class LeakFilter:
    """Takes leaked calls to offered tools out of a text stream.

    `feed` returns the text that can be shown now; `finish` returns what was held back at the end.
    `calls` are the calls taken out, in order.
    """

    def __init__(self, offered: Collection[str]) -> None:
        self.offered = offered
        self.calls: list[LeakedCall] = []
        self.shown = ""
        """All the text given out so far."""
        self._held = ""

    def feed(self, text: str) -> str:
        if not self._held and "<" not in text:
            self.shown += text
            return text
        buffer = self._held + text
        out: list[str] = []
        while True:
            start = buffer.find(OPEN)
            if start < 0:
                keep = _partial_open(buffer)
                out.append(buffer[: len(buffer) - keep])
                self._held = buffer[len(buffer) - keep :]
                break
            out.append(buffer[:start])
            end = buffer.find(CLOSE, start + len(OPEN))
            if end < 0:
                self._held = buffer[start:]
                break
            block = buffer[start : end + len(CLOSE)]
            call = parse_block(block[len(OPEN) : -len(CLOSE)])
            if call is not None and call.name in self.offered:
                self.calls.append(call)
            else:
                out.append(block)
            buffer = buffer[end + len(CLOSE) :]
        shown = "".join(out)
        self.shown += shown
        return shown

    def finish(self) -> str:
        held, self._held = self._held, ""
        name = _NAME.match(held[len(OPEN) :]) if held.startswith(OPEN) else None
        if name is not None and name.group(1) in self.offered:
            # The answer ended inside a call to an offered tool: a cut-off call, not text for the reader.
            self.calls.append(LeakedCall(name.group(1), {}, cut_off=True))
            return ""
        self.shown += held
        return held


def _partial_open(text: str) -> int:
    """How many characters at the end of `text` could be the start of `<tool_call>`."""
    for size in range(min(len(OPEN) - 1, len(text)), 0, -1):
        if OPEN.startswith(text[-size:]):
            return size
    return 0


def take_calls(text: str, offered: Collection[str]) -> tuple[str, list[LeakedCall]]:
    """The text without its leaked calls to offered tools, and those calls."""
    if OPEN not in text:
        return text, []
    leak = LeakFilter(offered)
    leak.feed(text)
    leak.finish()
    return leak.shown, leak.calls
