"""Config loading: both editor shapes, variable expansion, lookup order, and errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glm_mcp.cli.main import main
from glm_mcp.config import BundledUpstreamConfig, HttpUpstreamConfig, StdioUpstreamConfig, load_config, parse_config
from glm_mcp.errors import ConfigError
from glm_mcp.gateway.core import Gateway


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


def test_an_unset_variable_in_a_server_entry_fails_that_server_only_naming_it() -> None:
    data = {
        "mcpServers": {
            "r": {"url": "https://x/mcp", "headers": {"A": "${NOPE}"}},
            "ok": {"command": "srv"},
        }
    }
    config = parse_config(data, {}, "cfg.json")
    broken = config.servers["r"].config_error
    assert broken is not None and broken.startswith("mcpServers.r.headers.A: environment variable NOPE is not set")
    assert "${NOPE:-default}" in broken
    assert config.servers["ok"].config_error is None


def test_an_unset_variable_in_model_or_gateway_is_still_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"model": {"api_key": "${NOPE}"}}, {}, "cfg.json")
    assert str(caught.value).startswith("cfg.json: model.api_key: environment variable NOPE is not set")


async def test_a_server_whose_entry_cannot_be_filled_in_is_reported_and_the_others_serve() -> None:
    data = {"mcpServers": {"gh": {"command": "x", "env": {"TOKEN": "${input:github_token}"}}}}
    config = parse_config(data, {}, "mcp.json")
    async with Gateway(config).running() as gateway:
        status = gateway.status()["servers"]["gh"]
    assert status["state"] == "failed" and "glm-mcp cannot prompt" in status.get("error", "")


def test_vscode_variables_and_env_files_are_understood(tmp_path: Path) -> None:
    vscode = tmp_path / "project" / ".vscode"
    vscode.mkdir(parents=True)
    (vscode / "server.env").write_text("API_KEY=from-file\nOTHER=2\n")
    data = {
        "servers": {
            "s": {
                "type": "stdio",
                "command": "${workspaceFolder}/bin/srv",
                "args": ["${env:MODE}"],
                "envFile": "server.env",
                "env": {"OTHER": "from-env"},
            }
        },
        "inputs": [{"id": "x", "type": "promptString"}],
    }
    config = parse_config(data, {"MODE": "fast"}, "mcp.json", vscode)
    server = config.servers["s"]
    assert isinstance(server, StdioUpstreamConfig)
    assert server.command == str(tmp_path / "project" / "bin" / "srv") and server.args == ("fast",)
    assert server.env == {"API_KEY": "from-file", "OTHER": "from-env"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"mcpServer": {}}, "mcpServer: not a config key; did you mean 'mcpServers'?"),
        (
            {"mcpServers": {"a": {"command": "x"}}, "servers": {"a": {"command": "y"}}},
            "servers.a: 'a' is in both mcpServers and servers",
        ),
        (
            {"mcpServers": {"a": {"command": "x", "prefix": "p"}, "b": {"command": "y", "prefix": "p"}}},
            "mcpServers.b: its tools would be exposed as 'p__…' like those of 'a'",
        ),
        ({"mcpServers": {"a": {"command": "x", "args": "--flag"}}}, "mcpServers.a.args: must be an array of strings"),
    ],
)
def test_config_mistakes_are_named(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {}, "cfg.json")
    assert expected in str(caught.value)


def test_mcp_servers_and_vscode_servers_are_merged() -> None:
    data = {"mcpServers": {"a": {"command": "x"}}, "servers": {"b": {"type": "http", "url": "http://h/mcp"}}}
    assert list(parse_config(data, {}, "cfg.json").servers) == ["a", "b"]


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
    path.write_text('{"mcpServers": {\n  "a": {"command" "x"}\n}}')
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
    assert [token.get_secret_value() for token in config.gateway.auth_tokens or ()] == ["t0ken"]
    assert list(config.servers) == ["clock", "files", "notes"]
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, Path("/"))
    assert "gateway.auth_tokens[0]: environment variable GLM_MCP_TOKEN is not set" in str(caught.value)


def test_the_docker_image_runs_as_a_user_under_tini_with_its_config_and_files_serving_data() -> None:
    """What the image promises, read from the Dockerfile (no Docker daemon runs in CI to build it)."""
    root = Path(__file__).parent.parent
    lines = [line.split(maxsplit=1) for line in (root / "Dockerfile").read_text().splitlines() if line.strip()]
    steps = [(words[0], words[1] if len(words) > 1 else "") for words in lines if not words[0].startswith("#")]
    users = [argument for instruction, argument in steps if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert [json.loads(argument) for instruction, argument in steps if instruction == "ENTRYPOINT"] == [
        ["tini", "--", "glm-mcp"]
    ]
    copied = {argument.split()[1] for instruction, argument in steps if instruction == "COPY" and "docker/" in argument}
    config_env = [argument for instruction, argument in steps if instruction == "ENV" and "GLM_MCP_CONFIG" in argument]
    assert config_env == [f"GLM_MCP_CONFIG={copied.pop()}"] and not copied
    config = load_config(str(root / "docker" / "glm-mcp.json"), {"GLM_MCP_TOKEN": "t0ken"}, Path("/"))
    files = config.servers["files"]
    assert isinstance(files, BundledUpstreamConfig) and files.args[-2:] == ("--root", "/data")


def test_an_empty_prefix_passes_names_through_and_the_gateways_own_prefix_is_refused() -> None:
    config = parse_config(
        {"mcpServers": {"gh": {"command": "x", "prefix": ""}, "b": {"command": "y", "prefix": ""}}}, {}, "c"
    )
    assert [server.prefix for server in config.servers.values()] == ["", ""]
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": {"glm": {"command": "x"}}}, {}, "c")
    assert "mcpServers.glm: the prefix 'glm' would expose names starting 'glm__'" in str(caught.value)
    for lookalike in ("GLM", "glm_", "ｇｌｍ", "glm."):
        with pytest.raises(ConfigError, match="the gateway's own"):
            parse_config({"mcpServers": {"s": {"command": "x", "prefix": lookalike}}}, {}, "c")


@pytest.mark.parametrize(
    "data",
    [
        {"mcpServers": {"x": {"command": "c", "timeout": "${LEAK}"}}},
        {"mcpServers": {"x": {"type": "${LEAK}", "command": "c"}}},
        {"mcpServers": {"x": {"command": "c", "sampling": "${LEAK}"}}},
        {"gateway": {"port": "${LEAK}"}},
        {"model": {"base_url": "ftp://${LEAK}"}},
    ],
)
def test_a_config_error_never_echoes_a_value_filled_in_from_a_variable(data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {"LEAK": "sk-live-0123456789"}, "c.json")
    assert "sk-live" not in str(caught.value) and "c.json:" in str(caught.value)


@pytest.mark.parametrize("where", ["home", "root", "keys", "project"])
def test_the_built_in_config_never_serves_a_folder_holding_the_users_keys(tmp_path: Path, where: str) -> None:
    home = tmp_path / "home" / "ada"
    (home / ".ssh").mkdir(parents=True)
    (home / "work" / "keys" / ".gnupg").mkdir(parents=True)
    (home / "work" / "project").mkdir()
    cwd = {"home": home, "root": Path("/"), "keys": home / "work" / "keys", "project": home / "work" / "project"}[where]
    config = load_config(None, {"HOME": str(home), "XDG_DATA_HOME": str(tmp_path / "data")}, cwd)
    files = config.servers["files"]
    assert isinstance(files, BundledUpstreamConfig)
    served = Path(files.args[files.args.index("--root") + 1])
    if where == "project":
        assert served == Path(".")  # an ordinary folder is served as before
    else:
        assert served == tmp_path / "data" / "glm-mcp" / "files" and served.is_dir()


def test_a_jsonc_config_with_a_byte_order_mark_comments_and_trailing_commas_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(
        '\ufeff{\n  // VS Code writes comments\n  "servers": {\n    "fs": {"type": "stdio", "command": "npx",'
        ' "args": ["-y", "pkg//not-a-comment",],}, /* and blocks */\n  },\n}\n',
        encoding="utf-8",
    )
    config = load_config(str(path), {}, tmp_path)
    fs = config.servers["fs"]
    assert isinstance(fs, StdioUpstreamConfig) and fs.args == ("-y", "pkg//not-a-comment")


def test_a_broken_jsonc_config_still_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{\n  // a comment\n  "servers": {\n    "fs": {"command" "npx"}\n  }\n}\n')
    with pytest.raises(ConfigError, match=r"line 4, column 22"):
        load_config(str(path), {}, tmp_path)


def test_a_command_line_in_command_and_a_websocket_url_fail_their_server_with_the_fix() -> None:
    config = parse_config(
        {
            "mcpServers": {
                "whole": {"command": "npx -y @modelcontextprotocol/server-memory"},
                "ws": {"url": "ws://127.0.0.1:9000/mcp"},
                "fine": {"command": "npx", "args": ["-y", "pkg"]},
            }
        },
        {},
        "c.json",
    )
    whole, ws, fine = (config.servers[name].config_error or "" for name in ("whole", "ws", "fine"))
    assert '"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]' in whole
    assert "not WebSocket" in ws and "http://" in ws
    assert fine == ""


def test_a_default_is_used_when_the_variable_is_empty_as_posix_shells_do() -> None:
    data = {"mcpServers": {"s": {"command": "x", "args": ["${MODE:-fast}", "${LEVEL:-info}", "${KEPT:-no}"]}}}
    config = parse_config(data, {"MODE": "", "KEPT": "yes"}, "c.json")
    server = config.servers["s"]
    assert isinstance(server, StdioUpstreamConfig) and server.args == ("fast", "info", "yes")


def test_one_shot_commands_wait_for_every_servers_turn_and_its_start_timeout() -> None:
    def wait(servers: dict[str, Any], at_once: int = 8) -> float:
        return parse_config({"mcpServers": servers, "gateway": {"max_starting_servers": at_once}}, {}).start_wait()

    stdio = {f"s{i}": {"command": "npx", "start_timeout": 5} for i in range(20)}
    assert wait(stdio) == 15  # 20 stdio servers, 8 at a time: three rounds of turns of 5 s
    assert wait(stdio, at_once=20) == 5
    assert wait({**stdio, "remote": {"url": "https://example.com/mcp", "start_timeout": 40}}) == 40  # HTTP: no turn
    assert wait({**stdio, "off": {"command": "npx", "disabled": True, "start_timeout": 99}}) == 15
    assert wait({}) == 1
