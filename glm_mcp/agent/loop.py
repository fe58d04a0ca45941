"""The tool loop: ask the model, run its calls to gateway tools concurrently, feed the results back, repeat.

Contract:
- the tools offered are chosen by `offer` (all of them when they fit GLM's 128, else the conversation's most
  relevant and `glm__find_tools`); a call to a gateway tool that exists but was not offered runs and joins the
  offer; `glm__find_tools` is answered by the loop itself;
- every call the model makes to a gateway tool is answered with a tool message: results, failures,
  invalid arguments, unknown names and timeouts alike, so the model can correct itself;
- each assistant turn goes back to the model with its `reasoning_content`, and with arguments GLM accepts
  (valid JSON: what was read, or `{}` for a call that could not be read);
- a call whose arguments were cut off (the token limit) is never run: the model is told, and asked again;
- GLM's native `<tool_call>` blocks that leak into content or reasoning become calls when they name an offered
  tool, and leave the text the client sees; tags leaked into a structured call's name are dropped;
- a call to a client tool ends the run with `finish_reason: "tool_calls"` and only the client's calls
  (gateway calls of that same turn are not run: their results could never reach the model), unless a call of
  that turn was cut off: then the gateway answers the whole turn and the model repeats it;
- `finish_reason: "sensitive"` ends the run as `content_filter`; `length` and
  `model_context_window_exceeded` on a final answer pass through with a note;
- `max_steps`, `max_tool_calls` and `max_seconds` end the run with a message saying which limit was hit; a caller
  may lower `max_steps`, never raise it past the config.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import mcp.types as T

from glm_mcp._json import as_object
from glm_mcp.activity import CallOutcome, CallSource
from glm_mcp.agent.offer import FIND_TOOLS, ToolOffer, build_offer, find_tools
from glm_mcp.agent.registry import CompiledTools
from glm_mcp.catalog import Catalog, closest
from glm_mcp.config import GatewayConfig
from glm_mcp.errors import ArgumentsError, TruncatedArgumentsError
from glm_mcp.model.client import GlmClient
from glm_mcp.model.messages import JsonObject, ToolCall, Turn, add_usage
from glm_mcp.model.profile import LEADING_NEWLINES
from glm_mcp.model.xml_calls import LeakedCall, LeakFilter, clean_name, take_calls
from glm_mcp.relay.asking import Asker, LoopAsker
from glm_mcp.tools.arguments import prepare_arguments, read_arguments
from glm_mcp.tools.results import flatten_result

logger = logging.getLogger(__name__)

_SHOWN_ARGUMENTS = 500
"""Characters of a call's arguments shown to the person asked to allow it."""

_LISTED_TOOLS = 30
"""Tool names listed to a model that called an unknown one."""


@dataclass(frozen=True)
class AgentLimits:
    """How far one run may go."""

    max_steps: int = 10
    """Model turns."""
    max_tool_calls: int = 64
    """Tool calls, all steps together."""
    max_seconds: float = 600.0
    """Wall time of the whole run."""
    max_result_chars: int = 20_000
    """Characters of one tool result shown to the model."""


@dataclass
class AgentEvent:
    """Something the client may want to see as it happens."""

    kind: str
    """"content", "reasoning_content", "tool_call", "tool_result", "retry", "offer" or "step"."""
    text: str = ""
    data: JsonObject = field(default_factory=dict[str, Any])


EventFnT = Callable[[AgentEvent], Awaitable[None]]


@dataclass
class AgentResult:
    """How a run ended."""

    turn: Turn
    finish_reason: str
    usage: JsonObject | None
    steps: int
    stopped_by: str | None = None
    client_calls: list[ToolCall] = field(default_factory=list[ToolCall])
    note: str | None = None
    """What the client should know about how the answer ended (a filter, a token limit)."""


class CallRecorder(Protocol):
    """Counts a tool call and shows it on the status page."""

    def call(
        self,
        name: str,
        server: str,
        source: CallSource,
        outcome: CallOutcome,
        seconds: float,
        arguments: Mapping[str, Any] | None,
    ) -> None: ...


