"""The 2026-07-28 test tools of the project's conformance server: input-required rounds, capability checks, log
levels and `x-mcp-header` parameters, as the suite's scenarios of that revision describe them.

Like the suite's reference server, the server lists these only to callers of the 2026-07-28 era: a gateway that
reaches a server of both eras in one of them only loses them (or the 2025-era tools that ask on the back channel).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import mcp.types as T
from mcp import MCPError
from mcp.server import ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, PromptsListChanged, ToolsListChanged

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}
_KEY = secrets.token_bytes(32)
BUS = InMemorySubscriptionBus()
"""What `subscriptions/listen` streams hear: the list changes the two trigger tools make."""


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> T.Tool:
    return T.Tool(name=name, description=description, input_schema=schema or NO_ARGUMENTS)


TOOLS = [
    _tool("test_input_required_result_elicitation", "Asks the caller's name in a round."),
    _tool("test_input_required_result_sampling", "Asks the caller's model in a round."),
    _tool("test_input_required_result_list_roots", "Asks the caller's roots in a round."),
    _tool("test_input_required_result_request_state", "Asks for a confirmation and keeps a state."),
    _tool("test_input_required_result_multiple_inputs", "Asks three questions together."),
    _tool("test_input_required_result_multi_round", "Asks in two rounds, one after the other."),
    _tool("test_input_required_result_tampered_state", "Refuses a state it did not sign."),
    _tool("test_input_required_result_capabilities", "Asks only what the caller declared it can answer."),
    _tool("test_missing_capability", "Needs the caller's sampling."),
    _tool("test_streaming_elicitation", "Reports progress, then answers."),
    _tool("test_logging_tool", "Logs when the caller asked for a log level."),
    _tool("test_trigger_tool_change", "Adds or removes a tool, and announces it."),
    _tool("test_trigger_prompt_change", "Adds or removes a prompt, and announces it."),
    _tool(
        "test_header_echo",
        "Echoes a parameter the caller mirrors in a header.",
        {
            "type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
            "required": ["region"],
        },
    ),
]
PROMPTS = [T.Prompt(name="test_input_required_result_prompt", description="Asks the caller for its context first.")]
DYNAMIC_TOOL = _tool("test_dynamic_tool", "Listed between one tool change and the next.")
TOOL_NAMES = frozenset(tool.name for tool in [*TOOLS, DYNAMIC_TOOL])
DYNAMIC_PROMPT = T.Prompt(name="test_dynamic_prompt", description="Listed between one prompt change and the next.")
changed = {"tools": False, "prompts": False}


def tools() -> list[T.Tool]:
    return [*TOOLS, DYNAMIC_TOOL] if changed["tools"] else TOOLS


def prompts() -> list[T.Prompt]:
    return [*PROMPTS, DYNAMIC_PROMPT] if changed["prompts"] else PROMPTS


def _elicit(message: str, field: str, kind: str = "string") -> dict[str, Any]:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return {"method": "elicitation/create", "params": {"message": message, "requestedSchema": schema}}


def _sample(text: str, max_tokens: int) -> dict[str, Any]:
    message = {"role": "user", "content": {"type": "text", "text": text}}
    return {"method": "sampling/createMessage", "params": {"messages": [message], "maxTokens": max_tokens}}


ROOTS: dict[str, Any] = {"method": "roots/list", "params": {}}


def _ask(requests: dict[str, dict[str, Any]], state: str | None = None) -> T.InputRequiredResult:
    wire: dict[str, Any] = {"resultType": "input_required", "inputRequests": requests}
    if state is not None:
        wire["requestState"] = state
    return T.InputRequiredResult.model_validate(wire)


def _sign(kind: str) -> str:
    body = base64.urlsafe_b64encode(json.dumps({"kind": kind, "nonce": secrets.token_hex(8)}).encode()).decode()
    return f"{body}.{hmac.new(_KEY, body.encode(), hashlib.sha256).hexdigest()}"


def _verified(state: str | None) -> str | None:
    """The kind a state signed here names; None for no state, a forged one, or a tampered one."""
    if state is None or "." not in state:
        return None
    body, signature = state.rsplit(".", 1)
    if not hmac.compare_digest(signature, hmac.new(_KEY, body.encode(), hashlib.sha256).hexdigest()):
        return None
    try:
        return str(json.loads(base64.urlsafe_b64decode(body.encode()))["kind"])
    except (ValueError, KeyError):
        return None


def _answers(params: T.InputResponseRequestParams) -> dict[str, dict[str, Any]]:
    given = params.input_responses or {}
    return {key: value.model_dump(by_alias=True, mode="json", exclude_none=True) for key, value in given.items()}


def _field(answer: dict[str, Any] | None, name: str) -> str:
    content: Any = (answer or {}).get("content")
    if isinstance(content, dict):
        fields: dict[str, Any] = content  # pyright: ignore[reportUnknownVariableType]
        return str(fields["text"] if "text" in fields else fields.get(name, ""))  # "text": a sampling answer
    return ""


def _text(text: str) -> T.CallToolResult:
    return T.CallToolResult(content=[T.TextContent(text=text)])


async def call_tool(
    ctx: ServerRequestContext[Any], params: T.CallToolRequestParams
) -> T.CallToolResult | T.InputRequiredResult:
    name, answers, state = params.name, _answers(params), params.request_state
    if name == "test_input_required_result_elicitation":
        if "user_name" in answers:
            return _text(f"Hello, {_field(answers['user_name'], 'name')}!")
        return _ask({"user_name": _elicit("What is your name?", "name")})
    if name == "test_input_required_result_sampling":
        if "capital_question" in answers:
            return _text(f"The model said: {_field(answers['capital_question'], 'text')}")
        return _ask({"capital_question": _sample("What is the capital of France?", 100)})
    if name == "test_input_required_result_list_roots":
        if "client_roots" in answers:
            roots: list[dict[str, Any]] = answers["client_roots"].get("roots") or []
            return _text(f"Roots: {', '.join(str(root.get('uri')) for root in roots)}")
        return _ask({"client_roots": ROOTS})
    if name == "test_input_required_result_request_state":
        if "confirm" in answers and _verified(state) == "confirm":
            return _text("state-ok: the confirmation arrived with the state")
        return _ask({"confirm": _elicit("Please confirm", "ok", "boolean")}, _sign("confirm"))
    if name == "test_input_required_result_multiple_inputs":
        wanted = {"user_name", "greeting", "client_roots"}
        if wanted <= answers.keys() and _verified(state) == "multiple":
            return _text(f"All answered: {_field(answers['user_name'], 'name')}")
        asked = {
            "user_name": _elicit("What is your name?", "name"),
            "greeting": _sample("Generate a greeting", 50),
            "client_roots": ROOTS,
        }
        return _ask(asked, _sign("multiple"))
    if name == "test_input_required_result_multi_round":
        kind = _verified(state)
        if kind == "round-2" and "step2" in answers:
            return _text(f"Done: favourite colour {_field(answers['step2'], 'color')}")
        if kind == "round-1" and "step1" in answers:
            return _ask({"step2": _elicit("Step 2: What is your favorite color?", "color")}, _sign("round-2"))
        return _ask({"step1": _elicit("Step 1: What is your name?", "name")}, _sign("round-1"))
    if name == "test_input_required_result_tampered_state":
        if state is not None:
            if _verified(state) != "tamper":
                raise MCPError(T.INVALID_PARAMS, "requestState integrity check failed")
            if "confirm" in answers:
                return _text("integrity-ok: state verified")
        return _ask({"confirm": _elicit("Please confirm", "ok", "boolean")}, _sign("tamper"))
    if name == "test_input_required_result_capabilities":
        if answers:
            return _text(f"capabilities-ok: received {','.join(sorted(answers))}")
        caps = ctx.session.client_capabilities or T.ClientCapabilities()
        asked: dict[str, dict[str, Any]] = {}
        if caps.elicitation is not None:
            asked["elicit_input"] = _elicit("Elicitation input", "value")
        if caps.sampling is not None:
            asked["sample_input"] = _sample("Sample request", 50)
        return _ask(asked, _sign("capabilities")) if asked else _text("No supported capabilities declared")
    if name == "test_missing_capability":
        caps = ctx.session.client_capabilities
        if caps is None or caps.sampling is None:
            data: dict[str, Any] = {"requiredCapabilities": {"sampling": {}}}
            raise MCPError(T.MISSING_REQUIRED_CLIENT_CAPABILITY, "this tool needs the client's sampling", data)
        return _text("Success")
    if name == "test_streaming_elicitation":
        await ctx.session.report_progress(50, 100)
        return _text("Streaming complete")
    if name == "test_logging_tool":
        await ctx.session.send_log_message("info", "the log level the caller asked for", logger="conformance")  # pyright: ignore[reportDeprecated]  # the SDK keeps it for callers that set a level
        return _text("Logging evaluated")
    if name in ("test_trigger_tool_change", "test_trigger_prompt_change"):
        kind = "tools" if name == "test_trigger_tool_change" else "prompts"
        changed[kind] = not changed[kind]
        await BUS.publish(ToolsListChanged() if kind == "tools" else PromptsListChanged())
        return _text("Mutation triggered")
    if name == "test_dynamic_tool":
        return _text("the dynamic tool ran")
    if name == "test_header_echo":
        return _text(f"region {(params.arguments or {}).get('region')}")
    raise MCPError(T.INVALID_PARAMS, f"unknown tool {name}")


async def get_prompt(params: T.GetPromptRequestParams) -> T.GetPromptResult | T.InputRequiredResult:
    answers = _answers(params)
    if "user_context" in answers:
        text = f"Prompt with context: {_field(answers['user_context'], 'context')}"
        return T.GetPromptResult(messages=[T.PromptMessage(role="user", content=T.TextContent(text=text))])
    return _ask({"user_context": _elicit("What context should the prompt use?", "context")})
