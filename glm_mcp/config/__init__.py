"""The configuration: its models (`models`), the file's loader (`loading`) and the built-in default (`defaults`).

Everything public is importable from `glm_mcp.config`.
"""

from glm_mcp.config.defaults import (
    PRIVATE_DOTFILES,
    default_config_data,
    holds_private_files,
)
from glm_mcp.config.loading import (
    ENV_VAR,
    LOCAL_CONFIG,
    TOP_LEVEL_KEYS,
    config_from_text,
    expand_env,
    find_config_path,
    load_config,
    parse_config,
    parse_upstream,
)
from glm_mcp.config.models import (
    DEFAULT_ZAI_BASE_URL,
    PASSED_ENV,
    BundledUpstreamConfig,
    GatewayConfig,
    HttpUpstreamConfig,
    InProcessUpstreamConfig,
    ModelConfig,
    Seconds,
    ServeConfig,
    StdioUpstreamConfig,
    ToolFilterConfig,
    UpstreamConfig,
    url_secrets,
)
from glm_mcp.config.oauth import OAuthConfig, OidcConfig

__all__ = [
    "DEFAULT_ZAI_BASE_URL",
    "ENV_VAR",
    "GatewayConfig",
    "HttpUpstreamConfig",
    "BundledUpstreamConfig",
    "InProcessUpstreamConfig",
    "LOCAL_CONFIG",
    "ModelConfig",
    "OAuthConfig",
    "OidcConfig",
    "PASSED_ENV",
    "PRIVATE_DOTFILES",
    "Seconds",
    "ServeConfig",
    "StdioUpstreamConfig",
    "TOP_LEVEL_KEYS",
    "ToolFilterConfig",
    "UpstreamConfig",
    "default_config_data",
    "expand_env",
    "find_config_path",
    "holds_private_files",
    "load_config",
    "config_from_text",
    "parse_config",
    "parse_upstream",
    "url_secrets",
]
