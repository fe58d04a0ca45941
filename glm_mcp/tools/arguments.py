"""Model arguments in, a validated dict or a model-readable error out. No I/O.

Contract:
- the raw string is parsed as JSON, else repaired (truncated braces, single quotes, trailing commas);
  an empty string is `{}`; anything that does not become an object is refused;
- an object or array parameter sent as a JSON string is decoded; a number, integer or boolean sent as a
  string is converted where the schema says so;
- the result is validated against the tool's own input schema (the server's contract) before the server
  sees it; a failure names the parameter, what was expected and what came. Never raises for bad input.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

import json_repair
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import SchemaError as JsonSchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from glm_mcp._json import as_list, as_object

logger = logging.getLogger("glm_mcp.arguments")

MAX_ARGUMENTS_CHARS = 1_000_000


class ArgumentsError(ValueError):
    """The model's arguments cannot be used; the message is written for the model to correct itself."""


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        repaired = json_repair.loads(text)
    except Exception:  # boundary: the repair library may fail in any way on hostile input
        return None
    return repaired if repaired != "" else None


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


def _types(schema: Any) -> set[str]:
    node = as_object(schema)
    if node is None:
        return set()
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if (kinds := as_list(kind)) is not None:
        return {k for k in kinds if isinstance(k, str)}
    found: set[str] = set()
    for key in ("anyOf", "oneOf"):
        for option in as_list(node.get(key)) or []:
            found |= _types(option)
    return found


def _coerce(value: Any, schema: Any, depth: int = 0) -> Any:
    """Fix the usual type slips of a model, where the schema is clear about the type."""
    node = as_object(schema)
    if depth > 16 or node is None:
        return value
    types = _types(node)
    if isinstance(value, str) and "string" not in types:
        stripped = value.strip()
        if types & {"object", "array"} and stripped[:1] in "{[":
            decoded: Any = _loads(stripped)
            if as_object(decoded) is not None or as_list(decoded) is not None:
                value = decoded
        elif "integer" in types and _is_int(stripped):
            value = int(stripped)
        elif "number" in types and _is_float(stripped):
            number = float(stripped)
            value = int(number) if number.is_integer() and "." not in stripped else number
        elif "boolean" in types and stripped.lower() in ("true", "false"):
            value = stripped.lower() == "true"
        elif "null" in types and stripped.lower() in ("null", "none"):
            value = None
    if (data := as_object(value)) is not None:
        properties = as_object(node.get("properties")) or {}
        value = {key: _coerce(item, properties.get(key), depth + 1) for key, item in data.items()}
    elif (items := as_list(value)) is not None:
        value = [_coerce(item, node.get("items"), depth + 1) for item in items]
    return value


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.lower() not in ("nan", "inf", "-inf", "infinity", "+inf")


@lru_cache(maxsize=4096)
def _validator(schema_json: str) -> Validator | None:
    schema = json.loads(schema_json)
    cls: type[Validator] = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except JsonSchemaError:
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
    """Parse, repair, coerce and validate a model's arguments for a tool.

    Raises:
        ArgumentsError: The arguments cannot be made valid; the message is meant for the model.
    """
    if isinstance(raw, dict):
        value: Any = raw
    else:
        text = (raw or "").strip()
        if len(text) > MAX_ARGUMENTS_CHARS:
            raise ArgumentsError(f"the arguments are {len(text)} characters long; at most {MAX_ARGUMENTS_CHARS}")
        value = {} if text in ("", "null") else _loads(text)
        if isinstance(value, str):  # arguments double-encoded as a JSON string
            value = _loads(value)
        if not isinstance(value, dict):
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise ArgumentsError(f"the arguments must be a JSON object, got {shown!r}")
    value = _coerce(value, schema)
    validator = _validator(json.dumps(schema, sort_keys=True, default=str))
    if validator is not None:
        try:
            errors = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
        except (Unresolvable, RecursionError):
            logger.warning("a tool's input schema has a reference that cannot be resolved; arguments passed unchecked")
            errors = []
        if errors:
            problems = "; ".join(_explain(error) for error in errors[:3])
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            raise ArgumentsError(f"invalid arguments: {problems}{more}")
    return value
