"""Tool results as GLM reads them."""

from __future__ import annotations

import base64
import json

import mcp.types as T

from glm_mcp.tools.results import flatten_result


def test_text_is_kept_and_the_sdk_json_twin_of_structured_content_is_said_once() -> None:
    result = T.CallToolResult(content=[T.TextContent(text='{"a": 1}')], structured_content={"a": 1})
    assert flatten_result(result) == '{"a": 1}'


def test_structured_content_alone_becomes_compact_json() -> None:
    result = T.CallToolResult(content=[], structured_content={"city": "Zürich", "temp": [1, 2]})
    assert flatten_result(result) == '{"city":"Zürich","temp":[1,2]}'


def test_images_blobs_and_links_become_short_notes() -> None:
    data = base64.b64encode(b"x" * 300).decode()
    result = T.CallToolResult(
        content=[
            T.TextContent(text="Here:"),
            T.ImageContent(data=data, mime_type="image/png"),
            T.EmbeddedResource(
                resource=T.BlobResourceContents(uri="file:///a.bin", blob=data, mime_type="application/zip")
            ),
            T.EmbeddedResource(resource=T.TextResourceContents(uri="file:///a.txt", text="inline text")),
            T.ResourceLink(uri="file:///b.txt", name="b"),
        ]
    )
    assert flatten_result(result) == (
        "Here:\n"
        "[image image/png, 300 bytes, not shown to the model]\n"
        "[resource file:///a.bin: application/zip, 300 bytes, not shown]\n"
        "inline text\n"
        "[resource file:///b.txt (b)]"
    )


def test_errors_say_so() -> None:
    result = T.CallToolResult(content=[T.TextContent(text="no such file")], is_error=True)
    assert flatten_result(result) == "Error: no such file"


def test_long_results_are_cut_with_a_note_of_how_much() -> None:
    result = T.CallToolResult(content=[T.TextContent(text="y" * 150)])
    assert flatten_result(result, max_chars=100) == "y" * 100 + (
        "\n[glm-mcp: the result has 150 characters; the last 50 were cut here. Ask the tool for a smaller part "
        "if you need them.]"
    )


def test_structured_content_that_only_repeats_the_text_is_said_once() -> None:
    """server-filesystem sends a file as text and again as {"content": text}; server-memory as JSON twice."""
    file = "line\n" * 4000
    read = T.CallToolResult(content=[T.TextContent(text=file)], structured_content={"content": file})
    assert flatten_result(read, max_chars=100_000) == file
    graph = {"entities": [{"name": "Ada", "observations": ["likes tea"]}], "relations": []}
    memory = T.CallToolResult(content=[T.TextContent(text=json.dumps(graph, indent=2))], structured_content=graph)
    assert flatten_result(memory) == json.dumps(graph, indent=2)
    created = [{"name": "Ada", "observations": ["likes tea"]}]
    under_a_key = T.CallToolResult(
        content=[T.TextContent(text=json.dumps(created, indent=2))], structured_content={"entities": created}
    )
    assert flatten_result(under_a_key) == json.dumps(created, indent=2)
    more = T.CallToolResult(content=[T.TextContent(text="ok")], structured_content={"content": "ok", "size": 2})
    assert flatten_result(more) == 'ok\n{"content":"ok","size":2}'
