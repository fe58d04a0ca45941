"""The exception hierarchy of glm-mcp.

```
GlmMcpError
├── ConfigError                 a user mistake in the config file or command line (exit code 2)
├── UpstreamError (.server)     one MCP server failed; the rest of the gateway keeps working
│   ├── UpstreamUnavailable     the server is not connected (failed to start, died, restarting)
│   └── UpstreamProtocolError   the server answered with an error or with something malformed
├── ToolNotFoundError           no exposed tool, prompt or resource by that name
└── ModelError                  the model endpoint failed
```
"""

from __future__ import annotations


class GlmMcpError(Exception):
    """Base class of every error glm-mcp raises on purpose."""


class ConfigError(GlmMcpError):
    """The configuration is invalid; the message names the file, the JSON path and the fix."""


class UpstreamError(GlmMcpError):
    """An upstream MCP server failed.

    Attributes:
        server: The configured name of the server.
    """

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"server '{server}': {message}")
        self.server = server
        self.reason = message


class UpstreamUnavailable(UpstreamError):
    """The server is not connected right now."""


class UpstreamProtocolError(UpstreamError):
    """The server answered with a protocol error or a malformed result."""


class ToolNotFoundError(GlmMcpError):
    """No exposed tool, prompt or resource has that name."""


class ModelError(GlmMcpError):
    """The model endpoint failed."""
