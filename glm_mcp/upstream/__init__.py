"""The client side: sessions to the configured MCP servers."""
