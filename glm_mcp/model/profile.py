"""What glm-mcp knows about GLM's chat-completions API, each fact with where it comes from.

Every other module reads these facts from here; none repeats them. Sources: `glm-api.md` is the team's checked
reference (`../shared/docs/glm-api.md`), built from Z.ai's API reference ([spec]) and its Python SDK ([sdk]);
recordings are real exchanges kept in `tests/recordings/` and `../shared/data/glm-recordings/`.
"""

from __future__ import annotations

MAX_TOOLS = 128
"""Functions one request may offer (glm-api.md §3, `tools`: "max 128 functions" [spec]; quirk 6 in §8)."""

TOOL_CHOICES = ("auto",)
"""The only `tool_choice` GLM supports: "The default value is auto, and only auto is supported" (§3 [spec])."""

TEMPERATURE_RANGE = (0.0, 1.0)
"""`temperature` accepted by raw HTTP (§3 [spec]; the zai SDK clamps, raw HTTP does not: quirk 8 in §8)."""

TOP_P_RANGE = (0.01, 1.0)
"""`top_p` accepted by raw HTTP (§3 [spec])."""

FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
"""A function name GLM accepts (§3 `function.name`, quirk 4 in §8); MCP names may be longer and hold dots."""

LEADING_NEWLINES = "\n"
"""GLM starts `content` (and `reasoning_content`) with newlines the text does not mean (§5, recorded streams)."""

RETRYABLE_CODES = frozenset({"500", "1230", "1234", "1302", "1303", "1305", "1312"})
"""Business codes that mean "try again later": internal, network, concurrency, frequency, rate, traffic (§6)."""

RATE_LIMIT_CODES = frozenset({"1302", "1303", "1304", "1305", "1308", "1310"})
"""Business codes about the account's rate, concurrency or usage limits (§6): HTTP 429 for the gateway's clients."""

CODE_HINTS = {
    "1000": "the API key was refused: check model.api_key (or $ZAI_API_KEY)",
    "1001": "no API key was sent: set model.api_key (or $ZAI_API_KEY)",
    "1002": "the API key is invalid: check model.api_key (or $ZAI_API_KEY)",
    "1003": "the API key has expired: create a new one",
    "1004": "the API key was refused: check model.api_key (or $ZAI_API_KEY)",
    "1113": "the account has no balance left (or the key belongs to another plan or region): top up or use the "
    "matching endpoint",
    "1211": "the model does not exist: check model.name (for example glm-4.6)",
    "1261": "the prompt is longer than the model's context: shorten the conversation or the tool results",
}
"""What to do about the business codes that no retry will fix (§6); a code listed here is never retried."""

SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "enum",
        "default",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "pattern",
        "format",
        "anyOf",
        "additionalProperties",
        "title",
    }
)
"""The JSON Schema keywords kept in a function's `parameters` (§3 `parameters`, and quirk 5 in §8: GLM's template
renders the schema as text, so anything else costs tokens and confuses the model)."""

SCHEMA_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})
"""The JSON types GLM's function parameters use (§3)."""

TEXT_MODELS = (
    "glm-5.3",
    "glm-5.2",
    "glm-5.1",
    "glm-5",
    "glm-4.7",
    "glm-4.7-flash",
    "glm-4.7-flashx",
    "glm-4.6",
    "glm-4.5",
    "glm-4.5-air",
    "glm-4.5-x",
    "glm-4.5-airx",
    "glm-4.5-flash",
)
"""The text models of Z.ai's chat-completions API (its OpenAPI `model` enum, §2)."""


def is_rate_limit(code: str | None, upstream_status: int | None) -> bool:
    """Whether an error is about the account's limits (an HTTP 429, or one of `RATE_LIMIT_CODES`)."""
    return upstream_status == 429 or code in RATE_LIMIT_CODES
