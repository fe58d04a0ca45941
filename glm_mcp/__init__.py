"""glm-mcp: one gateway between many MCP servers, MCP-aware editors, and GLM's function calling."""

from glm_mcp.config import (
    GatewayConfig,
    HttpUpstreamConfig,
    InProcessUpstreamConfig,
    ModelConfig,
    ServeConfig,
    StdioUpstreamConfig,
    ToolFilterConfig,
)
from glm_mcp.errors import (
    ArgumentsError,
    ConfigError,
    GlmMcpError,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    RequestError,
    ToolNotFoundError,
    TruncatedArgumentsError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from glm_mcp.gateway.core import Gateway

__all__ = [
    "ArgumentsError",
    "ConfigError",
    "Gateway",
    "GatewayConfig",
    "GlmMcpError",
    "HttpUpstreamConfig",
    "InProcessUpstreamConfig",
    "ModelConfig",
    "ModelError",
    "ModelHTTPError",
    "ModelResponseError",
    "RequestError",
    "ServeConfig",
    "StdioUpstreamConfig",
    "ToolFilterConfig",
    "ToolNotFoundError",
    "TruncatedArgumentsError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]
