"""The `glm-mcp` command."""
