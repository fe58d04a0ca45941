"""JSON on the wire: parsing and compact encoding (orjson first, Python's own `json` for what orjson will not take),
and typed views of parsed JSON, narrowing `Any` to objects and arrays so the code that walks JSON stays typed.

orjson parses and encodes the small documents of the hot paths (a chat request, each chunk of a model's stream, each
frame sent on) four to ten times faster than `json`. What orjson refuses and `json` reads or writes (NaN and
Infinity, lone surrogates, keys that are not strings) goes to `json`, and so does text with a number of 19 digits or
more, which orjson would read as a float past 64 bits: what is accepted, what is refused, every value read and every
error message stay `json`'s.

One exception: a string holding a lone UTF-16 surrogate (`"\\ud83d"`, half of a pair, escaped or not) is refused
unless the caller asks for it. `json` reads it, but no UTF-8 text can carry it, so every answer that repeated it
would fail to encode; `well_formed` and `mend_escapes` mend such text where it cannot be refused (a model's answer,
a server's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

import orjson

JsonObject = dict[str, Any]

_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")
"""A run of digits that may be an integer past 64 bits, which orjson reads as a float (losing digits)."""
_ESCAPE = r"\\u[dD][89a-fA-F]"
"""The start of a surrogate's escape."""
_SURROGATE_ESCAPE = re.compile(_ESCAPE)
_SURROGATE_ESCAPE_BYTES = re.compile(_ESCAPE.encode())
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_IN_TEXT = re.compile(f"{_ESCAPE}|{_SURROGATE.pattern}")
_SURROGATE_IN_BYTES = re.compile(_ESCAPE.encode() + rb"|\xed[\xa0-\xbf]")
"""A surrogate escaped, or written as it is: `json` reads bytes with "surrogatepass", so one UTF-8 cannot carry."""
_ESCAPE_RUN = r"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
_ESCAPES = re.compile(_ESCAPE_RUN)
_ESCAPES_BYTES = re.compile(_ESCAPE_RUN.encode())
"""An escaped backslash, an escaped surrogate pair, or a lone surrogate escape: scanned left to right, so a
backslash that is itself escaped never starts an escape."""


def loads(
    text: str | bytes, *, parse_constant: Callable[[str], Any] | None = None, lone_surrogates: bool = False
) -> Any:
    """`text` parsed as `json.loads(text, parse_constant=...)` would; a lone surrogate in a string is refused unless
    `lone_surrogates` (orjson refuses one, so only text that `json` reads can hold one).

    Raises:
        ValueError: It is not JSON (`json`'s error and message), or a string holds a lone surrogate (where it is).
    """
    long = _LONG_DIGITS.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    if long is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    value = json.loads(text, parse_constant=parse_constant)
    escape = _SURROGATE_IN_TEXT.search(text) if isinstance(text, str) else _SURROGATE_IN_BYTES.search(text)
    if escape is not None and not lone_surrogates and (where := _lone_surrogate(value)) is not None:
        raise ValueError(
            f"{where} holds half of a UTF-16 surrogate pair (such as \\ud83d without the \\ude00 after it), "
            "which is not text: send whole characters"
        )
    return value


def _lone_surrogate(value: Any) -> str | None:
    """Where in `value` (a path such as `messages[0].content`) a string or key holds a lone surrogate, if anywhere."""
    pending: list[tuple[str, Any]] = [("the body", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if well_formed(item) != item:
                return path
        elif (members := as_object(item)) is not None:
            for key, member in members.items():
                if well_formed(key) != key:
                    return f"a key in {path}"
                pending.append((key if path == "the body" else f"{path}.{key}", member))
        elif (elements := as_list(item)) is not None:
            pending.extend((f"{path}[{index}]", element) for index, element in enumerate(elements))
    return None


def mend_escapes(text: str) -> str:
    """JSON `text` with each lone surrogate escape written as `\\ufffd` (U+FFFD), so a parser that refuses one (the
    MCP SDK's does, dropping the whole message) reads the rest; text without one is returned as it is."""
    if _SURROGATE_ESCAPE.search(text) is None:
        return text
    return _ESCAPES.sub(lambda match: "\\ufffd" if len(match[0]) == 6 else match[0], text)


def mend_escapes_bytes(data: bytes) -> bytes:
    """`mend_escapes` of UTF-8 JSON."""
    if _SURROGATE_ESCAPE_BYTES.search(data) is None:
        return data
    return _ESCAPES_BYTES.sub(lambda match: b"\\ufffd" if len(match[0]) == 6 else match[0], data)


def well_formed(text: str) -> str:
    """`text` as UTF-8 can carry it: surrogate pairs made whole, a lone surrogate replaced by U+FFFD."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def encode(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON (no spaces, non-ASCII kept as it is)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps(value: Any) -> str:
    """`value` as compact JSON text (see `encode`)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def as_object(value: object) -> JsonObject | None:
    """`value` as a JSON object, or None if it is something else."""
    return cast(JsonObject, value) if isinstance(value, dict) else None


def as_list(value: object) -> list[Any] | None:
    """`value` as a JSON array, or None if it is something else."""
    return cast(list[Any], value) if isinstance(value, list) else None
