"""Model arguments in, a validated dict or a model-readable error out. No I/O.

Contract:
- the raw string is read by `tools.lenient`: strict JSON, or near-JSON whose slips carry no value; arguments cut
  off before the document ends raise `TruncatedArgumentsError` and are never repaired into a call; a value that
  cannot be read without changing it is refused with a message naming the parameter; an empty string is `{}`;
- GLM's own `<arg_key>`/`<arg_value>` pairs are read as arguments, and its tags leaked around values dropped;
- wherever the schema wants an object or array (through `$ref`, `anyOf`/`oneOf`/`allOf`, `items`,
  `prefixItems`, `properties`, `additionalProperties`, at any depth, decoded values included) and the model
  sent a JSON string, the string is decoded; scalars sent as strings are converted where the schema wants a
  number, integer, boolean or null; a value the schema accepts as it is never changes; among branches, the
  first that validates wins;
- the result is validated against the tool's own input schema (the server's contract) before the server
  sees it; a failure names the parameter, what was expected and what came. Never raises anything else.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from glm_mcp._json import as_list, as_object
from glm_mcp.errors import ArgumentsError
from glm_mcp.model.xml_calls import clean_value, parse_pairs, strip_trailing_tags
from glm_mcp.tools.lenient import Path, parse_document

if TYPE_CHECKING:  # jsonschema loads with the first call to check (about 50 ms that `serve`'s start need not pay)
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

logger = logging.getLogger(__name__)

MAX_ARGUMENTS_CHARS = 1_000_000
_MAX_DEPTH = 32
_INT = re.compile(r"[+-]?[0-9]+")


def _describe(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({_kind(value)})"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if as_object(value) is not None:
        return "object"
    return "array" if as_list(value) is not None else "number"


def _declared_types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    return {k for k in as_list(kind) or [] if isinstance(k, str)}


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.lower().lstrip("+-") not in ("nan", "inf", "infinity")


class _Conformer:
    """Walks a value beside its schema, decoding and converting only where the schema does not accept it."""

    def __init__(self, root: dict[str, Any], validator: Validator) -> None:
        self.root = root
        self.validator = validator

    def accepts(self, node: dict[str, Any], value: Any) -> bool:
        try:
            checker: Validator = self.validator.evolve(schema=node)  # pyright: ignore[reportUnknownMemberType]  # jsonschema types evolve(**kwargs) loosely
            return bool(checker.is_valid(value))
        except _uncheckable():
            return True  # a schema that cannot be checked here changes nothing

    def resolve(self, schema: Any) -> dict[str, Any] | None:
        node = as_object(schema)
        for _ in range(16):
            if node is None or not isinstance(ref := node.get("$ref"), str) or not ref.startswith("#"):
                return node
            target: Any = self.root
            for part in ref[1:].split("/")[1:]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = (as_object(target) or {}).get(part)
            siblings = {key: item for key, item in node.items() if key != "$ref"}
            resolved = as_object(target)
            node = None if resolved is None else {**resolved, **siblings}
        return node

    def conform(self, value: Any, schema: Any, path: Path, depth: int = 0) -> Any:
        node = self.resolve(schema)
        if node is None or depth > _MAX_DEPTH or self.accepts(node, value):
            return value
        if isinstance(value, str):
            value = self.from_string(value, node, path)
        for branch in as_list(node.get("allOf")) or []:
            value = self.conform(value, branch, path, depth + 1)
        for key in ("anyOf", "oneOf"):
            branches = [b for b in map(self.resolve, as_list(node.get(key)) or []) if b is not None]
            if branches and not any(self.accepts(branch, value) for branch in branches):
                for branch in branches:
                    candidate = self.conform(value, branch, path, depth + 1)
                    if self.accepts(branch, candidate):
                        value = candidate
                        break
        if (data := as_object(value)) is not None:
            value = {
                key: self.conform(item, self.member(node, key), [*path, key], depth + 1) for key, item in data.items()
            }
        elif (items := as_list(value)) is not None:
            value = [self.conform(item, self.item(node, i), [*path, i], depth + 1) for i, item in enumerate(items)]
        return value

    def from_string(self, value: str, node: dict[str, Any], path: Path) -> Any:
        types = _declared_types(node)
        if not types or "string" in types:
            return value
        text = value.strip()
        if types & {"object", "array"} and text[:1] in ("{", "["):
            decoded = parse_document(text, path)
            if ("object" in types and as_object(decoded) is not None) or (
                "array" in types and as_list(decoded) is not None
            ):
                return decoded
        if "integer" in types and _INT.fullmatch(text):
            return int(text)
        if "number" in types and _is_float(text):
            number = float(text)
            return int(number) if _INT.fullmatch(text) else number
        if "boolean" in types and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if "null" in types and text.lower() in ("null", "none"):
            return None
        return value

    @staticmethod
    def member(node: dict[str, Any], key: str) -> Any:
        properties = as_object(node.get("properties")) or {}
        if key in properties:
            return properties[key]
        for pattern, schema in (as_object(node.get("patternProperties")) or {}).items():
            try:
                if re.search(pattern, key):
                    return schema
            except re.error:
                continue
        return node.get("additionalProperties")

    @staticmethod
    def item(node: dict[str, Any], position: int) -> Any:
        prefix = as_list(node.get("prefixItems"))
        items = node.get("items")
        if prefix is None and (tuple_items := as_list(items)) is not None:  # draft 2019 and earlier
            prefix, items = tuple_items, node.get("additionalItems")
        if prefix is not None and position < len(prefix):
            return prefix[position]
        return items


def _clean_leaked_tags(value: Any) -> Any:
    if isinstance(value, str):
        return clean_value(value)
    if (data := as_object(value)) is not None:
        return {key: _clean_leaked_tags(item) for key, item in data.items()}
    if (items := as_list(value)) is not None:
        return [_clean_leaked_tags(item) for item in items]
    return value


def read_arguments(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """The arguments object the model wrote, read without a schema (see `tools.lenient`).

    Raises:
        TruncatedArgumentsError: The arguments were cut off.
        ArgumentsError: They are not an object, or reading them would change a value.
    """
    if isinstance(raw, dict):
        return raw
    text = (raw or "").strip()
    if len(text) > MAX_ARGUMENTS_CHARS:
        raise ArgumentsError(f"the arguments are {len(text)} characters long; at most {MAX_ARGUMENTS_CHARS}")
    if text in ("", "null", "{}"):
        return {}
    if text[0] not in "{[\"'`<":
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ArgumentsError(f"the arguments must be a JSON object, got {shown!r}")
    value: Any = parse_pairs(text)
    if value is None:
        value = parse_document(strip_trailing_tags(text) if "<" in text else text)
    document = as_object(value)
    if document is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ArgumentsError(f"the arguments must be a JSON object, got {shown!r}")
    return _clean_leaked_tags(document) if "<" in text else document


def _uncheckable() -> tuple[type[BaseException], ...]:
    """What jsonschema raises for a schema it cannot check: a reference it cannot resolve, too deep, invalid."""
    from jsonschema.exceptions import SchemaError
    from referencing.exceptions import Unresolvable

    return (Unresolvable, RecursionError, SchemaError)


@lru_cache(maxsize=4096)
def _validator(schema_json: str) -> Validator | None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    cls: type[Validator] = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError:
        logger.warning("a tool's input schema is itself invalid; its arguments are passed on unchecked")
        return None
    return cls(schema)


def _explain(error: ValidationError) -> str:
    where = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        return str(error.message).replace(" is a required property", " is required but missing")
    if error.validator == "additionalProperties":
        return f"{error.message}; only the parameters in the tool's schema are accepted"
    expected = error.validator_value
    got = _describe(error.instance)
    if error.validator == "type":
        return f"'{where or 'arguments'}' must be of type {expected}, got {got}"
    if error.validator == "enum":
        options = ", ".join(json.dumps(option) for option in as_list(expected) or [])
        return f"'{where}' must be one of {options}, got {got}"
    return f"'{where or 'arguments'}': {error.message}"


def prepare_arguments(raw: str | dict[str, Any] | None, schema: dict[str, Any]) -> dict[str, Any]:
    """Read, decode, convert and validate a model's arguments for a tool.

    Raises:
        TruncatedArgumentsError: The arguments were cut off; the call must not run.
        ArgumentsError: The arguments cannot be used as written; the message is meant for the model.
    """
    value = read_arguments(raw)
    validator = _validator(json.dumps(schema, sort_keys=True, default=str))
    if validator is None:
        return value
    try:
        if validator.is_valid(value):
            return value
        value = _Conformer(schema, validator).conform(value, schema, [])
        errors = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
    except _uncheckable():
        logger.warning("a tool's input schema has a reference that cannot be resolved; arguments passed unchecked")
        return value
    if errors:
        problems = "; ".join(_explain(error) for error in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ArgumentsError(f"invalid arguments: {problems}{more}")
    return value
