"""What clients speak: MCP (`mcp/`), OpenAI chat completions (`openai/`), Anthropic Messages, OpenAI Responses."""