class ToolHost(Protocol):
    """What a run needs from the gateway: its catalog and config as they are now, and a way to call a tool."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def config(self) -> GatewayConfig: ...

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        source: CallSource = "mcp",
        snapshot: Catalog | None = None,
        asker: Asker | None = None,
    ) -> T.CallToolResult: ...

    @property
    def records(self) -> CallRecorder: ...


class Agent:
    """Runs chat requests against the model with the gateway's tools."""

    def __init__(self, gateway: ToolHost, model: GlmClient, limits: AgentLimits | None = None) -> None:
        self.gateway = gateway
        self.model = model
        self._limits = limits
        self._compiled: CompiledTools | None = None

    @property
    def limits(self) -> AgentLimits:
        """The limits given, else the config's `max_steps` (as it is now: a reload changes it) and the defaults."""
        return self._limits or AgentLimits(max_steps=self.gateway.config.gateway.max_steps)

    def compiled(self) -> CompiledTools:
        """The current catalog's tools, compiled and indexed (once per catalog snapshot)."""
        catalog = self.gateway.catalog
        if self._compiled is None or self._compiled.catalog is not catalog:
            servers = self.gateway.config.servers
            self._compiled = CompiledTools(
                catalog, lambda server: server in servers and servers[server].destructive == "allow"
            )
        return self._compiled

    def offer(
        self,
        client_tools: Sequence[JsonObject] = (),
        servers: Sequence[str] | None = None,
        tools: Sequence[str] | None = None,
        messages: Sequence[Any] = (),
    ) -> ToolOffer:
        """The tools for one request (see `offer`), narrowed to `servers` and `tools` when given."""
        client_names = frozenset(name for name in map(function_name, client_tools) if name)
        return build_offer(self.compiled(), self.gateway.config, client_tools, client_names, messages, servers, tools)

    async def run(
        self,
        body: JsonObject,
        offer: ToolOffer,
        *,
        stream: bool,
        on_event: EventFnT | None = None,
        max_steps: int | None = None,
        asker: Asker | None = None,
    ) -> AgentResult:
        """Run the loop from the request `body` (messages and the fields passed to GLM).

        `asker` is whoever handed over the task (the editor behind `glm__agent`): it confirms destructive calls of
        servers set to `"destructive": "ask"`, and answers what their servers ask (elicitation, roots).
        """
        messages: list[JsonObject] = list(body["messages"])
        usage: JsonObject | None = None
        steps = 0
        calls_made = 0
        turn = Turn()
        # A caller (a request, glm__agent) may lower the limit, never raise it past the config.
        limit = min(max_steps or self.limits.max_steps, self.limits.max_steps)
        # Calls the loop makes are the loop's: GLM answers their servers' sampling (the caller pays for GLM already).
        asker = LoopAsker(asker)

        async def emit(event: AgentEvent) -> None:
            if on_event is not None:
                await on_event(event)

        answer_started = [False]
        offered = offer.names()
        leaks: dict[str, LeakFilter] = {}

        async def on_delta(kind: str, text: str) -> None:
            if kind == "retry":
                await emit(AgentEvent("retry", data={"step": steps, **json.loads(text)}))
                return
            if offered:
                leak = leaks.setdefault(kind, LeakFilter(offered))
                text = leak.feed(text)
            await show(kind, text)

        async def show(kind: str, text: str) -> None:
            if kind == "content" and not answer_started[0]:
                # GLM opens many answers with "\n" or "\n\n"; whoever reads the stream should not see them.
                text = text.lstrip(LEADING_NEWLINES)
                if not text:
                    return
                answer_started[0] = True
            if text:
                await emit(AgentEvent(kind, text))

        stopped_by: str | None = None
        announced: Any = None
        with anyio.move_on_after(self.limits.max_seconds) as wall:
            while True:
                if steps >= limit:
                    stopped_by = "max_steps"
                    break
                steps += 1
                answer_started[0] = False
                leaks.clear()
                await emit(AgentEvent("step", data={"step": steps}))
                if steps == 1 or offer.facts.get("promoted") != announced:
                    announced = offer.facts.get("promoted")
                    await emit(AgentEvent("offer", data=dict(offer.facts)))
                request = {**body, "messages": messages}
                if offer.definitions:
                    request["tools"] = offer.definitions
                    request["tool_choice"] = "auto"
                turn = await (self.model.stream(request, on_delta) if stream else self.model.complete(request))
                for kind, leak in leaks.items():
                    await show(kind, leak.finish())
                usage = add_usage(usage, turn.usage)
                _recover_calls(turn, offered)
                if turn.finish_reason == "sensitive":
                    return _filtered(turn, usage, steps)
                if not turn.tool_calls:
                    return _final(turn, usage, steps)
                # Each call's arguments are read once: for the cut-off check, the message back to GLM and the run.
                readings = {call.id: _read(call) for call in turn.tool_calls}
                cut_off = any(isinstance(reading, TruncatedArgumentsError) for reading in readings.values())
                client_calls = [call for call in turn.tool_calls if call.name in offer.client_tools]
                if client_calls and not cut_off:
                    turn.tool_calls = client_calls
                    return AgentResult(turn, "tool_calls", usage, steps, client_calls=client_calls)
                if calls_made + len(turn.tool_calls) > self.limits.max_tool_calls:
                    stopped_by = "max_tool_calls"
                    break
                calls_made += len(turn.tool_calls)
                messages.append(_for_the_model(turn, readings))
                messages.extend(await self._run_calls(turn, offer, readings, emit, asker))
        if wall.cancelled_caught:
            stopped_by = "max_seconds"
        assert stopped_by is not None
        return self._stopped(turn, usage, steps, stopped_by, limit)

    def _stopped(
        self, turn: Turn, usage: JsonObject | None, steps: int, limit_name: str, max_steps: int
    ) -> AgentResult:
        value = {
            "max_steps": max_steps,
            "max_tool_calls": self.limits.max_tool_calls,
            "max_seconds": self.limits.max_seconds,
        }[limit_name]
        note = (
            f"[glm-mcp] The run stopped after {steps} model steps: the limit {limit_name}={value:g} was reached "
            "before the model gave a final answer."
        )
        final = Turn(content=note, reasoning_content="", id=turn.id, model=turn.model)
        return AgentResult(final, "length", usage, steps, stopped_by=limit_name)

    async def _run_calls(
        self, turn: Turn, offer: ToolOffer, readings: dict[str, _Reading], emit: EventFnT, asker: Asker | None
    ) -> list[JsonObject]:
        calls = turn.tool_calls
        answers: list[JsonObject | None] = [None] * len(calls)
        token_limit = turn.finish_reason == "length"

        async def run_one(position: int, call: ToolCall) -> None:
            server = self.compiled().servers.get(call.name)
            await emit(
                AgentEvent(
                    "tool_call",
                    data={"id": call.id, "name": call.name, "server": server, "arguments": call.arguments},
                )
            )
            reading = readings[call.id]
            if isinstance(reading, TruncatedArgumentsError):
                text, is_error = _cut_off_message(call, reading, token_limit), True
                self._count(call, "truncated")
            elif call.name in offer.client_tools:
                text, is_error = (
                    f"Error: {call.name} was not handed to the client: another call of the same answer was cut "
                    "off. Make this call again together with the repeated one.",
                    True,
                )
            else:
                text, is_error = await self._execute(call, reading, offer, asker)
            answers[position] = {"role": "tool", "tool_call_id": call.id, "content": text}
            await emit(
                AgentEvent(
                    "tool_result",
                    text=text,
                    data={"id": call.id, "name": call.name, "is_error": is_error, "content": text},
                )
            )

        async with anyio.create_task_group() as tg:
            for position, call in enumerate(calls):
                tg.start_soon(run_one, position, call)
        return [answer for answer in answers if answer is not None]

    async def _execute(
        self, call: ToolCall, reading: _Reading, offer: ToolOffer, asker: Asker | None
    ) -> tuple[str, bool]:
        # The snapshot the offer was built from: what GLM saw is what is validated, refused or run.
        compiled = offer.compiled or self.compiled()
        if call.name == FIND_TOOLS and offer.searchable:
            if isinstance(reading, ArgumentsError):
                return f"Error: {reading}. Call {FIND_TOOLS} again with a query.", True
            return find_tools(compiled, offer, reading), False
        ask = call.name in compiled.destructive and self._policy(compiled.servers[call.name]) == "ask"
        if call.name in compiled.destructive and not ask:
            self._count(call, "refused")
            server = compiled.servers[call.name]
            return (
                f"Error: glm-mcp did not run {call.name}: the tool may change or delete data (it is not annotated "
                "read-only or non-destructive), and such tools "
                f'of \'{server}\' need the user\'s approval ("destructive": "allow" in the gateway config). '
                "Tell the user what you wanted to do instead.",
                True,
            )
        schema = offer.gateway_tools.get(call.name)
        if schema is None and call.name in offer.candidates:
            # A tool of the catalog that was not offered: it runs (validated as usual) and joins the offer.
            offer.promote([call.name], compiled)
            schema = compiled.schemas[call.name]
        if schema is None:
            self._count(call, "unknown_tool")
            reason = offer.left_out.get(call.name)
            if reason:
                return f"Error: the tool '{call.name}' is not available here: {reason}.", True
            names = sorted(offer.gateway_tools)
            shown = ", ".join(names[:_LISTED_TOOLS])
            cut = f" ({_LISTED_TOOLS} of {len(names)} shown)" if len(names) > _LISTED_TOOLS else ""
            return (
                f"Error: there is no tool named '{call.name}'{closest(call.name, names)}. "
                f"Available tools{cut}: {shown}."
            ), True
        try:
            if isinstance(reading, ArgumentsError):
                raise reading
            arguments = prepare_arguments(reading, schema)
        except ArgumentsError as exc:
            self._count(call, "invalid_arguments")
            return f"Error: {exc}. The call was not run. Call {call.name} again with corrected arguments.", True
        if ask:
            # Asked only about a call that would run exactly as shown: validated first, the person sees its arguments.
            refusal = await self._confirm(call, compiled.servers[call.name], arguments, asker)
            if refusal is not None:
                self._count(call, "refused")
                return refusal, True
        result = await self.gateway.call_tool(
            call.name, arguments, source="chat", snapshot=compiled.catalog, asker=asker
        )
        return flatten_result(result, self.limits.max_result_chars), bool(result.is_error)

    def _policy(self, server: str) -> str:
        config = self.gateway.config.servers.get(server)
        return config.destructive if config is not None else "deny"

    async def _confirm(self, call: ToolCall, server: str, arguments: JsonObject, asker: Asker | None) -> str | None:
        """Ask the person behind the run to allow a destructive call; None when allowed, else what to tell GLM."""
        said = await confirm_destructive(asker, call.name, server, arguments, "GLM")
        if said == "accept":
            return None
        if said is None:
            return (
                f"Error: glm-mcp did not run {call.name}: it may change or delete data, and '{server}' runs such tools "
                "only after the user confirms them, which this client cannot do. Tell the user what you wanted to do."
            )
        return (
            f"Error: the user did not allow {call.name} ({said}); it was not run. Do not try it again unless the user "
            "asks for it."
        )

    def _count(self, call: ToolCall, outcome: CallOutcome) -> None:
        """Count a call the loop answered itself, like the calls that reached a server."""
        server = self.compiled().servers.get(call.name, "")
        self.gateway.records.call(call.name, server, "chat", outcome, 0.0, {"raw": call.arguments})


