"""Live reconfiguration (`gateway.reconfigure`): a reload applied as a difference, a refused one changing nothing,
and the admin actions on one server. In process, over in-memory servers."""

from __future__ import annotations

import pytest
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from glm_mcp.agent.loop import Agent
from glm_mcp.config import GatewayConfig, ModelConfig, ServeConfig
from glm_mcp.errors import ConfigError, ToolNotFoundError
from glm_mcp.gateway.core import Gateway
from glm_mcp.model.client import GlmClient
from tests.helpers import inproc


def server(name: str) -> MCPServer:
    """A server whose one tool says which server answered."""
    built = MCPServer(name)

    @built.tool()
    def hello() -> str:
        """Say hello."""
        return f"hello from {name}"

    return built


async def test_a_reload_applies_a_difference_and_says_what_needs_a_new_socket() -> None:
    """Unchanged servers keep their session, changed ones restart, added ones start; model settings reach the
    model client; host, port and tokens wait for the next start, and the report says so."""
    one, two, three = server("one"), server("two"), server("three")
    old = GatewayConfig(servers={"one": inproc(one), "two": inproc(two)}, model=ModelConfig(api_key=SecretStr("k")))
    new = GatewayConfig(
        servers={"one": inproc(one, timeout=5), "two": old.servers["two"], "three": inproc(three)},
        model=ModelConfig(api_key=SecretStr("k"), name="glm-4.7"),
        gateway=ServeConfig(port=9999, max_steps=3, max_connections=5),
    )
    async with Gateway(old, loader=lambda: new).running() as gateway:
        untouched = gateway.servers["two"]
        heard: list[str] = []
        gateway.on_model_change(lambda config: heard.append(config.model.name))
        report = await gateway.reload()
        assert (report.get("added", []), report.get("removed", []), report.get("restarted", [])) == (
            ["three"],
            [],
            ["one"],
        )
        assert [note.split(" ")[0] for note in report.get("notes", [])] == [
            "gateway.port",
            "gateway.max_connections",
            "model",
        ]
        assert heard == ["glm-4.7"]
        assert gateway.servers["two"] is untouched and gateway.servers["one"].restarts == 1
        assert gateway.config.gateway.port == old.gateway.port
        assert Agent(gateway, GlmClient(gateway.config.model)).limits.max_steps == 3  # applied at once
        assert sorted(gateway.catalog.tools) == ["one__hello", "three__hello", "two__hello"]


async def test_a_config_that_cannot_be_read_changes_nothing_and_is_reported_until_a_reload_succeeds() -> None:
    good = GatewayConfig(servers={"one": inproc(server("one"))})
    loaded: list[GatewayConfig | ConfigError] = [ConfigError("glm-mcp.json: servers.one.command: must be a string")]

    def loader() -> GatewayConfig:
        found = loaded[0]
        if isinstance(found, ConfigError):
            raise found
        return found

    async with Gateway(good, loader=loader).running() as gateway:
        refused = await gateway.reload()
        assert refused == {"ok": False, "error": "glm-mcp.json: servers.one.command: must be a string"}
        assert gateway.config is good and sorted(gateway.catalog.tools) == ["one__hello"]
        assert "the last reload was refused" in gateway.status().get("config_error", "")
        loaded[0] = GatewayConfig(servers={"one": good.servers["one"], "two": inproc(server("two"))})
        applied = await gateway.reload()
        assert applied.get("added") == ["two"] and "config_error" not in gateway.status()


async def test_a_removed_server_stops_and_its_tools_leave_the_catalog() -> None:
    old = GatewayConfig(servers={"one": inproc(server("one")), "two": inproc(server("two"))})
    async with Gateway(old).running() as gateway:
        report = await gateway.apply(GatewayConfig(servers={"one": old.servers["one"]}))
        assert report.get("removed") == ["two"] and "two" not in gateway.servers
        assert sorted(gateway.catalog.tools) == ["one__hello"]


async def test_without_a_file_there_is_nothing_to_reload() -> None:
    async with Gateway(GatewayConfig(servers={"one": inproc(server("one"))})).running() as gateway:
        report = await gateway.reload()
    assert not report["ok"] and "not started from a config file" in report.get("error", "")


async def test_one_server_is_disabled_enabled_and_restarted_and_an_unknown_name_lists_the_known_ones() -> None:
    config = GatewayConfig(servers={"one": inproc(server("one")), "two": inproc(server("two"))})
    async with Gateway(config).running() as gateway:
        await gateway.set_enabled("two", False)
        assert gateway.status()["servers"]["two"]["state"] == "disabled"
        assert sorted(gateway.catalog.tools) == ["one__hello"]
        assert gateway.status()["ready"]  # a disabled server does not make the gateway unready
        await gateway.set_enabled("two", True)
        assert sorted(gateway.catalog.tools) == ["one__hello", "two__hello"]
        await gateway.restart_server("one")
        assert gateway.servers["one"].restarts == 1 and gateway.status()["servers"]["one"]["state"] == "ready"
        with pytest.raises(ToolNotFoundError) as unknown:
            await gateway.restart_server("tow")
    assert "no server named 'tow'" in str(unknown.value) and "one, two" in str(unknown.value)
