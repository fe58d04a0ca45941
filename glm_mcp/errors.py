"""The exception hierarchy of glm-mcp.

```
GlmMcpError
├── ConfigError                 a user mistake in the config file or command line (exit code 2)
├── UpstreamError (.server)     one MCP server failed; the rest of the gateway keeps working
│   ├── UpstreamUnavailable     the server is not connected (failed to start, died, restarting)
│   ├── UpstreamTimeout         a call got neither a result nor progress within the server's timeout
│   └── UpstreamProtocolError   the server answered with an error or with something malformed
├── LoginRequired               a server behind OAuth needs a person to log in (again)
├── ToolNotFoundError           no exposed tool, prompt or resource by that name
├── SchemaError                 a tool's JSON Schema cannot be offered to GLM as written
├── ArgumentsError              a model's tool-call arguments cannot be used as written (a message for the model)
│   └── TruncatedArgumentsError the arguments were cut off before the document ended: the call never runs
├── ModelError                  the model endpoint failed (facts: upstream status, GLM code, body, retry-after)
│   ├── ModelHTTPError          it answered with an error (an error status, or an error inside a 200 answer)
│   ├── ModelTimeout            it did not answer in time
│   ├── ModelUnreachable        it could not be reached (connection refused, DNS, TLS)
│   └── ModelResponseError      it answered with something that is not GLM's wire format
├── RequestError                a client's chat request is invalid (HTTP 400)
├── OverLimit                   a caller went past one of its budgets (HTTP 429, with when to try again)
└── SharedStateError            the Redis that replicas share failed or cannot be reached
```

Errors carry facts only; the HTTP status a client of the gateway sees is chosen in one table,
`faces.openai.writer.status_for`.
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


class UpstreamTimeout(UpstreamError):
    """A call got neither a result nor a progress notification within the server's `timeout`."""


class UpstreamProtocolError(UpstreamError):
    """The server answered with a protocol error or a malformed result."""


class CallerLacksCapability(UpstreamProtocolError):
    """A 2026-07-28 server needs a capability the caller did not declare (its -32021); an MCP face answers the
    caller with the server's own error, whose `data` names what is missing."""

    def __init__(self, server: str, message: str, data: object) -> None:
        super().__init__(server, message)
        self.data = data


class LoginRequired(GlmMcpError):
    """A server behind OAuth needs a person to log in (again) before it is tried again; the message says why and
    names the command."""


class ToolNotFoundError(GlmMcpError):
    """No exposed tool, prompt or resource has that name."""


class ArgumentsError(GlmMcpError, ValueError):
    """A model's tool-call arguments cannot be used; the message is written for the model to correct itself."""


class TruncatedArgumentsError(ArgumentsError):
    """The arguments end before the JSON document does (inside a string, an object or an array).

    Such a call is never run, whatever a repair could make of it: closing the open string or bracket would
    run a different call than the one the model meant.
    """


class SchemaError(GlmMcpError, ValueError):
    """A tool's JSON Schema cannot be offered to GLM as written; the message says where and why."""


class ModelError(GlmMcpError):
    """The model endpoint failed.

    Attributes:
        upstream_status: The HTTP status the model endpoint answered with (200 for an error inside a 200 body or
            stream), or None when it did not answer.
        code: GLM's business code as a string (for example "1302"), or None.
        body: The start of the endpoint's answer (at most 2,000 characters), or None.
        retry_after: Seconds the endpoint asked to wait (`Retry-After`), or None.
    """

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        code: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.upstream_status = upstream_status
        self.code = code
        self.body = body[:2_000] if body is not None else None
        self.retry_after = retry_after


class ModelHTTPError(ModelError):
    """The model endpoint answered with an error status, or with an error object inside a 200 answer."""


class ModelTimeout(ModelError):
    """The model endpoint did not answer (or stopped answering) in time."""


class ModelUnreachable(ModelError):
    """The model endpoint could not be reached."""


class ModelResponseError(ModelError):
    """The model endpoint's answer could not be read as GLM's wire format."""


class RequestError(GlmMcpError):
    """A client's request is invalid; the message says what to change.

    Attributes:
        param: The request field at fault, if one is.
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class EntryError(ConfigError):
    """A server entry that cannot be used as written: it fails that server only (reported, the others run)."""


class VariableError(EntryError):
    """A `${…}` in the config cannot be filled in; inside a server entry it fails that server only."""


class SamplingError(GlmMcpError):
    """A sampling request GLM cannot answer as asked; the message is for the server."""


class UsageError(GlmMcpError):
    """A command line that cannot be run as given (exit code 2); the message says what to change."""


class OverLimit(GlmMcpError):
    """A caller went past one of its budgets; the message names the limit.

    Attributes:
        limit: The limit's name in the config (`requests_per_minute`, `concurrent_runs`, `tokens_per_day`).
        retry_after: Whole seconds until the caller may try again.
    """

    def __init__(self, message: str, limit: str, retry_after: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after


class SharedStateError(GlmMcpError):
    """The Redis that replicas share failed or cannot be reached (its URL without the password)."""
