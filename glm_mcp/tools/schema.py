"""The schema compiler: an MCP tool's `inputSchema` → the `parameters` GLM's function calling accepts. No I/O.

Contract (the "GLM dialect"):
- local `$ref`s (`#/$defs/…`, `#/definitions/…`) are inlined; a recursive one is cut after `MAX_REF_DEPTH`
  levels to `{"type": "object"}` with its description kept;
- `anyOf`/`oneOf` of one schema and `null` becomes that schema; `type: [X, "null"]` becomes `X`;
  `const` becomes a one-value `enum`; `allOf` of objects is merged;
- a missing `type` is filled from the keywords present (`properties` ⇒ object, `items` ⇒ array, `enum`
  ⇒ the values' type, otherwise string); an object gets `properties`, an array gets `items`;
- only `KEPT_KEYWORDS` survive; `required` names only existing properties;
- the top level is always an object schema. A schema that cannot be compiled raises `SchemaError`,
  which leaves that tool out (with the reason), never fails the request.
"""

from __future__ import annotations

import copy
from typing import Any

from glm_mcp._json import as_list, as_object
from glm_mcp.errors import SchemaError
from glm_mcp.model.profile import SCHEMA_KEYWORDS, SCHEMA_TYPES

JsonSchema = dict[str, Any]

MAX_REF_DEPTH = 3
MAX_NESTING = 32

KEPT_KEYWORDS = SCHEMA_KEYWORDS
"""The keywords that survive compilation (GLM's, from `model.profile`)."""
_STRING_KEYWORDS = frozenset({"description", "pattern", "format", "title"})
_NUMBER_KEYWORDS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems"}
)


def compile_schema(schema: Any) -> JsonSchema:
    """Compile a tool's input schema for GLM.

    Raises:
        SchemaError: The schema is not an object schema, or has a reference that cannot be resolved.
    """
    if not isinstance(schema, dict):
        raise SchemaError("the input schema is not a JSON object")
    root: JsonSchema = schema  # pyright: ignore[reportUnknownVariableType]  # JSON Schema from an upstream server
    compiled = _Compiler(root).node(root, depth=0, refs=())
    if compiled.get("type") != "object":
        raise SchemaError(f"the input schema describes {compiled.get('type')!r}, not an object")
    compiled.setdefault("properties", {})
    return compiled