async def confirm_destructive(
    asker: Asker | None, name: str, server: str, arguments: JsonObject, who: str
) -> str | None:
    """Ask the person behind `asker` to allow a call that may change or delete data, showing its arguments: their
    answer (`"accept"`, `"decline"`, `"cancel"`, or `"no answer"` when asking failed), or None when nobody can be
    asked. Only `"accept"` allows the call."""
    if asker is None or asker.elicit is None:
        return None
    shown = json.dumps(arguments, ensure_ascii=False)
    if len(shown) > _SHOWN_ARGUMENTS:
        shown = shown[:_SHOWN_ARGUMENTS] + "…"
    question = T.ElicitRequestFormParams(
        message=f"{who} wants to run {name} on '{server}', which may change or delete data, with {shown}. Allow it?",
        requested_schema={"type": "object", "properties": {}},
    )
    try:
        answer = await asker.elicit(question)
    except Exception as exc:  # boundary: no answer is a refusal, never a run
        logger.warning("confirming %s failed: %s", name, exc)
        return "no answer"
    return answer.action if isinstance(answer, T.ElicitResult) else "no answer"


def _recover_calls(turn: Turn, offered: frozenset[str]) -> None:
    """Leaked `<tool_call>` blocks become calls; leaked tags leave structured calls' names."""
    for call in turn.tool_calls:
        if call.name not in offered:
            call.name = clean_name(call.name)
    if not offered:
        return
    found: list[LeakedCall] = []
    for kind in ("reasoning_content", "content"):
        text, calls = take_calls(getattr(turn, kind), offered)
        setattr(turn, kind, text)
        found.extend(calls)
    for leaked in found:
        position = len(turn.tool_calls)
        arguments = json.dumps(leaked.arguments, ensure_ascii=False)
        call = ToolCall(id=f"call_glm_mcp_{position}", name=leaked.name, arguments=arguments, cut_off=leaked.cut_off)
        turn.tool_calls.append(call)
    seen: set[str] = set()
    for call in turn.tool_calls:  # every call must be answered by its own id
        if call.id in seen:
            call.id = f"{call.id}_{len(seen)}"
        seen.add(call.id)
    if found:
        logger.info("recovered %d tool calls GLM wrote as text", len(found))
        if turn.finish_reason in (None, "stop"):
            turn.finish_reason = "tool_calls"


