"""`${VAR}`, `${VAR:-default}` and VS Code's `${env:VAR}` in a config's strings, filled in from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from glm_mcp.errors import VariableError

_VAR_PATTERN = re.compile(r"\$\{(?:(env|input):)?([A-Za-z_][A-Za-z0-9_.-]*)(?::-([^}]*))?\}")


def expand_env(
    value: Any, environ: Mapping[str, str], path: str = "", builtins: Mapping[str, str] | None = None
) -> Any:
    """Expand `${VAR}`, `${VAR:-default}` and VS Code's `${env:VAR}` in every string of a JSON value.

    `builtins` are VS Code's own variables (`workspaceFolder`, `userHome`), taken before the environment.

    Raises:
        VariableError: A variable without a default is unset, or is VS Code's `${input:…}`; the message names
            it and the JSON path.
    """
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            kind, name, default = match.group(1), match.group(2), match.group(3)
            where = path or "<root>"
            if kind == "input":
                raise VariableError(
                    f"{where}: ${{input:{name}}} is a value VS Code prompts for, and glm-mcp cannot prompt: "
                    "put the value in the server's env (or in an environment variable)"
                )
            if kind is None and builtins is not None and name in builtins:
                return builtins[name]
            if environ.get(name) or (name in environ and default is None):
                return environ[name]
            if default is not None:
                return default  # unset or empty, as `:-` means in POSIX shells and docker-compose
            raise VariableError(
                f"{where}: environment variable {name} is not set; "
                f"set it, or write ${{{name}:-default}} to give a default"
            )

        return _VAR_PATTERN.sub(substitute, value)
    if isinstance(value, dict):
        items: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType] JSON object
        return {key: expand_env(item, environ, join_path(path, key), builtins) for key, item in items.items()}
    if isinstance(value, list):
        elements: list[Any] = value  # pyright: ignore[reportUnknownVariableType] JSON array
        return [expand_env(item, environ, f"{path}[{index}]", builtins) for index, item in enumerate(elements)]
    return value


def join_path(path: str, key: str | int) -> str:
    """A JSON path one step further (`a.b`, `a[0]`), for messages."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key
