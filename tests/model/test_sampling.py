"""A server's sampling request as GLM's chat body, and GLM's answer as the sampling result."""

from __future__ import annotations

import mcp.types as T
import pytest

from glm_mcp.errors import SamplingError
from glm_mcp.model.messages import ToolCall, Turn
from glm_mcp.relay.sampling import sampling_body, sampling_result

LOOKUP = T.Tool(
    name="lookup",
    description="Look a word up.",
    input_schema={"type": "object", "properties": {"word": {"type": ["string", "null"]}}, "required": ["word"]},
)


def _params(*messages: T.SamplingMessage, **fields: object) -> T.CreateMessageRequestParams:
    return T.CreateMessageRequestParams.model_validate({"messages": list(messages), "maxTokens": 50, **fields})


def test_a_conversation_with_tool_use_and_results_becomes_glm_messages_with_the_tools_compiled() -> None:
    params = _params(
        T.SamplingMessage(role="user", content=T.TextContent(text="What does 'gateway' mean?")),
        T.SamplingMessage(
            role="assistant", content=[T.ToolUseContent(id="u1", name="lookup", input={"word": "gateway"})]
        ),
        T.SamplingMessage(
            role="user",
            content=[T.ToolResultContent(tool_use_id="u1", content=[T.TextContent(text="a way in")])],
        ),
        tools=[LOOKUP],
        stopSequences=["END"],
        temperature=-1,
    )
    body = sampling_body(params, "glm-4.6")
    assert body["messages"] == [
        {"role": "user", "content": "What does 'gateway' mean?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "u1", "type": "function", "function": {"name": "lookup", "arguments": '{"word": "gateway"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "u1", "content": "a way in"},
    ]
    assert (body["max_tokens"], body["stop"], body["temperature"]) == (50, ["END"], 0.0)
    parameters = body["tools"][0]["function"]["parameters"]
    assert parameters["properties"]["word"] == {"type": "string"}  # compiled for GLM: the null branch goes


def test_tool_choice_none_offers_no_tools_and_a_structured_tool_result_is_passed_as_json() -> None:
    result = T.ToolResultContent(tool_use_id="u1", structured_content={"meaning": "a way in"})
    params = _params(T.SamplingMessage(role="user", content=[result]), tools=[LOOKUP], toolChoice={"mode": "none"})
    body = sampling_body(params, "glm-4.6")
    assert "tools" not in body
    assert body["messages"] == [{"role": "tool", "tool_call_id": "u1", "content": '{"meaning": "a way in"}'}]


def test_content_glm_cannot_read_is_refused_saying_what_to_do() -> None:
    image = T.ImageContent(data="iVBORw0KGgo=", mime_type="image/png")
    with pytest.raises(SamplingError, match='"sampling": "editor"'):
        sampling_body(_params(T.SamplingMessage(role="user", content=image)), "glm-4.6")


def test_glms_answer_is_a_result_naming_the_model_and_its_stop_reason() -> None:
    plain = sampling_result(Turn(content="\n\nshort", finish_reason="length", model="glm-4.6"), "x", with_tools=False)
    assert plain == T.CreateMessageResult(
        role="assistant", content=T.TextContent(text="short"), model="glm-4.6", stop_reason="maxTokens"
    )
    call = ToolCall(id="c1", name="lookup", arguments='{"word": "gate"}')
    asked = sampling_result(Turn(tool_calls=[call], finish_reason="tool_calls"), "glm-4.7", with_tools=True)
    assert isinstance(asked, T.CreateMessageResultWithTools)
    assert asked.model == "glm-4.7" and asked.stop_reason == "toolUse"
    assert asked.content_as_list == [T.ToolUseContent(id="c1", name="lookup", input={"word": "gate"})]


def test_a_cut_off_tool_call_in_glms_answer_is_an_error_not_a_guess() -> None:
    call = ToolCall(id="c1", name="lookup", arguments='{"word": "ga')
    with pytest.raises(SamplingError, match="could not be read"):
        sampling_result(Turn(tool_calls=[call], finish_reason="length"), "glm-4.6", with_tools=True)
