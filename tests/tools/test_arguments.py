"""Argument repair and validation: what the model sent → what the server receives, or a message for the model."""

from __future__ import annotations

from typing import Any

import pytest

from glm_mcp.tools.arguments import ArgumentsError, prepare_arguments

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1},
        "ratio": {"type": "number"},
        "recursive": {"type": "boolean"},
        "filter": {"type": "object", "properties": {"ext": {"type": "string"}, "max": {"type": "integer"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "mode": {"enum": ["fast", "slow"]},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["path"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"path": "a.txt"}', {"path": "a.txt"}),
        ('{"path": "a.txt", "limit": 3', {"path": "a.txt", "limit": 3}),
        ("{'path': 'a.txt', 'recursive': true,}", {"path": "a.txt", "recursive": True}),
        ('"{\\"path\\": \\"a.txt\\"}"', {"path": "a.txt"}),
        (
            '{"path": "a", "limit": "10", "ratio": "0.5", "recursive": "false"}',
            {"path": "a", "limit": 10, "ratio": 0.5, "recursive": False},
        ),
        (
            '{"path": "a", "filter": "{\\"ext\\": \\"py\\", \\"max\\": \\"2\\"}"}',
            {"path": "a", "filter": {"ext": "py", "max": 2}},
        ),
        ('{"path": "a", "tags": "[\\"x\\", \\"y\\"]"}', {"path": "a", "tags": ["x", "y"]}),
        ('{"path": "123"}', {"path": "123"}),
        ('{"path": "a", "note": null}', {"path": "a", "note": None}),
        ({"path": "a"}, {"path": "a"}),
    ],
    ids=[
        "valid",
        "truncated",
        "python-ish",
        "double-encoded",
        "string-scalars",
        "object-as-string",
        "array-as-string",
        "string-stays-string",
        "nullable",
        "already-a-dict",
    ],  # fmt: skip
)
def test_near_json_is_repaired_and_coerced_where_the_schema_is_clear(
    raw: str | dict[str, Any], expected: dict[str, Any]
) -> None:
    assert prepare_arguments(raw, SCHEMA) == expected


def test_empty_arguments_are_an_empty_object() -> None:
    assert prepare_arguments("", {"type": "object", "properties": {}}) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{}", "invalid arguments: 'path' is required but missing"),
        ('{"path": "a", "limit": "ten"}', "invalid arguments: 'limit' must be of type integer, got \"ten\" (string)"),
        ('{"path": "a", "limit": 0}', "invalid arguments: 'limit': 0 is less than the minimum of 1"),
        (
            '{"path": "a", "mode": "medium"}',
            'invalid arguments: \'mode\' must be one of "fast", "slow", got "medium" (string)',
        ),
        (
            '{"path": "a", "colour": "red"}',
            "invalid arguments: Additional properties are not allowed ('colour' was unexpected); only the parameters in the tool's schema are accepted",
        ),
        ("[1, 2]", "the arguments must be a JSON object, got '[1, 2]'"),
        ("call read_file please", "the arguments must be a JSON object, got 'call read_file please'"),
    ],
)
def test_invalid_arguments_get_a_short_message_naming_the_parameter(raw: str, message: str) -> None:
    with pytest.raises(ArgumentsError) as caught:
        prepare_arguments(raw, SCHEMA)
    assert str(caught.value) == message


def test_an_invalid_schema_lets_arguments_through_unchecked() -> None:
    assert prepare_arguments('{"a": 1}', {"type": "object", "properties": {"a": {"type": "no-such-type"}}}) == {"a": 1}
