"""Property-based tests: config loading, names, the schema compiler and argument repair never misbehave."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from glm_mcp.config import parse_config
from glm_mcp.errors import ConfigError, SchemaError
from glm_mcp.naming import assign_names, is_legal
from glm_mcp.tools.arguments import ArgumentsError, prepare_arguments
from glm_mcp.tools.schema import compile_schema
from tests.helpers import assert_glm_acceptable

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
KEYWORDS = ["type", "properties", "items", "required", "anyOf", "oneOf", "allOf", "$ref", "$defs", "enum", "const",
            "description", "additionalProperties", "default", "definitions", "format", "not"]  # fmt: skip
schemas = st.recursive(
    st.sampled_from([{}, {"type": "string"}, {"type": "integer"}, {"type": ["string", "null"]}, {"$ref": "#/$defs/a"}]),
    lambda children: st.dictionaries(
        st.sampled_from(KEYWORDS),
        st.one_of(
            children,
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=5), children, max_size=3),
            json_scalars,
        ),
        max_size=5,
    ),
    max_leaves=20,
)

pytestmark = pytest.mark.slow  # hundreds of generated cases per property


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=150)), max_size=30))
def test_names_are_always_legal_distinct_and_reversible(pairs: list[tuple[str, str]]) -> None:
    names = assign_names(pairs)
    assert set(names) == set(pairs)  # every pair has a name: the table reverses it
    assert all(is_legal(name) for name in names.values())
    assert len(set(names.values())) == len(names)
    assert assign_names(list(reversed(pairs))) == names


@settings(max_examples=500, deadline=None)
@given(schemas)
@example({"properties": [], "allOf": [{"properties": {"a": {"type": "string"}}}]})  # found by this test
@example({"required": "a", "allOf": [{"properties": {"a": {}}, "required": ["a"]}]})
def test_the_schema_compiler_never_raises_anything_but_schema_error_and_its_output_is_glm_acceptable(
    schema: Any,
) -> None:
    try:
        compiled = compile_schema(schema)
    except SchemaError:
        return
    assert_glm_acceptable(compiled)
    json.dumps(compiled)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps)), schemas)
def test_argument_repair_gives_a_dict_or_a_clear_error(raw: str, schema: Any) -> None:
    try:
        arguments = prepare_arguments(raw, cast(dict[str, Any], schema) if isinstance(schema, dict) else {})
    except ArgumentsError as exc:
        assert str(exc)
        return
    assert isinstance(arguments, dict)


@settings(max_examples=300, deadline=None)
@given(json_values, st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3))
def test_config_loading_gives_a_config_or_a_config_error(data: Any, environ: dict[str, str]) -> None:
    try:
        parse_config(data, environ, "fuzz.json")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.json: ")


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.dictionaries(
            st.sampled_from(
                ["command", "url", "args", "env", "type", "timeout", "tools", "prefix", "headers", "cwd", "disabled"]
            ),
            json_values,
            max_size=5,
        ),
        max_size=3,
    )
)
def test_server_entries_give_a_config_or_a_config_error(servers: dict[str, Any]) -> None:
    try:
        parse_config({"mcpServers": servers}, {}, "fuzz.json")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.json: mcpServers.")
