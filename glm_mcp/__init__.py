"""glm-mcp: one gateway between many MCP servers, MCP-aware editors, and GLM's function calling.

`Gateway` is imported on first use: it brings the MCP SDK (most of a second to import), which the configuration,
the errors and the command line's quick paths do without.
"""

import typing

from glm_mcp.config import (
    BundledUpstreamConfig,
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
    CallerLacksCapability,
    ConfigError,
    EntryError,
    GlmMcpError,
    LoginRequired,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    ModelTimeout,
    ModelUnreachable,
    OverLimit,
    RequestError,
    SamplingError,
    SchemaError,
    SharedStateError,
    ToolNotFoundError,
    TruncatedArgumentsError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
    UsageError,
    VariableError,
)

if typing.TYPE_CHECKING:
    from glm_mcp.gateway.core import Gateway


def __getattr__(name: str) -> object:
    if name == "Gateway":
        from glm_mcp.gateway.core import Gateway

        return Gateway
    raise AttributeError(f"module 'glm_mcp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Gateway"})


__all__ = [
    "ArgumentsError",
    "BundledUpstreamConfig",
    "CallerLacksCapability",
    "ConfigError",
    "EntryError",
    "Gateway",
    "GatewayConfig",
    "GlmMcpError",
    "HttpUpstreamConfig",
    "InProcessUpstreamConfig",
    "LoginRequired",
    "ModelConfig",
    "ModelError",
    "ModelHTTPError",
    "ModelResponseError",
    "ModelTimeout",
    "ModelUnreachable",
    "OverLimit",
    "RequestError",
    "SamplingError",
    "SchemaError",
    "ServeConfig",
    "SharedStateError",
    "StdioUpstreamConfig",
    "ToolFilterConfig",
    "ToolNotFoundError",
    "TruncatedArgumentsError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "UsageError",
    "VariableError",
]
