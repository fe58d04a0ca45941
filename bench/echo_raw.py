"""The physical floor: a hand-written JSON-RPC MCP echo server on stdio, no SDK, no validation."""

import json
import sys

TOOL = {
    "name": "echo",
    "description": "Echo the text back.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "annotations": {"readOnlyHint": True},
}


def main() -> None:
    write = sys.stdout.write
    flush = sys.stdout.flush
    for line in sys.stdin:
        message = json.loads(line)
        ident = message.get("id")
        if ident is None:
            continue
        method = message.get("method")
        if method == "tools/call":
            text = (message["params"].get("arguments") or {}).get("text", "")
            result: object = {"content": [{"type": "text", "text": text}], "isError": False}
        elif method == "initialize":
            result = {
                "protocolVersion": message["params"].get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "echo-raw", "version": "1"},
            }
        elif method == "tools/list":
            result = {"tools": [TOOL]}
        else:
            result = {}
        write(json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}) + "\n")
        flush()


if __name__ == "__main__":
    main()