_Reading = JsonObject | ArgumentsError
"""A call's arguments as read (see `tools.arguments.read_arguments`), or why they cannot be read."""


def _read(call: ToolCall) -> _Reading:
    if call.cut_off:
        return TruncatedArgumentsError("the answer ended inside the <tool_call> block")
    try:
        return read_arguments(call.arguments)
    except ArgumentsError as exc:
        return exc


def _cut_off_message(call: ToolCall, problem: TruncatedArgumentsError, token_limit: bool) -> str:
    why = ' Your answer hit the token limit (finish_reason "length").' if token_limit else ""
    advice = " Keep each call short enough: split long content over several calls." if token_limit else ""
    return (
        f"Error: the arguments of this call to {call.name} were cut off ({problem}), so it was not run.{why} "
        f"Call {call.name} again with complete arguments.{advice}"
    )


def _for_the_model(turn: Turn, readings: dict[str, _Reading]) -> JsonObject:
    """The assistant message for the next request: every call's arguments as a JSON string GLM accepts (what was
    read, or `{}` for a call that could not be read)."""
    message = turn.to_message()
    for wire in message.get("tool_calls", []):
        reading = readings[wire["id"]]
        wire["function"]["arguments"] = (
            "{}" if isinstance(reading, ArgumentsError) else json.dumps(reading, ensure_ascii=False)
        )
    return message


