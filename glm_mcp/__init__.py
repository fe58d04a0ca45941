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
    ConfigError,
    GlmMcpError,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    RequestError,
    ToolNotFoundError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamUnavailable,
)
from glm_mcp.gateway import Gateway

__all__ = [
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
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamUnavailable",
]
