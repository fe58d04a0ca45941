"""Property-based tests: config loading, names, the schema compiler and argument repair never misbehave."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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


surrogate_texts = st.text(
    st.characters(max_codepoint=0x7F) | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=6
)  # whole pairs and lone halves
wire_scalars = (
    json_scalars
    | st.floats()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.text(max_size=6)
    | surrogate_texts
)
wire_values = st.recursive(
    wire_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (NaN is not equal to itself)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _well_formed(value: Any) -> Any:
    from glm_mcp._json import well_formed

    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, list):
        return [_well_formed(item) for item in cast(list[Any], value)]
    if isinstance(value, dict):
        return {well_formed(k): _well_formed(v) for k, v in cast(dict[str, Any], value).items()}
    return value


def _as_written(value: Any) -> str:
    """`value` as JSON, surrogates written as they are (so a pair of them differs from the character they pair)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


@given(wire_values)
@example(float("nan"))
@example([2**70, -(2**65)])
@example({"k": "\ud800 lone surrogate"})
@example({"\udc00": "a lone low half as a key"})
@example(["\ud83d\ude00 a pair"])
def test_the_wire_reads_json_as_pythons_own_json_does(value: Any) -> None:
    # The hot paths parse with orjson, which refuses some of what Python's json takes (NaN, integers past 64 bits,
    # lone surrogates): every chat request and model chunk must still be read, or refused, exactly as before.
    from glm_mcp._json import loads

    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert _same(loads(text, lone_surrogates=True), json.loads(text))
        read = json.loads(text)
        if (
            _as_written(read) != _as_written(_well_formed(read))
        ):  # a surrogate not joined to its pair  # refused, unless asked for as it is (a model's answer, mended by its reader)
            with pytest.raises(ValueError, match="half of a UTF-16 surrogate pair"):
                loads(text)
            continue
        assert _same(loads(text), json.loads(text))
        try:
            expected: Any = json.loads(text, parse_constant=_refuse)
        except ValueError as exc:
            with pytest.raises(ValueError, match=str(exc)):
                loads(text, parse_constant=_refuse)
        else:
            assert _same(loads(text, parse_constant=_refuse), expected)


@given(wire_values)
@example([2**70, {"k": 1e16}])
def test_the_wire_writes_json_that_reads_back_as_the_same_value(value: Any) -> None:
    from glm_mcp._json import dumps, encode

    try:
        before = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, UnicodeEncodeError):
        return  # NaN, Infinity and lone surrogates are not JSON: nothing valid was written before either
    written = encode(value)
    assert json.loads(written) == json.loads(before) and dumps(value) == written.decode()


@given(surrogate_texts | st.text(max_size=30), st.lists(st.integers(min_value=1, max_value=40), max_size=8))
@example("\ud83d\ude00", [3, 4])  # the pair's two escapes cut apart, then the second cut inside itself
@example("\\\ud83d", [1, 1, 1, 1])  # an escaped backslash before the escape, cut into single bytes
def test_a_servers_answer_is_mended_the_same_however_it_is_cut(text: str, cuts: list[int]) -> None:
    import anyio
    import httpx2

    from glm_mcp._json import mend_escapes_bytes, well_formed
    from glm_mcp.upstream.inbound import InboundTransport

    data = json.dumps({"text": text}).encode()  # as a JavaScript server writes it: every surrogate escaped
    pieces: list[bytes] = []
    for cut in cuts:
        pieces.append(data[:cut])
        data = data[cut:]
    pieces.append(data)

    class Pieces(httpx2.AsyncByteStream):  # the answer's body arrives cut as `cuts` says
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "application/json"}, stream=Pieces())

    async def read() -> bytes:
        transport = InboundTransport(lambda: None, httpx2.MockTransport(handler))
        async with httpx2.AsyncClient(transport=transport) as http:
            return (await http.get("http://server/")).content

    mended = anyio.run(read)
    assert mended == mend_escapes_bytes(b"".join(pieces))
    assert json.loads(mended) == {"text": well_formed(text)}
