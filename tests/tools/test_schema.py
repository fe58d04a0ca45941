"""The schema compiler: golden outputs over real schemas (bundled servers, third-party servers) and hard cases."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot
from mcp import Client, StdioServerParameters

from glm_mcp.errors import SchemaError
from glm_mcp.tools.schema import compile_schema
from servers import clock, files, notes
from tests.helpers import assert_glm_acceptable


async def _compiled(server: Any) -> dict[str, Any]:
    async with Client(server, mode="legacy") as client:
        return {tool.name: compile_schema(tool.input_schema) for tool in (await client.list_tools()).tools}


async def test_bundled_servers_compile_to_golden_schemas() -> None:
    compiled = {
        "clock": await _compiled(clock.mcp),
        "files": await _compiled(files.mcp),
        "notes": await _compiled(notes.mcp),
    }
    for tools in compiled.values():
        for schema in tools.values():
            assert_glm_acceptable(schema)
    assert compiled == snapshot(
        {
            "clock": {
                "now": {
                    "properties": {"timezone": {"default": "UTC", "title": "Timezone", "type": "string"}},
                    "type": "object",
                    "title": "nowArguments",
                },
                "convert": {
                    "properties": {
                        "time": {"title": "Time", "type": "string"},
                        "from_timezone": {"title": "From Timezone", "type": "string"},
                        "to_timezone": {"title": "To Timezone", "type": "string"},
                    },
                    "required": ["time", "from_timezone", "to_timezone"],
                    "type": "object",
                    "title": "convertArguments",
                },
                "list_timezones": {
                    "properties": {"contains": {"default": "", "title": "Contains", "type": "string"}},
                    "type": "object",
                    "title": "list_timezonesArguments",
                },
                "wait": {
                    "properties": {"seconds": {"title": "Seconds", "type": "number"}},
                    "required": ["seconds"],
                    "type": "object",
                    "title": "waitArguments",
                },
            },
            "files": {
                "read_file": {
                    "properties": {
                        "path": {"title": "Path", "type": "string"},
                        "offset": {"default": 0, "title": "Offset", "type": "integer"},
                        "max_bytes": {"default": 100000, "title": "Max Bytes", "type": "integer"},
                    },
                    "required": ["path"],
                    "type": "object",
                    "title": "read_fileArguments",
                },
                "list_directory": {
                    "properties": {"path": {"default": ".", "title": "Path", "type": "string"}},
                    "type": "object",
                    "title": "list_directoryArguments",
                },
                "find_files": {
                    "properties": {
                        "pattern": {"title": "Pattern", "type": "string"},
                        "path": {"default": ".", "title": "Path", "type": "string"},
                    },
                    "required": ["pattern"],
                    "type": "object",
                    "title": "find_filesArguments",
                },
                "search_text": {
                    "properties": {
                        "query": {"title": "Query", "type": "string"},
                        "path": {"default": ".", "title": "Path", "type": "string"},
                        "glob": {"default": "*", "title": "Glob", "type": "string"},
                        "regex": {"default": False, "title": "Regex", "type": "boolean"},
                    },
                    "required": ["query"],
                    "type": "object",
                    "title": "search_textArguments",
                },
                "file_info": {
                    "properties": {"path": {"title": "Path", "type": "string"}},
                    "required": ["path"],
                    "type": "object",
                    "title": "file_infoArguments",
                },
            },
            "notes": {
                "add_note": {
                    "properties": {
                        "text": {"title": "Text", "type": "string"},
                        "tags": {"items": {"type": "string"}, "type": "array", "default": None, "title": "Tags"},
                    },
                    "required": ["text"],
                    "type": "object",
                    "title": "add_noteArguments",
                },
                "list_notes": {
                    "properties": {"tag": {"type": "string", "default": None, "title": "Tag"}},
                    "type": "object",
                    "title": "list_notesArguments",
                },
                "search_notes": {
                    "properties": {"query": {"title": "Query", "type": "string"}},
                    "required": ["query"],
                    "type": "object",
                    "title": "search_notesArguments",
                },
                "delete_note": {
                    "properties": {"note_id": {"title": "Note Id", "type": "integer"}},
                    "required": ["note_id"],
                    "type": "object",
                    "title": "delete_noteArguments",
                },
            },
        }
    )


@pytest.mark.slow
async def test_third_party_servers_compile_to_golden_schemas(everything_server: Path) -> None:
    compiled: dict[str, Any] = {}
    for name, params in {
        "time": StdioServerParameters(command=sys.executable, args=["-m", "mcp_server_time"]),
        "everything": StdioServerParameters(command="node", args=[str(everything_server), "stdio"]),
    }.items():
        async with Client(params, mode="legacy") as client:
            tools = (await client.list_tools()).tools
        compiled[name] = {tool.name: compile_schema(tool.input_schema) for tool in tools}
        for schema in compiled[name].values():
            assert_glm_acceptable(schema)
    assert compiled == snapshot(
        {
            "time": {
                "get_current_time": {
                    "properties": {
                        "timezone": {
                            "description": "IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'Etc/UTC' as local timezone if no timezone provided by the user.",
                            "title": "Timezone",
                            "type": "string",
                        }
                    },
                    "required": ["timezone"],
                    "type": "object",
                    "title": "get_current_timeArguments",
                },
                "convert_time": {
                    "properties": {
                        "source_timezone": {
                            "description": "Source IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'Etc/UTC' as local timezone if no source timezone provided by the user.",
                            "title": "Source Timezone",
                            "type": "string",
                        },
                        "time": {
                            "description": "Time to convert in 24-hour format (HH:MM)",
                            "title": "Time",
                            "type": "string",
                        },
                        "target_timezone": {
                            "description": "Target IANA timezone name (e.g., 'Asia/Tokyo', 'America/San_Francisco'). Use 'Etc/UTC' as local timezone if no target timezone provided by the user.",
                            "title": "Target Timezone",
                            "type": "string",
                        },
                    },
                    "required": ["source_timezone", "time", "target_timezone"],
                    "type": "object",
                    "title": "convert_timeArguments",
                },
            },
            "everything": {
                "echo": {
                    "type": "object",
                    "properties": {"message": {"type": "string", "description": "Message to echo"}},
                    "required": ["message"],
                },
                "get-annotated-message": {
                    "type": "object",
                    "properties": {
                        "messageType": {
                            "type": "string",
                            "enum": ["error", "success", "debug"],
                            "description": "Type of message to demonstrate different annotation patterns",
                        },
                        "includeImage": {
                            "default": False,
                            "description": "Whether to include an example image",
                            "type": "boolean",
                        },
                    },
                    "required": ["messageType"],
                },
                "get-env": {"type": "object", "properties": {}},
                "get-resource-links": {
                    "type": "object",
                    "properties": {
                        "count": {
                            "default": 3,
                            "description": "Number of resource links to return (1-10)",
                            "type": "number",
                            "minimum": 1,
                            "maximum": 10,
                        }
                    },
                },
                "get-resource-reference": {
                    "type": "object",
                    "properties": {
                        "resourceType": {"default": "Text", "type": "string", "enum": ["Text", "Blob"]},
                        "resourceId": {
                            "default": 1,
                            "description": "ID of the text resource to fetch",
                            "type": "number",
                        },
                    },
                },
                "get-structured-content": {
                    "type": "object",
                    "properties": {
                        "location": {
                            "type": "string",
                            "enum": ["New York", "Chicago", "Los Angeles"],
                            "description": "Choose city",
                        }
                    },
                    "required": ["location"],
                },
                "get-sum": {
                    "type": "object",
                    "properties": {
                        "a": {"type": "number", "description": "First number"},
                        "b": {"type": "number", "description": "Second number"},
                    },
                    "required": ["a", "b"],
                },
                "get-tiny-image": {"type": "object", "properties": {}},
                "gzip-file-as-resource": {
                    "type": "object",
                    "properties": {
                        "name": {"default": "README.md.gz", "type": "string", "description": "Name of the output file"},
                        "data": {
                            "default": "https://raw.githubusercontent.com/modelcontextprotocol/servers/refs/heads/main/README.md",
                            "type": "string",
                            "format": "uri",
                            "description": "URL or data URI of the file content to compress",
                        },
                        "outputType": {
                            "default": "resourceLink",
                            "description": "How the resulting gzipped file should be returned. 'resourceLink' returns a link to a resource that can be read later, 'resource' returns a full resource object.",
                            "type": "string",
                            "enum": ["resourceLink", "resource"],
                        },
                    },
                },
                "toggle-simulated-logging": {"type": "object", "properties": {}},
                "toggle-subscriber-updates": {"type": "object", "properties": {}},
                "trigger-long-running-operation": {
                    "type": "object",
                    "properties": {
                        "duration": {
                            "default": 10,
                            "description": "Duration of the operation in seconds",
                            "type": "number",
                        },
                        "steps": {"default": 5, "description": "Number of steps in the operation", "type": "number"},
                    },
                },
                "simulate-research-query": {
                    "type": "object",
                    "properties": {
                        "topic": {"type": "string", "description": "The research topic to investigate"},
                        "ambiguous": {
                            "default": False,
                            "description": "Simulate an ambiguous query that requires clarification (triggers input_required status)",
                            "type": "boolean",
                        },
                    },
                    "required": ["topic"],
                },
            },
        }
    )


HARD_CASES: dict[str, dict[str, Any]] = {
    "refs_and_nullable": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x", "y"],
            },
        },
        "properties": {
            "start": {"$ref": "#/$defs/Point", "description": "Where to start."},
            "end": {"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}], "default": None},
            "label": {"type": ["string", "null"], "examples": ["a"]},
            "mode": {"const": "fast"},
        },
        "required": ["start", "ghost"],
        "additionalProperties": False,
    },
    "recursive_tree": {
        "type": "object",
        "definitions": {
            "Node": {
                "type": "object",
                "description": "A tree node.",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
                },
            }
        },
        "properties": {"root": {"$ref": "#/definitions/Node"}},
    },
    "missing_types": {
        "properties": {
            "anything": {},
            "tags": {"type": "array"},
            "options": {"properties": {"deep": {"enum": [1, 2]}}},
            "choice": {"enum": ["a", "b", None]},
            "merged": {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}},
                    {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
                ]
            },
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "conditional": {"type": "string", "if": {"minLength": 1}, "then": {"pattern": "^a"}, "format": "email"},
        }
    },
}


def test_hard_cases_compile_to_golden_schemas() -> None:
    compiled = {name: compile_schema(schema) for name, schema in HARD_CASES.items()}
    for schema in compiled.values():
        assert_glm_acceptable(schema)
    assert compiled == snapshot(
        {
            "refs_and_nullable": {
                "type": "object",
                "properties": {
                    "start": {
                        "type": "object",
                        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                        "required": ["x", "y"],
                        "description": "Where to start.",
                    },
                    "end": {
                        "type": "object",
                        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                        "required": ["x", "y"],
                        "default": None,
                    },
                    "label": {"type": "string"},
                    "mode": {"enum": ["fast"], "type": "string"},
                },
                "required": ["start"],
                "additionalProperties": False,
            },
            "recursive_tree": {
                "type": "object",
                "properties": {
                    "root": {
                        "type": "object",
                        "description": "A tree node.",
                        "properties": {
                            "name": {"type": "string"},
                            "children": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "description": "A tree node.",
                                    "properties": {
                                        "name": {"type": "string"},
                                        "children": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "description": "A tree node.",
                                                "properties": {
                                                    "name": {"type": "string"},
                                                    "children": {"type": "array", "items": {"type": "object"}},
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
            "missing_types": {
                "properties": {
                    "anything": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "options": {"properties": {"deep": {"enum": [1, 2], "type": "integer"}}, "type": "object"},
                    "choice": {"enum": ["a", "b"], "type": "string"},
                    "merged": {
                        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                        "type": "object",
                        "required": ["b"],
                    },
                    "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    "conditional": {"type": "string", "format": "email"},
                },
                "type": "object",
            },
        }
    )


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "string"}, "the input schema describes 'string', not an object"),
        (
            {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}},
            "the reference 'https://example.com/s.json' points outside the schema",
        ),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}},
            "the reference '#/$defs/Missing' cannot be resolved",
        ),
        ([], "the input schema is not a JSON object"),
    ],
)
def test_schemas_that_cannot_be_compiled_say_why(schema: Any, reason: str) -> None:
    with pytest.raises(SchemaError) as caught:
        compile_schema(schema)
    assert str(caught.value) == reason
