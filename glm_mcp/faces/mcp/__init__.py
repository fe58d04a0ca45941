"""The MCP face: the merged catalog served as one MCP server, over stdio, streamable HTTP and SSE."""
