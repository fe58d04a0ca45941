"""A corpus of faulty tool calls as models really write them, each with what must happen.

Every case is a call against a real tool schema (`tests/data/tool_schemas.json`: the bundled servers and
server-filesystem, server-memory, mcp-server-git, mcp-server-time as they list themselves) and says either
the exact arguments the server must receive, or `None`: the call must come back to the model as an error.
The failure classes follow glm-api.md §8 and how models fail in the field: truncation at every position
(the token limit), escaping slips, objects sent as strings at any depth, Python literals, GLM's XML format
leaked into text or into a structured call, and values that cannot be read without changing them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMAS: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "tool_schemas.json").read_text())


@dataclass(frozen=True)
class Case:
    """One model turn with one faulty call."""

    id: str
    kind: str
    """The failure class."""
    tool: str
    """The exposed tool the model means (`server__tool`)."""
    arguments: str
    """The raw arguments string, as the model sent it (empty when the call leaked into `content`)."""
    expect: dict[str, Any] | None
    """What the server must receive, or None: the model must get an error and the server nothing."""
    name: str | None = None
    """The function name as the model wrote it, when it differs from `tool`."""
    content: str = ""
    """Assistant text; a leaked XML call lives here."""
    reasoning: str = ""
    finish_reason: str | None = None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# Calls the model meant, on real schemas: (tool, arguments).
INTENDED: list[tuple[str, dict[str, Any]]] = [
    ("filesystem__write_file", {"path": "notes/x.log", "content": "The quick brown fox jumps over the lazy dog.\n"}),
    ("notes__delete_note", {"note_id": 12}),
    (
        "filesystem__edit_file",
        {"path": "src/app.py", "edits": [{"oldText": "def main():\n    pass", "newText": "def main():\n    run()"}]},
    ),
    (
        "memory__create_entities",
        {"entities": [{"name": "Ada", "entityType": "person", "observations": ["likes tea", 'writes "code"']}]},
    ),
    ("git__git_commit", {"repo_path": "/repo", "message": "Fix the parser\n\nIt dropped the last line."}),
    ("notes__add_note", {"text": "Call Bob at 5", "tags": ["work", "phone"]}),
    ("git__git_add", {"repo_path": "/repo", "files": ["a.py", "b/c.py"]}),
    ("time__convert_time", {"source_timezone": "Europe/Paris", "time": "14:30", "target_timezone": "Asia/Tokyo"}),
]


def _truncations() -> list[Case]:
    """Every intended call cut at many positions, with and without `finish_reason: "length"`."""
    cases: list[Case] = []
    for tool, arguments in INTENDED:
        text = _dumps(arguments)
        positions = sorted({1, 2, len(text) // 3, len(text) // 2, 2 * len(text) // 3, len(text) - 2, len(text) - 1})
        positions += [i for i, char in enumerate(text) if char in '",:[' and i > 0][:4]
        for position in sorted(set(positions)):
            cut = text[:position]
            finish = "length" if position % 2 else "tool_calls"
            cases.append(Case(f"cut-{tool}-{position}", "truncation", tool, cut, None, finish_reason=finish))
    return cases


def _escaping() -> list[Case]:
    cases: list[Case] = []
    for tool, arguments in INTENDED:
        text = _dumps(arguments)
        cases.append(Case(f"escaped-once-{tool}", "escaping", tool, json.dumps(text)[1:-1], arguments))
        cases.append(Case(f"wrapped-{tool}", "escaping", tool, json.dumps(text), arguments))
        cases.append(Case(f"fenced-{tool}", "escaping", tool, f"```json\n{text}\n```", arguments))
        pretty = json.dumps(arguments, indent=2, ensure_ascii=False)
        cases.append(Case(f"pretty-printed-{tool}", "escaping", tool, pretty, arguments))
    write = {"path": "a.txt", "content": "line 1\nline 2\n"}
    cases += [
        Case(
            "raw-control-chars",
            "escaping",
            "filesystem__write_file",
            '{"path": "a.txt", "content": "line 1\nline 2\n"}',
            write,
        ),
        Case(
            "tab-raw",
            "escaping",
            "filesystem__write_file",
            '{"path": "t.tsv", "content": "a\tb"}',
            {"path": "t.tsv", "content": "a\tb"},
        ),
        Case(
            "regex-escape-kept",
            "escaping",
            "filesystem__search_files",
            '{"path": "/src", "pattern": "test_\\d+\\.py"}',
            {"path": "/src", "pattern": "test_\\d+\\.py"},
        ),
        Case(
            "windows-path",
            "escaping",
            "files__read_file",
            '{"path": "C:\\\\Users\\\\ada\\\\notes.txt"}',
            {"path": "C:\\Users\\ada\\notes.txt"},
        ),
        Case(
            "trailing-newline-kept",
            "escaping",
            "filesystem__write_file",
            '{"path": "a.txt", "content": "end\\n"}',
            {"path": "a.txt", "content": "end\n"},
        ),
        Case(
            "unicode-escapes",
            "escaping",
            "notes__add_note",
            '{"text": "caf\\u00e9 \\ud83d\\ude00"}',
            {"text": "café 😀"},
        ),
        Case("quote-escaped-twice-inside", "escaping", "notes__add_note", '{"text": "say \\\\"hi\\\\""}', None),
    ]
    return cases


def _nested() -> list[Case]:
    edit = {"oldText": "a", "newText": "b"}
    entity = {"name": "Ada", "entityType": "person", "observations": ["likes tea"]}
    return [
        Case(
            "edits-as-string",
            "nested",
            "filesystem__edit_file",
            _dumps({"path": "x", "edits": _dumps([edit])}),
            {"path": "x", "edits": [edit]},
        ),
        Case(
            "edit-items-as-strings",
            "nested",
            "filesystem__edit_file",
            _dumps({"path": "x", "edits": [_dumps(edit)]}),
            {"path": "x", "edits": [edit]},
        ),
        Case(
            "entities-as-string",
            "nested",
            "memory__create_entities",
            _dumps({"entities": _dumps([entity])}),
            {"entities": [entity]},
        ),
        Case(
            "observations-as-string-inside-decoded",
            "nested",
            "memory__create_entities",
            _dumps({"entities": _dumps([{**entity, "observations": _dumps(entity["observations"])}])}),
            {"entities": [entity]},
        ),
        Case(
            "tags-as-string-anyof",
            "nested",
            "notes__add_note",
            _dumps({"text": "t", "tags": '["a", "b"]'}),
            {"text": "t", "tags": ["a", "b"]},
        ),
        Case(
            "tags-null", "nested", "notes__add_note", _dumps({"text": "t", "tags": None}), {"text": "t", "tags": None}
        ),
        Case("id-as-string", "nested", "notes__delete_note", '{"note_id": "12"}', {"note_id": 12}),
        Case(
            "number-as-string",
            "nested",
            "filesystem__read_text_file",
            '{"path": "a", "head": "20"}',
            {"path": "a", "head": 20},
        ),
        Case(
            "bool-as-string",
            "nested",
            "filesystem__edit_file",
            _dumps({"path": "x", "edits": [edit], "dryRun": "true"}),
            {"path": "x", "edits": [edit], "dryRun": True},
        ),
        Case(
            "files-as-string",
            "nested",
            "git__git_add",
            '{"repo_path": "/r", "files": "[\\"a.py\\"]"}',
            {"repo_path": "/r", "files": ["a.py"]},
        ),
        Case(
            "paths-single-quoted-inside",
            "nested",
            "filesystem__read_multiple_files",
            "{\"paths\": \"['a', 'b']\"}",
            {"paths": ["a", "b"]},
        ),
        Case(
            "string-keeps-leading-zeros",
            "nested",
            "time__convert_time",
            '{"source_timezone": "UTC", "time": "09:05", "target_timezone": "Asia/Tokyo"}',
            {"source_timezone": "UTC", "time": "09:05", "target_timezone": "Asia/Tokyo"},
        ),
        Case(
            "string-keeps-json-text",
            "nested",
            "notes__add_note",
            _dumps({"text": '{"not": "decoded"}'}),
            {"text": '{"not": "decoded"}'},
        ),
        Case("string-keeps-number-text", "nested", "notes__search_notes", '{"query": "007"}', {"query": "007"}),
        Case(
            "nested-cut-inside-string",
            "nested",
            "filesystem__edit_file",
            _dumps({"path": "x", "edits": '[{"oldText": "a", "newText": "b'}),
            None,
        ),
        Case("nested-bare-value", "nested", "memory__create_entities", _dumps({"entities": '[{"name": Ada}]'}), None),
        Case("count-not-a-number", "nested", "notes__delete_note", '{"note_id": "twelve"}', None),
    ]


def _python_literals() -> list[Case]:
    return [
        Case(
            "single-quotes",
            "python",
            "notes__add_note",
            "{'text': 'buy milk', 'tags': ['home']}",
            {"text": "buy milk", "tags": ["home"]},
        ),
        Case(
            "python-bools",
            "python",
            "files__search_text",
            "{'query': 'TODO', 'regex': False}",
            {"query": "TODO", "regex": False},
        ),
        Case(
            "python-true",
            "python",
            "filesystem__edit_file",
            "{'path': 'x', 'edits': [{'oldText': 'a', 'newText': 'b'}], 'dryRun': True}",
            {"path": "x", "edits": [{"oldText": "a", "newText": "b"}], "dryRun": True},
        ),
        Case("python-none", "python", "notes__list_notes", "{'tag': None}", {"tag": None}),
        Case(
            "trailing-commas",
            "python",
            "git__git_add",
            '{"repo_path": "/r", "files": ["a", "b",],}',
            {"repo_path": "/r", "files": ["a", "b"]},
        ),
        Case("unquoted-keys", "python", "notes__delete_note", "{note_id: 12}", {"note_id": 12}),
        Case(
            "js-comments",
            "python",
            "files__read_file",
            '{"path": "a.txt", // the file\n "offset": 10 /* bytes */}',
            {"path": "a.txt", "offset": 10},
        ),
        Case("apostrophe-escaped", "python", "notes__add_note", "{'text': 'it\\'s done'}", {"text": "it's done"}),
        Case("double-quote-in-single", "python", "notes__add_note", "{'text': 'say \"hi\"'}", {"text": 'say "hi"'}),
        Case(
            "python-dict-repr-unicode",
            "python",
            "notes__add_note",
            repr({"text": "naïve café\n"}),
            {"text": "naïve café\n"},
        ),
        Case("empty-arguments", "python", "filesystem__list_allowed_directories", "", {}),
        Case("null-arguments", "python", "memory__read_graph", "null", {}),
    ]


def _xml() -> list[Case]:
    def block(name: str, pairs: dict[str, str], same_line: bool = False) -> str:
        sep = "" if same_line else "\n"
        body = "".join(f"<arg_key>{k}</arg_key>{sep}<arg_value>{v}</arg_value>{sep}" for k, v in pairs.items())
        return f"<tool_call>{name}{sep}{body}</tool_call>"

    return [
        Case(
            "xml-glm45-content",
            "xml",
            "notes__delete_note",
            "",
            {"note_id": 12},
            content="I'll delete it.\n" + block("notes__delete_note", {"note_id": "12"}),
        ),
        Case(
            "xml-glm47-content",
            "xml",
            "time__get_current_time",
            "",
            {"timezone": "Asia/Tokyo"},
            content=block("time__get_current_time", {"timezone": "Asia/Tokyo"}, same_line=True),
        ),
        Case("xml-zero-args", "xml", "memory__read_graph", "", {}, content="<tool_call>memory__read_graph</tool_call>"),
        Case(
            "xml-in-reasoning",
            "xml",
            "git__git_status",
            "",
            {"repo_path": "/repo"},
            reasoning="Check status first." + block("git__git_status", {"repo_path": "/repo"}),
        ),
        Case(
            "xml-array-typed",
            "xml",
            "git__git_add",
            "",
            {"repo_path": "/r", "files": ["a.py"]},
            content=block("git__git_add", {"repo_path": "/r", "files": '["a.py"]'}),
        ),
        Case(
            "xml-bool-typed",
            "xml",
            "files__search_text",
            "",
            {"query": "x", "regex": True},
            content=block("files__search_text", {"query": "x", "regex": "true"}),
        ),
        Case(
            "xml-string-kept-raw",
            "xml",
            "filesystem__write_file",
            "",
            {"path": "a.json", "content": '{"k": 1}\n'},
            content=block("filesystem__write_file", {"path": "a.json", "content": '{"k": 1}\n'}),
        ),
        Case(
            "xml-multiline-value",
            "xml",
            "git__git_commit",
            "",
            {"repo_path": "/r", "message": "Title\n\nBody"},
            content=block("git__git_commit", {"repo_path": "/r", "message": "Title\n\nBody"}),
        ),
        Case(
            "xml-pairs-as-arguments",
            "xml",
            "notes__add_note",
            "<arg_key>text</arg_key>\n<arg_value>hello</arg_value>",
            {"text": "hello"},
        ),
        Case("xml-closing-tag-after-json", "xml", "notes__delete_note", '{"note_id": 12}</tool_call>', {"note_id": 12}),
        Case(
            "xml-name-with-closing-tag",
            "xml",
            "notes__delete_note",
            '{"note_id": 12}',
            {"note_id": 12},
            name="notes__delete_note</tool_call>",
        ),
        Case(
            "xml-arg-value-in-value",
            "xml",
            "time__get_current_time",
            '{"timezone": "<arg_value>Europe/Oslo</arg_value>"}',
            {"timezone": "Europe/Oslo"},
        ),
        Case(
            "xml-bad-int",
            "xml",
            "notes__delete_note",
            "",
            None,
            content=block("notes__delete_note", {"note_id": "twelve"}),
        ),
    ]


def _unreadable() -> list[Case]:
    return [
        Case("bare-path", "unreadable", "filesystem__read_file", '{"path": notes/x.log}', None),
        Case("bare-word", "unreadable", "git__git_checkout", '{"repo_path": "/r", "branch_name": main}', None),
        Case("quote-cuts-value", "unreadable", "notes__add_note", '{"text": "she said "yes" to it"}', None),
        Case(
            "quote-cuts-commit",
            "unreadable",
            "git__git_commit",
            '{"repo_path": "/r", "message": "Fix "the" bug"}',
            None,
        ),
        Case("leading-zero", "unreadable", "notes__delete_note", '{"note_id": 012}', None),
        Case("duplicate-key", "unreadable", "notes__delete_note", '{"note_id": 1, "note_id": 12}', None),
        Case("extra-brace", "unreadable", "notes__delete_note", '{"note_id": 12}}', None),
        Case("mismatched-brackets", "unreadable", "git__git_add", '{"repo_path": "/r", "files": ["a.py"}', None),
        Case("missing-comma", "unreadable", "files__read_file", '{"path": "a" "offset": 3}', None),
        Case("key-value-text", "unreadable", "files__read_file", "path=a.txt", None),
        Case("prose", "unreadable", "files__read_file", "read the file a.txt", None),
        Case("two-documents", "unreadable", "notes__delete_note", '{"note_id": 1}{"note_id": 2}', None),
        Case("array-not-object", "unreadable", "notes__delete_note", "[12]", None),
        Case("nan", "unreadable", "filesystem__read_text_file", '{"path": "a", "head": NaN}', None),
        Case("missing-required", "unreadable", "filesystem__write_file", '{"path": "a.txt"}', None),
        Case(
            "wrong-enum", "unreadable", "filesystem__list_directory_with_sizes", '{"path": "/", "sortBy": "date"}', None
        ),
        Case(
            "escaped-once-cut",
            "unreadable",
            "filesystem__write_file",
            '{\\"path\\": \\"a.txt\\", \\"content\\": \\"hel',
            None,
        ),
        Case("fence-cut", "unreadable", "notes__add_note", '```json\n{"text": "hal', None),
        Case(
            "xml-unclosed-block",
            "truncation",
            "notes__delete_note",
            "",
            None,
            content="<tool_call>notes__delete_note\n<arg_key>note_id</arg_key>\n<arg_value>1",
            finish_reason="length",
        ),
        Case(
            "xml-unclosed-in-reasoning",
            "truncation",
            "filesystem__write_file",
            "",
            None,
            reasoning="<tool_call>filesystem__write_file<arg_key>path</arg_key><arg_value>a.txt</arg_value><arg_key>con",
            finish_reason="length",
        ),
    ]


def cases() -> list[Case]:
    """The whole corpus."""
    return [*_truncations(), *_escaping(), *_nested(), *_python_literals(), *_xml(), *_unreadable()]
