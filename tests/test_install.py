"""`glm-mcp install`: the editor's config gains one entry and keeps everything else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from glm_mcp.install import config_path
from tests.helpers import run_cli


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "GLM_MCP_CONFIG": ""}


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
async def test_install_adds_a_stdio_entry_and_keeps_the_rest(
    tmp_path: Path, client: str, key: str, shape: set[str]
) -> None:
    path = config_path(client, tmp_path, _env(tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"theme": "dark", key: {"other": {"command": "x"}}}))
    code, out, err = await run_cli("install", client, env=_env(tmp_path))
    assert code == 0, err
    assert str(path) in out
    data = json.loads(path.read_text())
    assert data["theme"] == "dark" and data[key]["other"] == {"command": "x"}
    entry = data[key]["glm-mcp"]
    assert set(entry) == shape
    assert entry["args"][-1] == "stdio"  # no config file in the working directory: the built-in default
    assert json.loads(path.with_name(path.name + ".bak").read_text())[key] == {"other": {"command": "x"}}


async def test_install_creates_a_missing_file_and_points_at_the_config_in_use(tmp_path: Path) -> None:
    config = tmp_path / "glm-mcp.json"
    config.write_text(json.dumps({"mcpServers": {}}))
    code, _, err = await run_cli("install", "cursor", "--config", str(config), env=_env(tmp_path))
    assert code == 0, err
    entry = json.loads((tmp_path / ".cursor" / "mcp.json").read_text())["mcpServers"]["glm-mcp"]
    assert entry["args"][-3:] == ["stdio", "--config", str(config)]
    assert os.path.isabs(entry["command"])


async def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    code, out, _ = await run_cli("install", "cursor", "--dry-run", env=_env(tmp_path))
    assert code == 0
    assert '"glm-mcp"' in out
    assert not (tmp_path / ".cursor" / "mcp.json").exists()


async def test_a_config_with_comments_is_left_alone_with_the_entry_to_add_by_hand(tmp_path: Path) -> None:
    path = config_path("zed", tmp_path, _env(tmp_path))
    path.parent.mkdir(parents=True)
    original = '// my settings\n{"theme": "One Dark",}\n'
    path.write_text(original)
    code, _, err = await run_cli("install", "zed", env=_env(tmp_path))
    assert code == 1
    assert "is not plain JSON" in err and '"context_servers"' in err and "Traceback" not in err
    assert path.read_text() == original
