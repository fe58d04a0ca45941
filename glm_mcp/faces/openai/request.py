"""Parsing of `/v1/chat/completions` requests into what an agent run needs, and the helpers the faces share.

Contract:
- a request is the OpenAI chat-completions body; `glm_mcp: {"servers", "tools", "max_steps"}` narrows the
  run, `"events": false` leaves the `glm_mcp` events out of a stream; fields the gateway does not own
  (`thinking`, `tool_stream`, `temperature`, …) go to GLM unchanged;
- `tool_choice` "auto" (or absent) offers every tool, "none" offers none; anything else is refused with 400,
  because GLM only supports "auto";
- content given as arrays of text parts becomes the string GLM requires; `developer` is `system`;
- every mistake is a `RequestError` naming the field.
Parsing takes what it needs (the agent, the servers' and tools' names), not the whole gateway.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection
from typing import Any

import mcp.types as T
from pydantic import ValidationError

from glm_mcp._json import as_list, as_object, loads
from glm_mcp.agent.loop import Agent, function_name
from glm_mcp.agent.offer import ToolOffer
from glm_mcp.catalog import closest
from glm_mcp.errors import RequestError
from glm_mcp.model.messages import JsonObject
from glm_mcp.model.profile import (
    MAX_TOOLS,
    TEMPERATURE_RANGE,
    TOOL_CHOICES,
    TOP_P_RANGE,
)

logger = logging.getLogger(__name__)

MAX_MESSAGES = 10_000
MAX_CLIENT_TOOLS = MAX_TOOLS
MAX_DEPTH = 100
"""JSON nesting a chat request may have: messages, tool schemas and arguments stay far below it."""
_GATEWAY_FIELDS = {"glm_mcp", "tools", "tool_choice", "stream", "stream_options", "n", "model"}


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> JsonObject:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def text_of(content: Any, where: str, kinds: tuple[str, ...] = ("text",)) -> str:
    """The text of a string, or of a list of parts whose `type` is one of `kinds` (`refusal` parts too), one part
    a line.

    Raises:
        RequestError: A part that is not text (an image, a file): GLM's text models read text only; it is named.
    """
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for number, part in enumerate(as_list(content) or []):
        fields = as_object(part) or {}
        kind = fields.get("type")
        if kind in kinds and isinstance(fields.get("text"), str):
            texts.append(fields["text"])
        elif kind == "refusal" and isinstance(fields.get("refusal"), str):
            texts.append(fields["refusal"])
        else:
            shown = kind if isinstance(kind, str) else "untyped"
            raise RequestError(
                f"{where}[{number}] is a '{shown}' part, and GLM's text models take text only: send text parts (or "
                "a string), or name a GLM vision model (glm-4.5v) for images",
                f"{where}[{number}]",
            )
    return "\n".join(texts)


def client_tools(raw: Any, schema_key: str, kinds: tuple[object, ...], refused: str) -> list[JsonObject]:
    """Another API's client tools (`name`, `description`, the schema under `schema_key`, a `type` among `kinds`) as
    chat functions.

    Raises:
        RequestError: A tool of another kind or without a name, named by its place, with `refused` saying why.
    """
    tools: list[JsonObject] = []
    for index, item in enumerate(as_list(raw) or []):
        tool = as_object(item) or {}
        if tool.get("type") not in kinds or not isinstance(tool.get("name"), str):
            raise RequestError(f"tools[{index}] is a '{tool.get('type')}' tool: {refused}", f"tools[{index}]")
        function: JsonObject = {"name": tool["name"], "parameters": tool.get(schema_key) or {"type": "object"}}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def ask_for_a_call(messages: list[JsonObject], name: str | None) -> None:
    """What GLM cannot be forced to do (a call of `name`, or of any tool), asked for in words it follows: a line
    of the system prompt (the first message), added to it or as one of its own."""
    what = f"the tool {name}" if name else "one of the tools"
    line = f"Answer by calling {what}; do not answer in text."
    if messages and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{line}"}
    else:
        messages.insert(0, {"role": "system", "content": line})


ELICIT_TOOL = "glm__elicit"
"""The client tool a paused run calls when a server asks for a person's input
(`"glm_mcp": {"elicitation": "client"}`)."""

ELICIT_CAPABILITIES = T.ClientCapabilities(
    elicitation=T.ElicitationCapability(form=T.FormElicitationCapability(), url=T.UrlElicitationCapability())
)


def _resumed(messages: list[Any]) -> tuple[str, str, T.ElicitResult] | None:
    """The paused run a request resumes: its last message is the tool answer to a `glm__elicit` call.

    Raises:
        RequestError: The answer is not an elicitation result.
    """
    last = as_object(messages[-1]) or {}
    call_id = last.get("tool_call_id")
    if last.get("role") != "tool" or not isinstance(call_id, str) or not call_id.startswith(f"{ELICIT_TOOL}-"):
        return None
    state, _, key = call_id.removeprefix(f"{ELICIT_TOOL}-").rpartition(".")
    content = last.get("content")
    text = content if isinstance(content, str) else json.dumps(content)
    try:
        answer = T.ElicitResult.model_validate_json(text)
    except ValidationError:
        raise RequestError(
            f'the answer to {ELICIT_TOOL} must be JSON like {{"action": "accept", "content": {{...}}}}, or '
            '{"action": "decline"} / {"action": "cancel"}',
            "messages",
        ) from None
    return state, key, answer


class ChatRequest:
    """A validated chat request."""

    def __init__(self, data: Any, agent: Agent, known_servers: Collection[str], known_tools: Collection[str]) -> None:
        """Validate `data` against what this gateway has: the `agent` (its model and tool offer), the configured
        `known_servers` and the exposed `known_tools` (names)."""
        body = as_object(data)
        if body is None:
            raise RequestError("the body must be a JSON object")
        messages = as_list(body.get("messages"))
        if not messages or not all(as_object(m) is not None for m in messages):
            raise RequestError("'messages' must be a non-empty array of message objects", "messages")
        if len(messages) > MAX_MESSAGES:
            raise RequestError(f"'messages' has more than {MAX_MESSAGES} messages", "messages")
        requested_model = body.get("model")
        vision = isinstance(requested_model, str) and _VISION_MODEL.fullmatch(requested_model.lower()) is not None
        messages = [_as_glm_message(as_object(message) or {}, index, vision) for index, message in enumerate(messages)]
        body = {**body, "messages": messages}
        own_tools = as_list(body.get("tools") or [])
        if own_tools is None or not all(function_name(tool) for tool in own_tools):
            raise RequestError("'tools' must be an array of function tools with names", "tools")
        if len(own_tools) > MAX_CLIENT_TOOLS:
            raise RequestError(f"'tools' has more than {MAX_CLIENT_TOOLS} tools, GLM's limit", "tools")
        choice = body.get("tool_choice", "auto")
        if choice not in (*TOOL_CHOICES, "none", None):
            raise RequestError(
                "GLM supports only tool_choice 'auto' (the gateway also accepts 'none'); "
                "it cannot force a tool: ask for it in the prompt instead",
                "tool_choice",
            )
        if body.get("n", 1) not in (1, None):
            raise RequestError("'n' must be 1: GLM returns one choice", "n")
        self.stream = bool(body.get("stream", False))
        options = as_object(body.get("stream_options")) or {}
        self.include_usage = bool(options.get("include_usage"))
        narrow = as_object(body.get("glm_mcp") or {})
        if narrow is None:
            raise RequestError(
                "'glm_mcp' must be an object with 'servers', 'tools', 'max_steps' or 'events'", "glm_mcp"
            )
        servers = _strings(narrow.get("servers"), "glm_mcp.servers", "an array of server names")
        known = set(known_servers)
        if servers is not None and (unknown := sorted(set(servers) - known)):
            raise RequestError(f"unknown servers {unknown}; configured: {sorted(known)}", "glm_mcp.servers")
        names = _strings(narrow.get("tools"), "glm_mcp.tools", "an array of exposed tool names")
        if names is not None and (unknown_tools := [name for name in names if name not in known_tools]):
            first = unknown_tools[0]
            raise RequestError(
                f"unknown tools {unknown_tools}{closest(first, known_tools)}; GET the gateway's tools with "
                "tools/list on /mcp or `glm-mcp tools`",
                "glm_mcp.tools",
            )
        max_steps = narrow.get("max_steps")
        if max_steps is not None and (not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1):
            raise RequestError("'glm_mcp.max_steps' must be a positive integer", "glm_mcp.max_steps")
        self.max_steps: int | None = max_steps
        events = narrow.get("events", True)
        if not isinstance(events, bool):
            raise RequestError("'glm_mcp.events' must be true or false", "glm_mcp.events")
        self.events = events
        elicitation = narrow.get("elicitation", "decline")
        if elicitation not in ("client", "decline"):
            raise RequestError('\'glm_mcp.elicitation\' must be "client" or "decline"', "glm_mcp.elicitation")
        self.elicitation = elicitation == "client"
        """The client answers servers' questions for a person, as calls of the tool `glm__elicit`."""
        self.caller = "local"
        """Who sent the request (the token it matched, or its address); set by the app."""
        self.resume = _resumed(messages)
        """(request_state, question key, answer) when the last message answers a `glm__elicit` call."""
        self.model = self._model(body.get("model"), agent)
        self.forwarded: JsonObject = {k: v for k, v in body.items() if k not in _GATEWAY_FIELDS}
        self.forwarded["model"] = self.model
        for key, (low, high) in (("temperature", TEMPERATURE_RANGE), ("top_p", TOP_P_RANGE)):
            value = self.forwarded.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and not low <= value <= high:
                # OpenAI allows temperature up to 2; GLM refuses what is outside its range.
                self.forwarded[key] = min(high, max(low, value))
                logger.info(
                    "%s %s is outside GLM's range [%s, %s]; sent %s", key, value, low, high, self.forwarded[key]
                )
        if choice == "none":
            self.offer = ToolOffer(definitions=[], gateway_tools={}, left_out={})
        else:
            client_tools = [tool for tool in map(as_object, own_tools) if tool is not None]
            self.offer = agent.offer(client_tools, servers, names, messages)

    @property
    def binding(self) -> str:
        """What a paused run's state is bound to: a run is resumed only by the client that started it."""
        return json.dumps([self.caller, "v1/chat/completions"])

    @property
    def paused_params(self) -> T.InputResponseRequestParams:
        """The run to start (no state) or the paused one to resume, with the client's answer."""
        if self.resume is None:
            return T.InputResponseRequestParams()
        state, key, answer = self.resume
        return T.InputResponseRequestParams(request_state=state, input_responses={key: answer})

    @staticmethod
    def _model(requested: Any, agent: Agent) -> str:
        configured = agent.model.config.name
        # Clients built for OpenAI often send their own default model; only GLM names are passed on.
        if isinstance(requested, str) and requested.lower().startswith("glm"):
            return requested
        return configured