def _filtered(turn: Turn, usage: JsonObject | None, steps: int) -> AgentResult:
    note = 'GLM\'s content safety filter stopped this answer (finish_reason "sensitive").'
    final = Turn(content=turn.content, reasoning_content=turn.reasoning_content, id=turn.id, model=turn.model)
    final.content = (final.content.rstrip() + "\n\n" if final.content.strip() else "") + f"[glm-mcp] {note}"
    return AgentResult(final, "content_filter", usage, steps, note=note)


_FINAL_NOTES = {
    "length": 'The answer hit the token limit (finish_reason "length"): it may be incomplete. Raise max_tokens '
    "or ask for a shorter answer.",
    "model_context_window_exceeded": "The conversation filled the model's context window "
    '(finish_reason "model_context_window_exceeded"): the answer may be incomplete. Shorten the conversation.',
}


def _final(turn: Turn, usage: JsonObject | None, steps: int) -> AgentResult:
    finish = turn.finish_reason or "stop"
    return AgentResult(turn, finish, usage, steps, note=_FINAL_NOTES.get(finish))


def function_name(tool: Any) -> str | None:
    """The name of an OpenAI-style function tool, or None if it has none."""
    function = as_object((as_object(tool) or {}).get("function"))
    name = function.get("name") if function is not None else None
    return name if isinstance(name, str) and name else None
