"""The client the MCP conformance suite tests: glm-mcp's upstream side.

The suite runs `python -m tests.conformance_client <server-url>` with the scenario in `MCP_CONFORMANCE_SCENARIO`
(and its inputs in `MCP_CONFORMANCE_CONTEXT`). This starts `glm-mcp stdio` with that server as its one upstream
(`"prefix": ""`, `"protocol": "auto"`, as a user would configure it) and, as an editor does, uses what the server
offers through the gateway: it lists and calls the tools (with the scenario's arguments where it gives them), reads
the resources and gets the prompts, and answers the server's questions (accepting forms as they come).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as T
from mcp import Client, MCPError, StdioServerParameters
from mcp.client import ClientRequestContext

ROOT = Path(__file__).resolve().parent.parent


def _example(schema: dict[str, Any]) -> Any:
    """A value a schema accepts, for tools the scenario gives no arguments for."""
    kind = schema.get("type")
    if "default" in schema:
        return schema["default"]
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties") or {}
        listed: list[Any] = schema.get("required") or []
        required = [str(name) for name in listed]
        return {name: _example(properties.get(name) or {}) for name in required}
    return "test"


def _observed(tool: T.Tool, tools: list[T.Tool]) -> dict[str, Any] | None:
    """For a tool that asks for "the inputSchema the client observed" for another tool: that schema, as listed."""
    properties: dict[str, Any] = tool.input_schema.get("properties") or {}
    wanted: dict[str, Any] = properties.get("schema") or {}
    about = str(wanted.get("description") or "")
    other = next((each for each in tools if each.name != tool.name and each.name in about), None)
    return {"schema": other.input_schema} if other is not None else None


async def _elicit(context: ClientRequestContext, params: T.ElicitRequestParams) -> T.ElicitResult:
    """A person who accepts and leaves every field as offered (the gateway fills in the schema's defaults), and
    opens the page a URL elicitation shows (a login, which they approve)."""
    if isinstance(params, T.ElicitRequestURLParams):
        async with httpx2.AsyncClient(follow_redirects=True, timeout=30) as browser:
            with contextlib.suppress(httpx2.HTTPError):  # the gateway's own browser may have completed it first
                await browser.get(params.url)
        return T.ElicitResult(action="accept")
    return T.ElicitResult(action="accept", content={})


async def _sample(context: ClientRequestContext, params: T.CreateMessageRequestParams) -> T.CreateMessageResult:
    return T.CreateMessageResult(role="assistant", content=T.TextContent(text="sampled"), model="editor-model")


async def _roots(context: ClientRequestContext) -> T.ListRootsResult:
    return T.ListRootsResult(roots=[T.Root.model_validate({"uri": ROOT.as_uri(), "name": "checkout"})])


class _ListChanged:
    """Hears `tools/list_changed`: the gateway announces a server that was still starting at the first list."""

    def __init__(self) -> None:
        self.heard = anyio.Event()

    async def __call__(self, message: object) -> None:
        if isinstance(message, T.ToolListChangedNotification):
            self.heard.set()


async def _log_in(editor: Client, tools: list[T.Tool]) -> None:
    """As a person at an editor does when a server needs a login: `glm__login` for each one it names."""
    login = next((tool for tool in tools if tool.name == "glm__login"), None)
    if login is None:
        return
    servers: list[str] = login.input_schema["properties"]["server"]["enum"]
    for server in servers:
        result = await editor.call_tool("glm__login", {"server": server})
        print(f"glm__login {server}: {result.content}", file=sys.stderr)


async def _use_everything(editor: Client, context: dict[str, Any], changed: _ListChanged) -> None:
    given: list[dict[str, Any]] = list(context.get("toolCalls") or [])
    tools = (await editor.list_tools()).tools
    await _log_in(editor, tools)
    tools = [tool for tool in (await editor.list_tools()).tools if tool.name != "glm__login"]
    if not tools:  # the upstream was still connecting (a busy machine): as an editor does, list again when told
        with anyio.move_on_after(60):  # bounded by the scenario's own timeout anyway
            await changed.heard.wait()
        tools = (await editor.list_tools()).tools
    calls: list[tuple[str, dict[str, Any]]] = [
        (str(call["name"]), dict(call.get("arguments") or {})) for call in given
    ] or [(tool.name, _observed(tool, tools) or _example(tool.input_schema)) for tool in tools]
    for name, arguments in calls:
        try:
            await editor.call_tool(name, arguments)
        except MCPError as exc:
            print(f"tools/call {name}: {exc.message}", file=sys.stderr)
    for resource in (await editor.list_resources()).resources:
        try:
            await editor.read_resource(str(resource.uri))
        except MCPError as exc:
            print(f"resources/read {resource.uri}: {exc.message}", file=sys.stderr)
    for prompt in (await editor.list_prompts()).prompts:
        try:
            await editor.get_prompt(prompt.name, {argument.name: "test" for argument in prompt.arguments or []})
        except MCPError as exc:
            print(f"prompts/get {prompt.name}: {exc.message}", file=sys.stderr)


OAUTH_KEYS = (
    "client_id",
    "client_secret",
    "issuer",
    "private_key_pem",
    "signing_algorithm",
    "idp_issuer",
    "idp_client_id",
    "idp_token_endpoint",
    "idp_id_token",
)
"""The scenario's inputs that go in the server's `oauth` object, under the same names."""


def server_entry(url: str, scenario: str, context: dict[str, Any]) -> dict[str, Any]:
    """The config entry a user writes for the scenario's server: its URL, and what its login needs."""
    entry: dict[str, Any] = {"url": url, "prefix": ""}
    oauth = {key: context[key] for key in OAUTH_KEYS if key in context}
    if scenario.startswith("auth/"):
        # The suite's authorization servers take this as the client's metadata document URL (SEP-991), as every
        # client it tests is configured with.
        oauth["client_metadata_url"] = "https://conformance-test.local/client-metadata.json"
    if scenario.startswith("auth/client-credentials"):
        oauth["grant"] = "client_credentials"
    if scenario == "auth/wif-jwt-bearer" and "valid_jwt" in context:
        oauth.update(grant="jwt_bearer", jwt_assertion=context["valid_jwt"])
    if "idp_id_token" in context:  # enterprise-managed: the user's ID token is exchanged at the identity provider
        oauth["grant"] = "jwt_bearer"
    if oauth:
        entry["oauth"] = oauth
    return entry


async def main(url: str) -> None:
    context: dict[str, Any] = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "glm-mcp.json"
        config.write_text(json.dumps({"mcpServers": {"scenario": server_entry(url, scenario, context)}}))
        # A login opens the browser; here the browser is a person who approves at once.
        environment = {
            **os.environ,
            "XDG_STATE_HOME": str(Path(folder) / "state"),
            "BROWSER": f"{sys.executable} {ROOT / 'tests' / 'approving_browser.py'} %s",
        }
        gateway = StdioServerParameters(
            command=sys.executable,
            args=["-m", "glm_mcp", "stdio", "--config", str(config), "--log-level", "info"],
            cwd=str(ROOT),
            env=environment,
        )
        changed = _ListChanged()
        # The editor speaks the revision the scenario tests: a 2026-07-28 caller's requests go out in that era.
        modern = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") == "2026-07-28"
        async with Client(
            gateway,
            mode="2026-07-28" if modern else "legacy",
            elicitation_callback=_elicit,
            sampling_callback=_sample,
            list_roots_callback=_roots,
            message_handler=changed,
        ) as editor:
            await _use_everything(editor, context, changed)


if __name__ == "__main__":
    anyio.run(main, sys.argv[-1])