class _Compiler:
    def __init__(self, root: JsonSchema) -> None:
        self.root = root

    def resolve(self, ref: str) -> JsonSchema:
        if not ref.startswith("#/"):
            raise SchemaError(f"the reference {ref!r} points outside the schema")
        target: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = as_object(target)
            if node is None or part not in node:
                raise SchemaError(f"the reference {ref!r} cannot be resolved")
            target = node[part]
        resolved = as_object(target)
        if resolved is None:
            raise SchemaError(f"the reference {ref!r} does not point to a schema")
        return resolved

    def node(self, schema: Any, depth: int, refs: tuple[str, ...]) -> JsonSchema:
        if depth > MAX_NESTING:
            return {"type": "object", "description": "(nested too deeply to describe)"}
        if schema is True or schema == {}:
            return {"type": "string"}
        if not isinstance(schema, dict):
            return {"type": "string"}
        source: JsonSchema = dict(schema)  # pyright: ignore[reportUnknownArgumentType]  # JSON Schema from an upstream server
        if "$ref" in source:
            ref = str(source.pop("$ref"))
            if refs.count(ref) >= MAX_REF_DEPTH:
                cut: JsonSchema = {"type": "object"}
                if "description" in source:
                    cut["description"] = source["description"]
                return cut
            target = dict(self.resolve(ref))
            target.update({key: value for key, value in source.items() if key in ("description", "default")})
            return self.node(target, depth + 1, (*refs, ref))
        source = self._simplify(source, depth, refs)
        out: JsonSchema = {}
        for key, value in source.items():
            if key not in KEPT_KEYWORDS or not _well_typed(key, value):
                continue
            if key == "properties":
                props = as_object(value) or {}
                out[key] = {name: self.node(sub, depth + 1, refs) for name, sub in props.items()}
            elif key == "items":
                out[key] = self.node(value[0] if isinstance(value, list) and value else value, depth + 1, refs)
            elif key == "anyOf":
                out[key] = [self.node(option, depth + 1, refs) for option in as_list(value) or []]
            elif key == "additionalProperties":
                if isinstance(value, bool):
                    out[key] = value
                elif isinstance(value, dict):
                    out[key] = self.node(value, depth + 1, refs)
            elif key == "required":
                out[key] = [name for name in as_list(value) or [] if isinstance(name, str)]
            else:
                out[key] = copy.deepcopy(value)
        self._fill_type(out)
        if "required" in out:
            known = out.get("properties", {})
            out["required"] = [name for name in out["required"] if name in known]
            if not out["required"]:
                del out["required"]
        return out

    def _simplify(self, source: JsonSchema, depth: int, refs: tuple[str, ...]) -> JsonSchema:
        for key in ("anyOf", "oneOf"):
            options = source.get(key)
            if isinstance(options, list):
                kept: list[Any] = [
                    option
                    for option in options  # pyright: ignore[reportUnknownVariableType]  # JSON array
                    if not (isinstance(option, dict) and option.get("type") == "null")  # pyright: ignore[reportUnknownMemberType]  # JSON object
                ]
                del source[key]
                if len(kept) == 1:
                    inner = self.node(kept[0], depth + 1, refs)
                    merged = {**inner, **{k: v for k, v in source.items() if k in ("description", "default", "title")}}
                    source = merged
                elif kept:
                    source["anyOf"] = kept
        all_of = source.pop("allOf", None)
        if isinstance(all_of, list):
            for part in all_of:  # pyright: ignore[reportUnknownVariableType]  # JSON array
                resolved = self.node(part, depth + 1, refs)
                for key, value in resolved.items():
                    if key == "properties":
                        source["properties"] = {**(as_object(source.get("properties")) or {}), **value}
                    elif key == "required":
                        source["required"] = [*(as_list(source.get("required")) or []), *value]
                    else:
                        source.setdefault(key, value)
        kind = source.get("type")
        if isinstance(kind, list):
            kinds: list[Any] = [k for k in kind if k != "null"]  # pyright: ignore[reportUnknownVariableType]  # JSON array
            if len(kinds) == 1:
                source["type"] = kinds[0]
            elif kinds:
                del source["type"]
                source["anyOf"] = [{"type": k} for k in kinds]
            else:
                source["type"] = "string"
        if "const" in source:
            source["enum"] = [source.pop("const")]
        if isinstance(source.get("enum"), list):
            source["enum"] = [value for value in source["enum"] if value is not None]
            if not source["enum"]:
                del source["enum"]
        return source

    @staticmethod
    def _fill_type(out: JsonSchema) -> None:
        if out.get("type") not in SCHEMA_TYPES:
            out.pop("type", None)
        if "type" not in out and "anyOf" not in out:
            if "properties" in out or "additionalProperties" in out:
                out["type"] = "object"
            elif "items" in out:
                out["type"] = "array"
            elif "enum" in out:
                kinds = {_json_type(value) for value in as_list(out["enum"]) or []}
                out["type"] = kinds.pop() if len(kinds) == 1 else "string"
            else:
                out["type"] = "string"
        if out.get("type") == "object":
            out.setdefault("properties", {})
        if out.get("type") == "array":
            out.setdefault("items", {"type": "string"})


def _json_type(value: object) -> str:
    """The JSON Schema type of an enum value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "string"


def _well_typed(key: str, value: Any) -> bool:
    """Whether a keyword's value has the JSON type the keyword needs; an ill-typed one is dropped."""
    if key in ("properties",):
        return isinstance(value, dict)
    if key in ("required", "enum", "anyOf"):
        return isinstance(value, list)
    if key in _STRING_KEYWORDS:
        return isinstance(value, str)
    if key in _NUMBER_KEYWORDS:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if key == "type":
        return isinstance(value, str)
    return True
