"""JSON on the wire: parsing and compact encoding (orjson first, Python's own `json` for what orjson will not take),
and typed views of parsed JSON, narrowing `Any` to objects and arrays so the code that walks JSON stays typed.

orjson parses and encodes the small documents of the hot paths (a chat request, each chunk of a model's stream, each
frame sent on) four to ten times faster than `json`. What orjson refuses and `json` reads or writes (NaN and
Infinity, lone surrogates, keys that are not strings) goes to `json`, and so does text with a number of 19 digits or
more, which orjson would read as a float past 64 bits: what is accepted, what is refused, every value read and every
error message stay `json`'s.
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


def loads(text: str | bytes, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """`text` parsed as `json.loads(text, parse_constant=...)` would.

    Raises:
        ValueError: It is not JSON (`json`'s error and message).
    """
    long = _LONG_DIGITS.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    if long is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_constant=parse_constant)


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
