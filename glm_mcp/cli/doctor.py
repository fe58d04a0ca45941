"""`glm-mcp doctor`: every check of a configuration, each with what is wrong and how to fix it.

Checks: each server starts; each tool compiles for GLM (and has a description); the tool count fits GLM's
limit of 128 per request; the model key is set; the model endpoint answers a one-token request.
"""

from __future__ import annotations

from dataclasses import dataclass

from glm_mcp.agent.loop import Agent
from glm_mcp.agent.offer import GLM_MAX_TOOLS as MAX_TOOLS
from glm_mcp.catalog import is_destructive, loop_policy
from glm_mcp.errors import ModelError
from glm_mcp.gateway.core import Gateway
from glm_mcp.upstream.connection import ServerState

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    check: str
    status: str
    detail: str


async def diagnose(gateway: Gateway, *, probe_model: bool = True) -> list[Finding]:
    """Run every check against a started gateway and its model client."""
    agent = gateway.agent
    findings: list[Finding] = []
    for name, upstream in gateway.servers.items():
        status = gateway.upstream_status(upstream)
        if upstream.state is ServerState.DISABLED:
            findings.append(Finding(f"server {name}", OK, "disabled in the config"))
        elif upstream.state is ServerState.READY:
            findings.append(Finding(f"server {name}", OK, f"{status['tools']} tools ({upstream.config.type})"))
        elif status["state"] == ServerState.NEEDS_LOGIN.value:
            findings.append(Finding(f"server {name}", WARN, f"needs login: {upstream.error}"))
        elif upstream.state is ServerState.STARTING:
            waited = f"{gateway.config.start_wait():g} s"
            findings.append(Finding(f"server {name}", WARN, f"still starting after {waited}; it is not ready yet"))
        else:
            fix = "check the command, its arguments and that it runs on its own"
            if upstream.config.type in ("http", "sse"):
                fix = "check the URL, the headers and that the server is up"
            findings.append(Finding(f"server {name}", FAIL, f"{upstream.error}; {fix}"))
        for clash in gateway.catalog.conflicts.get(name, ()):
            findings.append(Finding(f"{clash.kind} {name}/{clash.name}", FAIL, f"not exposed: {clash.reason}"))
        for method, why in upstream.listing.notes:
            findings.append(
                Finding(f"server {name}", WARN, f"{method} failed ({why}); counted as empty, its tools are served")
            )
        for tool, reason in upstream.listing.quarantined:
            # Usually someone else's server: the rest of it works, and hiding the tool silences this.
            hide = (
                f'; if you cannot fix the server, hide the tool: "tools": {{"deny": ["{tool}"]}} in mcpServers.{name}'
            )
            advice = "the server's other tools are served" + ("" if tool.startswith("<") else hide)
            findings.append(Finding(f"tool {name}/{tool}", WARN, f"left out: {reason}; {advice}"))
    compiled = agent.compiled()
    for tool, reason in sorted(compiled.left_out.items()):
        found = gateway.catalog.tools.get(tool)
        hide = ""
        if found is not None:  # usually someone else's server: hiding the tool keeps the rest and ends the warning
            entry = found[0]
            hide = (
                f'; if you cannot fix the server, hide the tool: "tools": {{"deny": ["{entry.original}"]}} in '
                f"mcpServers.{entry.server}"
            )
        findings.append(Finding(f"tool {tool}", FAIL, f"GLM cannot take its schema: {reason}{hide}"))
    for name, (entry, tool) in gateway.catalog.tools.items():
        if is_destructive(tool):
            policy = loop_policy(tool, gateway.config.servers[entry.server].destructive)
            findings.append(Finding(f"tool {name}", OK, policy))  # the policy is information, not a fault
        if not (tool.description or "").strip():
            findings.append(
                Finding(
                    f"tool {name}", WARN, f"no description: GLM picks tools by description; add one in {entry.server}"
                )
            )
    count = len(compiled.definitions)
    if count > MAX_TOOLS:
        findings.append(
            Finding(
                "tool count",
                WARN,
                f"{count} tools, GLM takes {MAX_TOOLS} per request: each request is offered the most relevant "
                "ones and glm__find_tools; pin the ones every request needs with tools.pin",
            )
        )
    else:
        findings.append(Finding("tool count", OK, f"{count} tools (GLM takes at most {MAX_TOOLS} per request)"))
    findings.extend(await _model_findings(agent, probe_model))
    return findings


async def _model_findings(agent: Agent, probe: bool) -> list[Finding]:
    config = agent.model.config
    findings: list[Finding] = []
    if config.api_key is None:
        findings.append(Finding("model key", FAIL, "no API key: set $ZAI_API_KEY or model.api_key in the config"))
        return findings
    findings.append(Finding("model key", OK, "set"))
    if not probe:
        return findings
    body = {"model": config.name, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    try:
        await agent.model.complete(body)
    except ModelError as exc:
        code = f" (code {exc.code})" if exc.code else ""
        findings.append(Finding("model endpoint", FAIL, f"{config.base_url} model {config.name}: {exc.message}{code}"))
    else:
        findings.append(Finding("model endpoint", OK, f"{config.base_url} answers for {config.name}"))
    return findings


def render(findings: list[Finding]) -> str:
    """The report as an aligned text table."""
    width = max(len(finding.check) for finding in findings)
    return "\n".join(f"{finding.status:<4}  {finding.check:<{width}}  {finding.detail}" for finding in findings)
