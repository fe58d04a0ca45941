"""Named tokens: an `auth_tokens` entry may be `{"name": "ada", "token": "...", "limits": {...}}`, whose callers are
that person, with their own budgets."""

from __future__ import annotations

import re
from typing import Any, cast

_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def with_token_names(data: Any) -> Any:
    """The `gateway` section with its `auth_tokens` as plain tokens, their people's names in `token_names` and their
    own limits in `token_limits`.

    Raises:
        ValueError: An entry is neither a token nor a `{"name", "token", "limits"}` object, or two share a name.
    """
    if not isinstance(data, dict):
        return data
    section = cast(dict[str, Any], data)
    tokens = section.get("auth_tokens")
    if not isinstance(tokens, list | tuple):
        return section
    names: list[str | None] = []
    limits: list[Any] = []
    plain: list[Any] = []
    for index, entry in enumerate(cast(list[Any], tokens)):
        if not isinstance(entry, dict):
            names.append(None)
            limits.append(None)
            plain.append(entry)
            continue
        named = cast(dict[str, Any], entry)
        name = named.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or set(named) - {"name", "token", "limits"}:
            raise ValueError(
                f'auth_tokens[{index}]: write a token as a string or as {{"name": "ada", "token": "..."}} '
                '(a name of letters, digits, _ . @ -; optionally "limits": {"requests_per_minute": 60})'
            )
        names.append(name)
        limits.append(named.get("limits"))
        plain.append(named.get("token"))
    given = [name for name in names if name]
    if len(set(given)) != len(given):
        raise ValueError("auth_tokens: two tokens have the same name; give each person one name")
    return {**section, "auth_tokens": plain, "token_names": names, "token_limits": limits}
