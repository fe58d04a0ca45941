"""`/v1/models`: the models a client may name, in OpenAI's list shape."""

from __future__ import annotations

from glm_mcp.agent.loop import Agent
from glm_mcp.faces.openai.request import error_body
from glm_mcp.model.messages import JsonObject
from glm_mcp.model.profile import TEXT_MODELS


def model_ids(agent: Agent) -> list[str]:
    """Every model a client may name: the configured one first, then GLM's text models (passed on as named)."""
    configured = agent.model.config.name
    return [configured, *(name for name in TEXT_MODELS if name != configured)]


def _model_object(name: str) -> JsonObject:
    return {"id": name, "object": "model", "created": 0, "owned_by": "glm-mcp"}


def models_body(agent: Agent) -> JsonObject:
    """The `/v1/models` list."""
    return {"object": "list", "data": [_model_object(name) for name in model_ids(agent)]}


def model_body(agent: Agent, name: str) -> tuple[int, JsonObject]:
    """(status, body) of `/v1/models/{name}`."""
    if name in model_ids(agent):
        return 200, _model_object(name)
    message = f"the model '{name}' does not exist here; /v1/models lists the models this gateway serves"
    return 404, error_body(message, "invalid_request_error", "model_not_found", "model")
