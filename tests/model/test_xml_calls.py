"""GLM's native call format leaked into text: found in whole text and in deltas split anywhere, other text kept."""

from __future__ import annotations

from glm_mcp.model.xml_calls import LeakedCall, LeakFilter, clean_name, parse_pairs, take_calls

GLM45 = "Let me check.\n<tool_call>weather__forecast\n<arg_key>city</arg_key>\n<arg_value>Oslo</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>"
GLM47 = "<tool_call>weather__forecast<arg_key>city</arg_key><arg_value>Bergen</arg_value></tool_call> done"


def test_a_block_naming_an_offered_tool_becomes_a_call_and_leaves_the_text() -> None:
    text, calls = take_calls(GLM45, {"weather__forecast"})
    assert text == "Let me check.\n"
    assert calls == [LeakedCall("weather__forecast", {"city": "Oslo", "days": "2"})]
    text, calls = take_calls(GLM47, {"weather__forecast"})
    assert (text, calls) == (" done", [LeakedCall("weather__forecast", {"city": "Bergen"})])


def test_zero_argument_calls_and_blocks_naming_other_tools() -> None:
    text, calls = take_calls("a<tool_call>memo__count</tool_call>b<tool_call>rm_rf\n</tool_call>", {"memo__count"})
    assert text == "ab<tool_call>rm_rf\n</tool_call>"
    assert calls == [LeakedCall("memo__count", {})]


def test_a_stream_split_at_every_position_gives_the_same_text_and_calls() -> None:
    offered = {"weather__forecast"}
    for split in range(len(GLM45) + 1):
        leak = LeakFilter(offered)
        shown = leak.feed(GLM45[:split]) + leak.feed(GLM45[split:]) + leak.finish()
        assert shown == "Let me check.\n", split
        assert [call.arguments for call in leak.calls] == [{"city": "Oslo", "days": "2"}]
    one_by_one = LeakFilter(offered)
    shown = "".join(one_by_one.feed(char) for char in GLM47) + one_by_one.finish()
    assert shown == " done" and len(one_by_one.calls) == 1


def test_text_that_only_looks_like_a_tag_is_shown_and_an_unclosed_block_of_another_tool_is_kept_as_text() -> None:
    leak = LeakFilter({"weather__forecast"})
    assert leak.feed("if a <b and <tool") + leak.feed("box> then") + leak.finish() == "if a <b and <toolbox> then"
    leak = LeakFilter({"weather__forecast"})
    cut = "<tool_call>other_tool\n<arg_key>city"
    assert leak.feed(cut) == "" and leak.finish() == cut and leak.calls == []


def test_leaked_tags_in_a_structured_call_are_cleaned() -> None:
    assert clean_name("get_weather</tool_call>") == "get_weather"
    assert clean_name("<tool_call>get_weather") == "get_weather"
    assert parse_pairs("<arg_key>a</arg_key><arg_value>1</arg_value></tool_call>") == {"a": "1"}
    assert parse_pairs('{"a": 1}') is None


def test_a_block_the_text_ends_inside_is_a_cut_off_call_when_it_names_an_offered_tool() -> None:
    cut = "Deleting.<tool_call>notes__delete_note\n<arg_key>note_id</arg_key>\n<arg_value>1"
    text, calls = take_calls(cut, {"notes__delete_note"})
    assert text == "Deleting." and calls == [LeakedCall("notes__delete_note", {}, cut_off=True)]
    text, calls = take_calls(cut, {"other"})
    assert (text, calls) == (cut, [])
