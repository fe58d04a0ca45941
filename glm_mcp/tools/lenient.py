"""Reading a model's near-JSON without ever changing a value. No I/O.

Contract:
- strict JSON reads as JSON; besides it, only slips that carry no value are accepted: single-quoted strings,
  trailing commas, unquoted keys, Python's `True`/`False`/`None`, `//`, `/* */` and `#` comments, raw control
  characters inside strings, a document wrapped in a JSON string or backslash-escaped once, a code fence;
- every key, string, number and literal of the result is one token of the text, read as written (after
  unescaping): nothing is closed, completed, guessed or dropped;
- text that ends inside a string, an object, an array or a comment raises `TruncatedArgumentsError` saying
  where; any other deviation (a bare word as a value, a string cut by a quote inside it, a key given twice,
  a number with a leading zero, unbalanced brackets) raises `ArgumentsError` naming the parameter.

Repair libraries close open strings and brackets and guess at bare words; that turns a call cut off by the
token limit into a different, valid call. This reader refuses instead: a refusal costs the model one step.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from glm_mcp.errors import ArgumentsError, TruncatedArgumentsError

Path = list[str | int]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$\-]*")
_RUNS = {'"': re.compile(r'[^"\\]+'), "'": re.compile(r"[^'\\]+")}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "'": "'"}
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:\n?```[ \t]*)?\Z", re.DOTALL)
_ESCAPED_DOCUMENT = re.compile(r'\A\s*[\[{]\s*\\"')
_DELIMITERS = frozenset(" \t\r\n,]}/#")


def where(path: Path) -> str:
    """A parameter path as the model wrote it: `edits[0].newText`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _strict_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ArgumentsError(f"'{key}' is given twice; give each parameter once")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise ArgumentsError(f"{name} is not a JSON number")


def parse_document(text: str, path: Path | None = None) -> Any:
    """Read one JSON document the model wrote, with the slips this module allows.

    `path` places a document found inside a parameter (an object sent as a string) in error messages.

    Raises:
        TruncatedArgumentsError: The text ends before the document does.
        ArgumentsError: The text is not a document, or reading it would mean changing a value.
    """
    base = list(path or [])
    text = text.strip()
    if text.startswith("```"):
        fenced = _FENCE.match(text)
        if fenced is not None:
            text = fenced.group(1).strip()
    try:
        value = json.loads(text, strict=False, object_pairs_hook=_strict_pairs, parse_constant=_no_constant)
    except ArgumentsError as exc:
        raise ArgumentsError(_placed(base, str(exc))) from None
    except ValueError:
        value = _read_lenient(text, base)
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        # The whole document was sent as a JSON string.
        return parse_document(value, base)
    return value


def _read_lenient(text: str, base: Path) -> Any:
    if _ESCAPED_DOCUMENT.match(text):
        # The whole document backslash-escaped once: `{\"path\": \"a\"}`.
        try:
            unescaped = json.loads(f'"{text}"', strict=False)
        except ValueError:
            if (len(text) - len(text.rstrip("\\"))) % 2 == 1:
                raise TruncatedArgumentsError(_placed(base, "the arguments end inside an escape sequence")) from None
        else:
            return parse_document(unescaped, base)
    return _Reader(text, base).document()


def _placed(path: Path, message: str) -> str:
    return f"in '{where(path)}': {message}" if path else message


