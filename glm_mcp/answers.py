"""The gateway's own answers to a server's questions, for when no caller can answer them.

Contract:
- sampling is answered by GLM (`model.sampling`): the result names the GLM model, and the request counts in the
  model metrics like any other; without a model key there is no answer (the server gets an error saying so);
- roots are those of the most recently connected editor that has roots, else the config's `gateway.roots`;
- elicitation has no answer here: only a person can give one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import mcp.types as T

from glm_mcp.config import GatewayConfig
from glm_mcp.errors import ModelError
from glm_mcp.model.client import GlmClient
from glm_mcp.model.sampling import SamplingError, sampling_body, sampling_result
from glm_mcp.upstream.asking import ElicitFnT, RootsFnT, SampleFnT, SampleResult

logger = logging.getLogger("glm_mcp.answers")

EditorRootsFnT = Callable[[], Awaitable[T.ListRootsResult | None]]


def root_of(entry: str) -> T.Root:
    """A configured root (a path or a `file://` URI) as an MCP root."""
    uri = entry if entry.startswith("file://") else Path(entry).expanduser().resolve().as_uri()
    return T.Root.model_validate({"uri": uri, "name": Path(uri.removeprefix("file://")).name or uri})


class GatewayAnswers:
    """Answers with GLM and the gateway's knowledge; an `Asker` of last resort."""

    label = "glm-mcp"
    elicit: ElicitFnT | None = None

    def __init__(self, model: GlmClient, config: Callable[[], GatewayConfig]) -> None:
        self.identity: object = self
        self._model = model
        self._config = config
        self.editor_roots: EditorRootsFnT | None = None
        """Set by the MCP face: the roots of a connected editor, or None when none has any."""

    @property
    def sample(self) -> SampleFnT | None:
        return self._sample if self._model.config.missing_key is None else None

    @property
    def roots(self) -> RootsFnT | None:
        return self._roots

    async def _sample(self, params: T.CreateMessageRequestParams) -> SampleResult:
        name = self._model.config.name
        try:
            turn = await self._model.complete(sampling_body(params, name))
            return sampling_result(turn, name, with_tools=bool(params.tools))
        except SamplingError as exc:
            return T.ErrorData(code=T.INVALID_PARAMS, message=str(exc))
        except ModelError as exc:
            return T.ErrorData(code=T.INTERNAL_ERROR, message=f"GLM could not answer: {exc.message}")

    async def _roots(self) -> T.ListRootsResult | T.ErrorData:
        if self.editor_roots is not None:
            found = await self.editor_roots()
            if found is not None:
                return found
        return T.ListRootsResult(roots=[root_of(entry) for entry in self._config().gateway.roots])
