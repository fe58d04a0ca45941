"""Config loading: both editor shapes, variable expansion, lookup order, and errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glm_mcp.cli import main
from glm_mcp.config import HttpUpstreamConfig, StdioUpstreamConfig, load_config, parse_config
from glm_mcp.errors import ConfigError


def test_claude_desktop_shape_gives_stdio_http_and_sse_servers() -> None:
    config = parse_config(
        {
            "mcpServers": {
                "files": {"command": "python", "args": ["-m", "servers.files"], "env": {"K": "v"}},
                "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"}},
                "old": {"url": "http://127.0.0.1:9000/sse", "type": "sse"},
                "big": {"command": "npx", "tools": {"deny": ["delete_*"]}, "timeout": 120, "prefix": "b"},
            }
        },
        {},
    )
    files, remote, old, big = config.servers.values()
    assert isinstance(files, StdioUpstreamConfig) and files.args == ("-m", "servers.files") and files.env == {"K": "v"}
    assert isinstance(remote, HttpUpstreamConfig) and remote.type == "http"
    assert remote.headers == {"Authorization": "Bearer t"}
    assert isinstance(old, HttpUpstreamConfig) and old.type == "sse"
    assert isinstance(big, StdioUpstreamConfig)
    assert (big.tools.deny, big.timeout, big.prefix) == (("delete_*",), 120.0, "b")


def test_vscode_servers_shape_with_type_is_accepted() -> None:
    config = parse_config(
        {
            "servers": {
                "a": {"type": "stdio", "command": "node", "args": ["x.js"]},
                "b": {"type": "http", "url": "http://127.0.0.1:1/mcp"},
                "c": {"type": "sse", "url": "http://127.0.0.1:1/sse"},
            },
            "inputs": [],
        },
        {},
    )
    assert [type(s).__name__ for s in config.servers.values()] == [
        "StdioUpstreamConfig",
        "HttpUpstreamConfig",
        "HttpUpstreamConfig",
    ]
    assert [s.type for s in config.servers.values()] == ["stdio", "http", "sse"]


def test_variables_expand_everywhere_with_defaults() -> None:
    config = parse_config(
        {
            "mcpServers": {
                "s": {"command": "${TOOL_BIN}/srv", "args": ["--home=${HOME_DIR:-/home/me}"], "env": {"T": "${TOK}"}}
            }
        },
        {"TOOL_BIN": "/opt/bin", "TOK": "secret"},
    )
    server = config.servers["s"]
    assert isinstance(server, StdioUpstreamConfig)
    assert (server.command, server.args, server.env) == ("/opt/bin/srv", ("--home=/home/me",), {"T": "secret"})


def test_an_unset_variable_is_an_error_naming_it_and_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": {"r": {"url": "https://x/mcp", "headers": {"A": "${NOPE}"}}}}, {}, "cfg.json")
    message = str(caught.value)
    assert message.startswith("cfg.json: mcpServers.r.headers.A:")
    assert "NOPE" in message and "${NOPE:-default}" in message


@pytest.mark.parametrize(
    ("servers", "path"),
    [
        ({"big": {"command": "x", "timeout": "soon"}}, "mcpServers.big.timeout"),
        ({"big": {"command": "x", "timeout": -1}}, "mcpServers.big.timeout"),
        ({"big": {"url": "ftp://host/mcp"}}, "mcpServers.big.url"),
        ({"big": {"args": ["x"]}}, "mcpServers.big"),
        ({"big": {"command": "x", "type": "websocket"}}, "mcpServers.big.type"),
        ({"big": {"command": "x", "tools": {"allow": "a*"}}}, "mcpServers.big.tools.allow"),
        ({"big": "npx server"}, "mcpServers.big"),
    ],
)
def test_invalid_server_entries_name_the_file_and_json_path(servers: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": servers}, {}, "cfg.json")
    assert str(caught.value).startswith(f"cfg.json: {path}")


def test_unknown_keys_in_the_gateway_section_are_rejected() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": {}, "gateway": {"prot": 1}}, {}, "cfg.json")
    assert str(caught.value).startswith("cfg.json: gateway.prot: Extra inputs are not permitted")


def test_lookup_order_is_flag_then_environment_then_working_directory(tmp_path: Path) -> None:
    for name in ("flag", "env", "local"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"mcpServers": {name: {"command": "x"}}}))
    (tmp_path / "glm-mcp.json").write_text((tmp_path / "local.json").read_text())
    env = {"GLM_MCP_CONFIG": str(tmp_path / "env.json")}
    assert list(load_config(str(tmp_path / "flag.json"), env, tmp_path).servers) == ["flag"]
    assert list(load_config(None, env, tmp_path).servers) == ["env"]
    assert list(load_config(None, {}, tmp_path).servers) == ["local"]
    default = load_config(None, {}, tmp_path / "missing")
    assert list(default.servers) == ["clock", "files", "notes"]


def test_relative_cwd_is_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    (tmp_path / "glm-mcp.json").write_text(json.dumps({"mcpServers": {"s": {"command": "x", "cwd": "sub"}}}))
    server = load_config(None, {}, tmp_path).servers["s"]
    assert isinstance(server, StdioUpstreamConfig) and server.cwd == str(tmp_path / "sub")


def test_broken_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "glm-mcp.json"
    path.write_text('{"mcpServers": {\n  "a": {"command": "x",}\n}}')
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {}, tmp_path)
    assert str(caught.value).startswith(f"{path}: not valid JSON at line 2")


def test_cli_reports_a_config_error_with_exit_code_2_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "glm-mcp.json"
    path.write_text(json.dumps({"mcpServers": {"big": {"command": "x", "timeout": "soon"}}}))
    assert main(["tools", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"glm-mcp: {path}: mcpServers.big.timeout:")
    assert "Traceback" not in err


def test_cli_reports_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--config", str(tmp_path / "nope.json")]) == 2
    assert "cannot read the config file" in capsys.readouterr().err


def test_the_docker_image_config_requires_a_token_for_its_public_bind() -> None:
    path = str(Path(__file__).parent.parent / "docker" / "glm-mcp.json")
    config = load_config(path, {"GLM_MCP_TOKEN": "t0ken"}, Path("/"))
    assert [token.get_secret_value() for token in config.gateway.auth_tokens] == ["t0ken"]
    assert list(config.servers) == ["clock", "files", "notes"]
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, Path("/"))
    assert "gateway.auth_tokens[0]: environment variable GLM_MCP_TOKEN is not set" in str(caught.value)
