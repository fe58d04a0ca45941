"""A hand-written JSON-RPC MCP server on stdio, without the SDK: it can send what the SDK would refuse.

Listing: tools in pages of two, including broken definitions the gateway must quarantine.
Tools: `echo` returns its arguments; `crash` exits the process; `slow` reports progress then answers.
`huge` answers 10 MB of text. `--many N` lists N valid tools instead (pages of 100, or `--page K`). `--garbage` writes non-JSON lines to stdout before each answer; `--linger` keeps running after stdin closes;
`--string-ids` echoes request ids and progress tokens as strings (as some servers do); `--half-emoji` ends `echo`'s
text with half of an emoji's surrogate pair, escaped (as a JavaScript server that cut a string can); `--latin-1`
answers `echo` with " café" added, written in Latin-1 (a byte that is not UTF-8).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

GOOD: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}}
BROKEN_AND_GOOD: list[dict[str, Any]] = [
    {"name": "echo", "description": "Echo the arguments back.", "inputSchema": GOOD},
    {"name": "bad_type", "description": "Schema is not an object.", "inputSchema": {"type": "string"}},
    {"name": "no_schema", "description": "No input schema at all."},
    {"name": "untyped", "description": "Schema without a type.", "inputSchema": {"properties": {}}},
    {"name": "echo", "description": "A second tool of the same name.", "inputSchema": GOOD},
    {"name": "dotted.name/with spaces", "description": "A name GLM would refuse.", "inputSchema": GOOD},
    {"name": "crash", "description": "Exit the process.", "inputSchema": {"type": "object"}},
    {"name": "slow", "description": "Report progress three times.", "inputSchema": {"type": "object"}},
    {"name": "huge", "description": "Return 10 MB of text.", "inputSchema": {"type": "object"}},
    {"name": 42, "description": "A name that is not a string."},
]


def _listing() -> tuple[list[dict[str, Any]], int]:
    """The tools this run lists, and its page size."""
    if "--many" not in sys.argv:
        return BROKEN_AND_GOOD, 2
    many = [
        {"name": f"tool_{i:05d}", "description": f"Tool number {i}.", "inputSchema": GOOD}
        for i in range(int(sys.argv[sys.argv.index("--many") + 1]))
    ]  # thousands of valid tools, in pages of 100
    return many, int(sys.argv[sys.argv.index("--page") + 1]) if "--page" in sys.argv else 100


TOOLS, PAGE = _listing()


def send(message: dict[str, object]) -> None:
    if "--garbage" in sys.argv:
        sys.stdout.write("this is not JSON\n")
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    for line in sys.stdin:
        try:
            request: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            continue
        method, ident = request.get("method"), request.get("id")
        params: dict[str, Any] = request.get("params") or {}
        if ident is None:
            continue
        if "--string-ids" in sys.argv:
            ident = str(ident)
        if method == "initialize":
            result: object = {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "raw", "version": "1"},
            }
        elif method == "tools/list":
            start = int(params.get("cursor") or 0)
            page: dict[str, Any] = {"tools": TOOLS[start : start + PAGE]}
            if start + PAGE < len(TOOLS):
                page["nextCursor"] = str(start + PAGE)
            result = page
        elif method == "tools/call":
            name = params.get("name")
            if name == "crash":
                os._exit(3)
            if name == "huge":
                text = "x" * 10_000_000
                send({"jsonrpc": "2.0", "id": ident, "result": {"content": [{"type": "text", "text": text}]}})
                continue
            if name == "slow":
                meta: dict[str, Any] = params.get("_meta") or {}
                token = meta.get("progressToken")
                if token is not None and "--string-ids" in sys.argv:
                    token = str(token)
                for step in (1, 2, 3):
                    if token is not None:
                        notification = {"progress": step, "total": 3, "progressToken": token}
                        send({"jsonrpc": "2.0", "method": "notifications/progress", "params": notification})
            text = json.dumps(params.get("arguments") or {}, sort_keys=True)
            if "--half-emoji" in sys.argv:
                text += "\ud83d"
            if "--latin-1" in sys.argv:  # a byte that is not UTF-8, written straight to the pipe
                line = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": ident,
                        "result": {"content": [{"type": "text", "text": text + " caf\u00e9"}]},
                    },
                    ensure_ascii=False,
                )
                sys.stdout.buffer.write(line.encode("latin-1") + b"\n")
                sys.stdout.flush()
                continue
            result = {"content": [{"type": "text", "text": text}], "isError": False}
        elif method == "ping":
            result = {}
        else:
            send({"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": f"no method {method}"}})
            continue
        send({"jsonrpc": "2.0", "id": ident, "result": result})
    if "--linger" in sys.argv:  # a careless server: stays alive after its stdin closes
        time.sleep(3600)


if __name__ == "__main__":
    main()
