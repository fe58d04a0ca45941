"""Exposed names: `<prefix>__<name>` (or the name itself for a passthrough server, prefix "") under the
function-name rule of GLM and OpenAI, `^[a-zA-Z0-9_-]{1,64}$`.

Contract:
- a name that is already legal is kept as is;
- other characters become `_`; a name still too long is cut and given a short hash of the full name;
- a mapped name that would collide with another one gets the hash suffix, so no tool is lost;
- the result depends only on the set of (prefix, name) pairs, never on arrival order.
Clashes and reserved names are judged on `comparable_name` (NFKC, lower case), never on the raw text.
Reversal is by lookup in the table `assign_names` returns, never by parsing. No I/O.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

MAX_NAME_LENGTH = 64
SEPARATOR = "__"

_ILLEGAL = re.compile(r"[^A-Za-z0-9_-]")
_LEGAL = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HASH_LENGTH = 8


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()[:_HASH_LENGTH]


def _with_hash(sanitized: str, raw: str) -> str:
    return f"{sanitized[: MAX_NAME_LENGTH - _HASH_LENGTH - 1]}_{_digest(raw)}"


def is_legal(name: str) -> bool:
    """Whether `name` is accepted as a function name by GLM and OpenAI."""
    return _LEGAL.fullmatch(name) is not None


def raw_name(prefix: str, name: str) -> str:
    """`prefix__name`, or the name itself for a passthrough server (prefix "")."""
    return f"{prefix}{SEPARATOR}{name}" if prefix else name


def plain_name(prefix: str, name: str) -> str:
    """The exposed name before collision handling: legal, at most 64 characters."""
    raw = raw_name(prefix, name)
    if is_legal(raw):
        return raw
    sanitized = _ILLEGAL.sub("_", raw)
    if len(sanitized) <= MAX_NAME_LENGTH:
        return sanitized
    return _with_hash(sanitized, raw)


def comparable_name(prefix: str, name: str) -> str:
    """The exposed name `(prefix, name)` would look like, for clash and reserved-name checks: the plain name after
    Unicode NFKC normalisation, in lower case, so `glm＿＿agent` (fullwidth) or `GLM__agent` compare equal to
    `glm__agent`."""
    return plain_name(unicodedata.normalize("NFKC", prefix), unicodedata.normalize("NFKC", name)).lower()


def assign_names(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Give every (prefix, name) pair a distinct legal exposed name.

    A pair whose plain name is shared with another pair keeps it only if its raw name is already legal
    (a name that needed no mapping is never changed); the others get a hash of their full raw name.
    """
    unique = sorted(set(pairs))
    by_plain: dict[str, list[tuple[str, str]]] = {}
    for pair in unique:
        by_plain.setdefault(plain_name(*pair), []).append(pair)
    result: dict[tuple[str, str], str] = {}
    taken = set(by_plain)
    for plain, group in by_plain.items():
        if len(group) == 1:
            result[group[0]] = plain
            continue
        for pair in group:
            raw = raw_name(*pair)
            if raw == plain:
                result[pair] = plain
                continue
            candidate = _with_hash(_ILLEGAL.sub("_", raw), raw)
            salt = 0
            while candidate in taken:
                salt += 1
                candidate = _with_hash(_ILLEGAL.sub("_", raw), f"{raw}#{salt}")
            taken.add(candidate)
            result[pair] = candidate
    return result
