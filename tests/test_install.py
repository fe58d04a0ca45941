"""`glm-mcp install`: the editor's config gains one explicit, safe entry and keeps everything else as written."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from glm_mcp.cli.install import config_path, user_config_path
from glm_mcp.jsonc import to_json
from glm_mcp.tools.lenient import parse_document
from tests.helpers import run_cli

pytestmark = pytest.mark.slow


def _env(home: Path, **more: str) -> dict[str, str]:
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "GLM_MCP_CONFIG": "",
        **more,
    }


@pytest.mark.parametrize(
    ("client", "key", "shape"),
    [
        ("claude-desktop", "mcpServers", {"command", "args"}),
        ("cursor", "mcpServers", {"command", "args"}),
        ("vscode", "servers", {"type", "command", "args"}),
        ("zed", "context_servers", {"source", "command", "args", "env"}),
        ("claude-code", "mcpServers", {"command", "args"}),
    ],
)
async def test_install_adds_an_entry_naming_a_config_and_this_installation_and_keeps_the_rest(
    tmp_path: Path, client: str, key: str, shape: set[str]
) -> None:
    path = config_path(client, tmp_path, _env(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"theme": "dark", key: {"other": {"command": "x"}}}))
    code, out, err = await run_cli("install", client, env=_env(tmp_path), cwd=tmp_path)
    assert code == 0, err
    assert str(path) in out
    data = json.loads(path.read_text())
    assert data["theme"] == "dark" and data[key]["other"] == {"command": "x"}
    entry = data[key]["glm-mcp"]
    assert set(entry) == shape
    user_config = user_config_path(tmp_path, _env(tmp_path))
    assert entry["args"][-3:] == ["stdio", "--config", str(user_config)]
    assert entry["command"] == str(Path(sys.executable).parent / "glm-mcp")  # this installation, not PATH's
    assert json.loads(path.with_name(path.name + ".bak").read_text())[key] == {"other": {"command": "x"}}
    # The config install wrote serves a folder of its own, never the editor's working directory.
    files = json.loads(user_config.read_text())["mcpServers"]["files"]["args"]
    root = Path(files[files.index("--root") + 1])
    assert root == tmp_path / ".local" / "share" / "glm-mcp" / "files"
    assert root.exists()  # noqa: ASYNC240  # the test reads what the CLI wrote


async def test_install_names_the_config_in_use_and_files_root_is_honoured(tmp_path: Path) -> None:
    config = tmp_path / "glm-mcp.json"
    config.write_text(json.dumps({"mcpServers": {}}))
    code, _, err = await run_cli("install", "cursor", "--config", str(config), env=_env(tmp_path))
    assert code == 0, err
    entry = json.loads((tmp_path / ".cursor" / "mcp.json").read_text())["mcpServers"]["glm-mcp"]
    assert entry["args"][-3:] == ["stdio", "--config", str(config)]
    home = tmp_path / "other-home"
    code, _, err = await run_cli("install", "cursor", "--files-root", str(tmp_path / "work"), env=_env(home))
    assert code == 0, err
    written = json.loads(user_config_path(home, _env(home)).read_text())["mcpServers"]["files"]["args"]
    assert written[-1] == str(tmp_path / "work")


async def test_env_carries_what_editors_do_not_pass_and_the_file_becomes_private(tmp_path: Path) -> None:
    env = _env(tmp_path, ZAI_API_KEY="sk-zai-1234")
    code, _, err = await run_cli("install", "cursor", "--env", "ZAI_API_KEY", "--env", "MODE=fast", env=env)
    assert code == 0, err
    path = tmp_path / ".cursor" / "mcp.json"
    assert json.loads(path.read_text())["mcpServers"]["glm-mcp"]["env"] == {
        "ZAI_API_KEY": "sk-zai-1234",
        "MODE": "fast",
    }
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    code, _, err = await run_cli("install", "cursor", "--env", "NOT_SET_ANYWHERE", env=env)
    assert code == 2 and "NOT_SET_ANYWHERE" in err


async def test_dry_run_writes_nothing_and_hides_secrets(tmp_path: Path) -> None:
    env = _env(tmp_path, ZAI_API_KEY="sk-zai-1234")
    code, out, _ = await run_cli("install", "cursor", "--dry-run", "--env", "ZAI_API_KEY", env=env)
    assert code == 0
    assert '"glm-mcp"' in out and "sk-zai-1234" not in out
    assert not (tmp_path / ".cursor" / "mcp.json").exists()


async def test_jsonc_settings_keep_their_comments_trailing_commas_and_formatting(tmp_path: Path) -> None:
    path = config_path("zed", tmp_path, _env(tmp_path))
    path.parent.mkdir(parents=True)
    original = (
        '// Zed settings\n{\n    "theme": "One Dark", // my theme\n    "font": "Iosevka – ü",\n'
        '    /* servers */\n    "context_servers": {\n        "other": {"command": "x"},\n    },\n}\n'
    )
    path.write_text(original)
    code, _, err = await run_cli("install", "zed", env=_env(tmp_path))
    assert code == 0, err
    text = path.read_text()
    for kept in ("// Zed settings", "// my theme", "/* servers */", "Iosevka – ü", '"other": {"command": "x"},'):
        assert kept in text
    assert '\n        "glm-mcp": {\n            "source": "custom",' in text  # the file's own indentation
    data = parse_document(text)
    assert set(data["context_servers"]) == {"glm-mcp", "other"} and data["theme"] == "One Dark"
    code, _, err = await run_cli("install", "zed", "--env", "MODE=x", env=_env(tmp_path))
    assert code == 0, err
    again = parse_document(path.read_text())
    assert again["context_servers"]["glm-mcp"]["env"] == {"MODE": "x"}  # replaced, not added twice
    assert path.read_text().count('"glm-mcp"') == 1
    assert (path.parent / "settings.json.bak.1").exists()


async def test_a_file_that_is_not_json_is_left_alone_with_the_entry_to_add_by_hand(tmp_path: Path) -> None:
    path = config_path("cursor", tmp_path, _env(tmp_path))
    path.parent.mkdir(parents=True)
    original = "mcpServers = [broken\n"
    path.write_text(original)
    code, _, err = await run_cli("install", "cursor", env=_env(tmp_path))
    assert code == 1
    assert "cannot be edited safely" in err and '"mcpServers"' in err and "Traceback" not in err
    assert path.read_text() == original


async def test_the_built_in_default_never_serves_the_home_folder(tmp_path: Path) -> None:
    (tmp_path / "private.txt").write_text("mine")
    env = _env(tmp_path)
    code, out, err = await run_cli("call", "files__list_directory", "{}", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "private.txt" not in out
    assert "the built-in config serves" in err and "not " + str(tmp_path) in err


async def test_install_with_nothing_to_change_writes_nothing_and_no_backup(tmp_path: Path) -> None:
    config = tmp_path / "glm-mcp.json"
    config.write_text(json.dumps({"mcpServers": {}}))
    first = await run_cli("install", "cursor", "--config", str(config), env=_env(tmp_path))
    path = tmp_path / ".cursor" / "mcp.json"
    written = path.read_text()
    code, out, err = await run_cli("install", "cursor", "--config", str(config), env=_env(tmp_path))
    assert first[0] == 0 and code == 0, err
    assert "nothing written" in out and path.read_text() == written
    assert sorted(file.name for file in path.parent.iterdir()) == ["mcp.json"]  # no .bak at all


async def test_install_claude_code_with_model_points_claude_codes_model_at_the_gateway(tmp_path: Path) -> None:
    config = tmp_path / "glm-mcp.json"
    config.write_text(json.dumps({"mcpServers": {}, "gateway": {"port": 9911, "auth_tokens": ["t" * 40]}}))
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{\n  // mine\n  "theme": "dark"\n}\n')
    env = _env(tmp_path)
    code, out, err = await run_cli("install", "claude-code", "--model", "--config", str(config), env=env)
    assert code == 0, err
    written = settings.read_text()
    assert "// mine" in written and '"theme": "dark"' in written  # the rest kept as written
    variables = json.loads(to_json(written))["env"]
    assert variables == {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9911",
        "ANTHROPIC_AUTH_TOKEN": "t" * 40,
        "ANTHROPIC_MODEL": "glm-4.6",
    }
    assert stat.S_IMODE(settings.stat().st_mode) & 0o077 == 0  # it holds the token
    entry = json.loads((tmp_path / ".claude.json").read_text())["mcpServers"]["glm-mcp"]
    assert entry["args"][-3:] == ["stdio", "--config", str(config)]  # the MCP entry as before
    assert "t" * 40 not in out
    code, _, err = await run_cli("install", "cursor", "--model", "--config", str(config), env=env)
    assert code == 1 and "--model is for claude-code" in err