_TEXT_PARTS = ("text", "input_text", "output_text")
_VISION_MODEL = re.compile(r"glm-[0-9.]+v(-.*)?")
"""GLM's vision models (glm-4.5v, glm-4.6v-flash…), which take content parts; text models take a string."""


def _as_glm_message(message: JsonObject, index: int, vision: bool) -> JsonObject:
    """A message as GLM takes it: `developer` (OpenAI's newer name) as `system`, and content given as an array of
    text parts (as the OpenAI SDKs and the Agents SDK send it, in any role) as one string.

    Raises:
        RequestError: A part GLM's text models cannot take (an image, audio, a file), naming the message and part.
    """
    if message.get("role") == "developer":
        message = {**message, "role": "system"}
    if as_list(message.get("content")) is None or (vision and message.get("role") == "user"):
        return message
    return {**message, "content": text_of(message["content"], f"messages[{index}].content", _TEXT_PARTS)}


def _strings(value: Any, param: str, what: str) -> list[str] | None:
    if value is None:
        return None
    items = as_list(value)
    if items is None or not all(isinstance(item, str) for item in items):
        raise RequestError(f"'{param}' must be {what}", param)
    return [str(item) for item in items]


def request_body(raw: bytes, kind: str) -> JsonObject:
    """A request's body (`raw`) read as the JSON object a `kind` ("chat request", "Messages API request") is.

    Raises:
        RequestError: It is not JSON (NaN and Infinity are not, nor a lone surrogate), nests more than `MAX_DEPTH`
            levels, or is not an object; the message says which.
    """
    try:
        data = loads(raw, parse_constant=refuse_constant)
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        data = raw
    if data is raw or too_deep(data, raw):
        raise RequestError(f"the body is nested more than {MAX_DEPTH} levels deep; no {kind} is")
    if (body := as_object(data)) is None:
        raise RequestError(f"the body must be a JSON object: a {kind}")
    return body


def too_deep(value: Any, raw: bytes) -> bool:
    """Whether JSON (`value`, parsed from `raw`) nests deeper than `MAX_DEPTH`, checked without recursion; `raw` with
    no more brackets than that cannot, and is not walked (its brackets are counted in C)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        children: list[Any] = []
        for item in level:
            if (members := as_object(item)) is not None:
                children.extend(members.values())
            elif (elements := as_list(item)) is not None:
                children.extend(elements)
        level = children
        if not level:
            return False
    return True


def refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON, GLM and the encoder of the outgoing request do not.
    raise ValueError(f"{name} is not a JSON number")