class _Reader:
    """A recursive-descent reader over the text; `path` is where in the document it is."""

    def __init__(self, text: str, path: Path) -> None:
        self.text = text
        self.pos: int = 0
        self.path = path

    def document(self) -> Any:
        value = self.value()
        self.skip()
        if self.pos < len(self.text):
            rest = self.text[self.pos :]
            if rest[0] in "]}":
                self.fail(f"an extra '{rest[0]}' after the end of the document: brackets are unbalanced")
            self.fail(f"unexpected text after the end of the document: {_show(rest)}")
        return value

    def fail(self, message: str) -> NoReturn:
        raise ArgumentsError(_placed(self.path, message))

    def cut(self, inside: str) -> NoReturn:
        raise TruncatedArgumentsError(f"the arguments end inside {inside}")

    def skip(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            char = text[self.pos]
            if char == "/" and self.pos == n - 1:
                self.cut("a comment")
            if char in " \t\r\n\ufeff":
                self.pos += 1
            elif char == "#" or text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    self.cut("a comment")
                self.pos = end + 2
            else:
                return

    def value(self) -> Any:
        self.skip()
        if self.pos >= len(self.text):
            self.cut("a value" if self.path else "the document: it is empty")
        char = self.text[self.pos]
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        if char in "\"'":
            return self.string("the string value" + (f" of '{where(self.path)}'" if self.path else ""))
        if char in "-0123456789":
            return self.number()
        word = _WORD.match(self.text, self.pos)
        if word is not None:
            if word.group() in _LITERALS and self.delimited(word.end()):
                self.pos = word.end()
                return _LITERALS[word.group()]
            if word.end() == len(self.text) and any(lit.startswith(word.group()) for lit in _LITERALS):
                self.cut("a value" if self.path else "the document")
            token = re.split(r"[,\]}\n]", self.text[self.pos :], maxsplit=1)[0].strip()
            self.fail(f"the value {_show(token)} is not quoted: put strings in double quotes")
        self.fail(f"unexpected {_show(self.text[self.pos :])} where a value should be")

    def delimited(self, end: int) -> bool:
        return end >= len(self.text) or self.text[end] in _DELIMITERS

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if match is None or not self.delimited(match.end()):
            token = re.split(r"[\s,\]}]", self.text[self.pos :], maxsplit=1)[0]
            if self.pos + len(token) == len(self.text) and re.fullmatch(
                r"-?[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]*)?", token
            ):
                self.cut("a number")
            if re.fullmatch(r"-?0[0-9]+(?:\.[0-9]*)?", token):
                self.fail(f"the number {token} has a leading zero: send it as a string if the zero matters")
            self.fail(f"{_show(self.text[self.pos :])} is not a JSON value")
        self.pos = match.end()
        token = match.group()
        return float(token) if any(c in token for c in ".eE") else int(token)

    def string(self, what: str) -> str:
        text, quote = self.text, self.text[self.pos]
        runs = _RUNS[quote]
        self.pos += 1
        parts: list[str] = []
        while True:
            run = runs.match(text, self.pos)
            if run is not None:
                parts.append(run.group())
                self.pos = run.end()
            if self.pos >= len(text):
                self.cut(what)
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(parts)
            # A backslash.
            if self.pos + 1 >= len(text):
                self.cut(what)
            code = text[self.pos + 1]
            if code == "u":
                parts.append(self.unicode(what))
                continue
            if code == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[self.pos + 2 : self.pos + 4]):
                # Python's `\xNN`, as in a dict printed by Python.
                parts.append(chr(int(text[self.pos + 2 : self.pos + 4], 16)))
                self.pos += 4
                continue
            # An escape JSON does not define (`\d` in a regular expression) keeps what was written.
            parts.append(_ESCAPES.get(code, "\\" + code))
            self.pos += 2

    def unicode(self, what: str) -> str:
        digits = self.text[self.pos + 2 : self.pos + 6]
        if len(digits) < 4 and self.pos + 2 + len(digits) >= len(self.text):
            self.cut(what)
        try:
            point = int(digits, 16)
        except ValueError:
            self.fail(f"'\\u{digits}' is not a unicode escape")
        self.pos += 6
        if 0xD800 <= point < 0xDC00 and self.text.startswith("\\u", self.pos):
            low = self.text[self.pos + 2 : self.pos + 6]
            try:
                low_point = int(low, 16)
            except ValueError:
                return chr(point)
            if 0xDC00 <= low_point < 0xE000:
                self.pos += 6
                return chr(0x10000 + ((point - 0xD800) << 10) + (low_point - 0xDC00))
        return chr(point)

    def key(self) -> str:
        char = self.text[self.pos]
        if char in "\"'":
            return self.string("a parameter name")
        word = _WORD.match(self.text, self.pos)
        if word is None:
            self.fail(f"unexpected {_show(self.text[self.pos :])} where a parameter name should be")
        self.pos = word.end()
        return word.group()

    def object(self) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        what = f"the object '{where(self.path)}'" if self.path else "the arguments object, before its closing '}'"
        while True:
            self.skip()
            if self.pos >= len(self.text):
                self.cut(what)
            if self.text[self.pos] == "}":
                self.pos += 1
                return result
            key = self.key()
            if key in result:
                self.fail(f"'{where([*self.path, key])}' is given twice; give each parameter once")
            self.skip()
            if self.pos >= len(self.text):
                self.cut(what)
            if self.text[self.pos] != ":":
                self.fail(f"expected ':' after the name '{key}', found {_show(self.text[self.pos :])}")
            self.pos += 1
            self.path.append(key)
            result[key] = self.value()
            self.path.pop()
            if self.after_member(what, key, "}"):
                return result

    def array(self) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        what = f"the array '{where(self.path)}'" if self.path else "an array"
        while True:
            self.skip()
            if self.pos >= len(self.text):
                self.cut(what)
            if self.text[self.pos] == "]":
                self.pos += 1
                return result
            self.path.append(len(result))
            result.append(self.value())
            self.path.pop()
            if self.after_member(what, where([*self.path, len(result) - 1]), "]"):
                return result

    def after_member(self, what: str, name: str, close: str) -> bool:
        """Consume the ',' or the closing bracket after a member (True when closed); else an error naming it."""
        self.skip()
        if self.pos >= len(self.text):
            self.cut(what)
        char = self.text[self.pos]
        if char in (",", close):
            self.pos += 1
            return char == close
        shown = _show(self.text[self.pos :])
        if char in "]}":
            self.fail(f"'{char}' closes a bracket that was not opened there, after '{name}': brackets are unbalanced")
        self.fail(
            f"the value of '{where([*self.path, name]) if close == '}' else name}' is followed by {shown}: "
            'a quote inside a string must be escaped as \\", and values are separated by commas'
        )


def _show(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 24 else text[:21] + "...")
