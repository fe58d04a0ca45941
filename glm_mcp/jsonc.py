"""JSONC (the JSON with comments and trailing commas of VS Code and Zed files): reading it as JSON (`to_json`), and
setting one member of an object inside such a file, leaving every other byte as it was. No I/O.

VS Code's `mcp.json` and Zed's `settings.json` are JSONC by design (comments, trailing commas); rewriting them
through a JSON parser would lose the user's comments. `set_member` edits the text instead:

- `set_member(text, ("context_servers", "glm-mcp"), value)` replaces that member's value if it exists, or inserts
  it (and the objects on the way) at the start of its parent object, indented like the file;
- comments, trailing commas, key order, other members, line endings and non-ASCII text stay as written;
- a text whose top level is not an object, or whose path runs through something that is not an object, raises
  `ValueError` saying where: nothing is guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_NUMBER_OR_WORD = re.compile(r"[-+0-9A-Za-z_.]+")


@dataclass(frozen=True)
class _Member:
    key: str
    value_start: int
    value_end: int


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text

    def skip(self, i: int) -> int:
        text = self.text
        while i < len(text):
            if text[i] in " \t\r\n\ufeff":
                i += 1
            elif text.startswith("//", i):
                end = text.find("\n", i)
                i = len(text) if end < 0 else end + 1
            elif text.startswith("/*", i):
                end = text.find("*/", i + 2)
                if end < 0:
                    raise ValueError("a comment is not closed")
                i = end + 2
            else:
                return i
        return i

    def string_end(self, i: int) -> int:
        text = self.text
        j = i + 1
        while j < len(text):
            if text[j] == "\\":
                j += 2
            elif text[j] == '"':
                return j + 1
            else:
                j += 1
        raise ValueError("a string is not closed")

    def value_end(self, i: int) -> int:
        char = self.text[i] if i < len(self.text) else ""
        if char == '"':
            return self.string_end(i)
        if char in "{[":
            return self.container_end(i)
        match = _NUMBER_OR_WORD.match(self.text, i)
        if match is None:
            raise ValueError(f"unexpected {self.text[i : i + 10]!r} at character {i}")
        return match.end()

    def container_end(self, i: int) -> int:
        close = "}" if self.text[i] == "{" else "]"
        j = self.skip(i + 1)
        while j < len(self.text):
            if self.text[j] == close:
                return j + 1
            if self.text[j] == ",":
                j = self.skip(j + 1)
                continue
            if close == "}":
                j = self.skip(self.string_end(j))
                if j >= len(self.text) or self.text[j] != ":":
                    raise ValueError(f"expected ':' at character {j}")
                j = self.skip(j + 1)
            j = self.skip(self.value_end(j))
        raise ValueError("an object or array is not closed")

    def members(self, i: int) -> list[_Member]:
        """The members of the object opening at `i`."""
        found: list[_Member] = []
        j = self.skip(i + 1)
        while j < len(self.text) and self.text[j] != "}":
            if self.text[j] == ",":
                j = self.skip(j + 1)
                continue
            if self.text[j] != '"':
                raise ValueError(f"expected a quoted key at character {j}")
            key_end = self.string_end(j)
            key = json.loads(self.text[j:key_end])
            j = self.skip(key_end)
            if j >= len(self.text) or self.text[j] != ":":
                raise ValueError(f"expected ':' at character {j}")
            start = self.skip(j + 1)
            end = self.value_end(start)
            found.append(_Member(key, start, end))
            j = self.skip(end)
        return found


def _indent_unit(text: str) -> str:
    """The indentation step the file uses (two spaces when it shows none)."""
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line) and not stripped.startswith(("//", "/*", "*")):
            return line[: len(line) - len(stripped)]
    return "  "


def _render(value: Any, unit: str, depth: int, newline: str) -> str:
    indent = unit if unit.strip() == "" else "  "
    rendered = json.dumps(value, indent=len(indent) if "\t" not in indent else 1, ensure_ascii=False)
    if "\t" in indent:
        rendered = re.sub(r"^( +)", lambda m: "\t" * len(m.group(1)), rendered, flags=re.MULTILINE)
    return rendered.replace("\n", newline + unit * depth)


def set_member(text: str, path: tuple[str, ...], value: Any) -> str:
    """`text` with the member at `path` set to `value` (see the module docstring).

    Raises:
        ValueError: The text is not an object where the path needs one; the message says where.
    """
    scanner = _Scanner(text)
    start = scanner.skip(0)
    if start >= len(text) or text[start] != "{":
        raise ValueError("the top level is not an object")
    scanner.container_end(start)  # the whole document must be readable before anything is changed
    newline = "\r\n" if "\r\n" in text else "\n"
    unit = _indent_unit(text)
    opening = start
    for depth, key in enumerate(path, start=1):
        member = next((m for m in scanner.members(opening) if m.key == key), None)
        if member is None:
            remaining = path[depth:]
            nested: Any = value
            for inner in reversed(remaining):
                nested = {inner: nested}
            rendered = _render(nested, unit, depth, newline)
            empty = scanner.skip(opening + 1) < len(text) and text[scanner.skip(opening + 1)] == "}"
            insertion = f"{newline}{unit * depth}{json.dumps(key, ensure_ascii=False)}: {rendered}"
            one_line = "\n" not in text[opening : scanner.container_end(opening)]
            if not empty:
                insertion += "," + (newline + unit * depth if one_line else "")
            elif one_line:
                insertion += newline + unit * (depth - 1)
            return text[: opening + 1] + insertion + text[opening + 1 :]
        if depth == len(path):
            rendered = _render(value, unit, depth, newline)
            return text[: member.value_start] + rendered + text[member.value_end :]
        if text[member.value_start] != "{":
            raise ValueError(f"'{'.'.join(path[:depth])}' is not an object")
        opening = member.value_start
    return text


def to_json(text: str) -> str:
    """JSONC as plain JSON: comments become spaces (line and column numbers stay as written, for error messages)
    and trailing commas are dropped; a leading byte-order mark is removed; strings are left alone.

    Raises:
        ValueError: A block comment is not closed.
    """
    source = text.removeprefix("\ufeff")
    out = list(source)
    i, last_comma, size = 0, -1, len(out)
    while i < size:
        char = out[i]
        if char == '"':
            i += 1
            while i < size and out[i] != '"':
                i += 2 if out[i] == "\\" else 1
            i += 1
            last_comma = -1
            continue
        if char == "/" and i + 1 < size and out[i + 1] in "/*":
            block = out[i + 1] == "*"
            end = source.find("*/" if block else "\n", i + 2)
            if block and end < 0:
                raise ValueError("a /* comment is not closed")
            stop = (end + 2 if block else end) if end >= 0 else size
            for j in range(i, stop):
                if out[j] != "\n":
                    out[j] = " "
            i = stop
            continue
        if char == ",":
            last_comma = i
        elif char in "}]" and last_comma >= 0:
            out[last_comma] = " "  # a trailing comma
            last_comma = -1
        elif not char.isspace():
            last_comma = -1
        i += 1
    return "".join(out)
