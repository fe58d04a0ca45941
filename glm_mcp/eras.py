"""The two eras of the MCP protocol the gateway speaks, on both its sides.

The 2025 era (`initialize`, sessions, server-to-client requests on the request's stream) is every revision up to
2025-11-25; the 2026-07-28 revision is stateless per request and asks its questions in input-required rounds.
"""

MODERN_VERSION = "2026-07-28"
"""The first revision of the stateless era: no `initialize`, no server-to-client requests."""
