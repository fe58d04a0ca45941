"""MCP servers bundled with glm-mcp; each runs with `python -m servers.<name>`."""
