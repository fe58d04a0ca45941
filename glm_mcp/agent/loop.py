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
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import anyio
import mcp.types as T

from glm_mcp._json import as_object
from glm_mcp.activity import CallOutcome, CallSource
from glm_mcp.agent.calls import (
    Reading,
    confirm_destructive,
    cut_off_message,
    fit_for_the_client,
    for_the_model,
    not_handed_message,
    read_call,
    recover_calls,
)
from glm_mcp.agent.offer import FIND_TOOLS, ToolOffer, build_offer, find_tools
from glm_mcp.agent.registry import CompiledTools
from glm_mcp.agent.results import (
    AgentEvent,
    AgentLimits,
    AgentResult,
    EventFnT,
    filtered_result,
    final_result,
)
from glm_mcp.catalog import Catalog, closest
from glm_mcp.config import GatewayConfig
from glm_mcp.errors import ArgumentsError, TruncatedArgumentsError
from glm_mcp.model.client import GlmClient
from glm_mcp.model.messages import JsonObject, ToolCall, Turn, add_usage
from glm_mcp.model.profile import LEADING_NEWLINES
from glm_mcp.model.xml_calls import LeakFilter
from glm_mcp.relay.asking import Asker, LoopAsker
from glm_mcp.tools.arguments import prepare_arguments
from glm_mcp.tools.results import flatten_result

logger = logging.getLogger(__name__)

_LISTED_TOOLS = 30
"""Tool names listed to a model that called an unknown one."""


def with_login_note(messages: list[JsonObject], servers: tuple[str, ...]) -> list[JsonObject]:
    """The conversation as GLM gets it: where servers wait for a person to log in, GLM is told once, in the system
    message, so that it can say so instead of guessing why their tools are missing."""
    if not servers:
        return messages
    commands = ", ".join(f"`glm-mcp login {server}`" for server in servers)
    note = (
        f"The MCP servers {', '.join(servers)} need the user to log in before their tools are available; "
        f"if the task needs them, tell the user to log in (from the editor, or by running {commands})."
    )
    first = messages[0] if messages else None
    if first is not None and first.get("role") == "system" and isinstance(first.get("content"), str):
        return [{**first, "content": f"{first['content']}\n\n{note}"}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


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

    def waiting_for_login(self) -> tuple[str, ...]:
        """The servers the caller must log in to before using them."""
        ...

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
        messages: list[JsonObject] = with_login_note(list(body["messages"]), self.gateway.waiting_for_login())
        usage: JsonObject | None = None
        steps = 0
        calls_made = 0
        turn = Turn()
        limits = self.limits
        # A caller (a request, glm__agent) may lower the limit, never raise it past the config.
        limit = min(max_steps or limits.max_steps, limits.max_steps)
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
        with anyio.CancelScope(deadline=anyio.current_time() + limits.max_seconds) as wall:
            while True:
                if steps >= limit:
                    stopped_by = "max_steps"
                    break
                steps += 1
                answer_started[0] = False
                leaks.clear()
                if on_event is not None:  # (a run without a listener makes no events)
                    await on_event(AgentEvent("step", data={"step": steps}))
                if on_event is not None and (steps == 1 or offer.facts.get("promoted") != announced):
                    announced = offer.facts.get("promoted")
                    await on_event(AgentEvent("offer", data=dict(offer.facts)))
                request = {**body, "messages": messages}
                if offer.definitions:
                    request["tools"] = offer.definitions
                    request["tool_choice"] = "auto"
                turn = await (self.model.stream(request, on_delta) if stream else self.model.complete(request))
                for kind, leak in leaks.items():
                    await show(kind, leak.finish())
                usage = add_usage(usage, turn.usage)
                recover_calls(turn, offered)
                if turn.finish_reason == "sensitive":
                    return filtered_result(turn, usage, steps)
                if not turn.tool_calls:
                    return final_result(turn, usage, steps)
                # Each call's arguments are read once: for the cut-off check, the message back to GLM and the run.
                readings = {call.id: read_call(call) for call in turn.tool_calls}
                cut_off = any(isinstance(reading, TruncatedArgumentsError) for reading in readings.values())
                client_calls = [call for call in turn.tool_calls if call.name in offer.client_tools]
                if client_calls and not cut_off and fit_for_the_client(client_calls, readings, offer.client_schemas()):
                    turn.tool_calls = client_calls
                    return AgentResult(turn, "tool_calls", usage, steps, client_calls=client_calls)
                if calls_made + len(turn.tool_calls) > self.limits.max_tool_calls:
                    stopped_by = "max_tool_calls"
                    break
                calls_made += len(turn.tool_calls)
                messages.append(for_the_model(turn, readings))
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
        self, turn: Turn, offer: ToolOffer, readings: dict[str, Reading], emit: EventFnT, asker: Asker | None
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
                text, is_error = cut_off_message(call, reading, token_limit), True
                self._count(call, "truncated")
            elif call.name in offer.client_tools:
                text, is_error = not_handed_message(call, reading), True
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
        self, call: ToolCall, reading: Reading, offer: ToolOffer, asker: Asker | None
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


def function_name(tool: Any) -> str | None:
    """The name of an OpenAI-style function tool, or None if it has none."""
    function = as_object((as_object(tool) or {}).get("function"))
    name = function.get("name") if function is not None else None
    return name if isinstance(name, str) and name else None
