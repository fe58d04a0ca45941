"""`glm-mcp install CLIENT`: add glm-mcp (as a stdio server) to an editor's MCP config, keeping what is there.

Contract:
- the client's own config file is read, the `glm-mcp` entry added or replaced, everything else kept as it was;
- the file is written atomically, the previous version kept beside it as `<name>.bak`;
- a file that is not plain JSON (Zed's settings may carry comments) is never rewritten: the entry to add by
  hand is printed instead; `--dry-run` shows the result without writing anything.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glm_mcp._json import as_object
from glm_mcp.errors import ConfigError

ENTRY_NAME = "glm-mcp"
CLIENTS = ("claude-desktop", "cursor", "vscode", "zed", "claude-code")


@dataclass(frozen=True)
class Plan:
    """What `install` would do: the file, and its new content."""

    path: Path
    content: dict[str, Any]
    existed: bool


def config_path(client: str, home: Path, environ: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Where `client` keeps its user-level MCP servers on this platform."""
    appdata = Path(environ.get("APPDATA", home / "AppData" / "Roaming"))
    xdg = Path(environ.get("XDG_CONFIG_HOME", home / ".config"))
    if platform == "darwin":
        support = home / "Library" / "Application Support"
        app_dirs = {"claude-desktop": support / "Claude", "vscode": support / "Code" / "User", "zed": xdg / "zed"}
    elif platform.startswith("win"):
        app_dirs = {"claude-desktop": appdata / "Claude", "vscode": appdata / "Code" / "User", "zed": appdata / "Zed"}
    else:
        app_dirs = {"claude-desktop": xdg / "Claude", "vscode": xdg / "Code" / "User", "zed": xdg / "zed"}
    files = {
        "claude-desktop": app_dirs["claude-desktop"] / "claude_desktop_config.json",
        "cursor": home / ".cursor" / "mcp.json",
        "vscode": app_dirs["vscode"] / "mcp.json",
        "zed": app_dirs["zed"] / "settings.json",
        "claude-code": home / ".claude.json",
    }
    return files[client]


def launch_command(config: Path | None) -> tuple[str, list[str]]:
    """How the editor should start glm-mcp: the installed script if there is one, else this interpreter."""
    args = ["stdio"] + (["--config", str(config.resolve())] if config is not None else [])
    script = shutil.which("glm-mcp")
    if script is not None:
        return script, args
    return sys.executable, ["-m", "glm_mcp", *args]


def _entry(client: str, command: str, args: list[str]) -> tuple[str, dict[str, Any]]:
    """(the key holding the servers, the entry) in the client's own shape."""
    if client == "vscode":
        return "servers", {"type": "stdio", "command": command, "args": args}
    if client == "zed":
        return "context_servers", {"source": "custom", "command": command, "args": args, "env": {}}
    return "mcpServers", {"command": command, "args": args}


def plan(client: str, path: Path, command: str, args: list[str]) -> Plan:
    """The new content of `path` with the glm-mcp entry in it.

    Raises:
        ConfigError: The file exists but is not a JSON object (comments included), so it is left alone.
    """
    key, entry = _entry(client, command, args)
    existed = path.exists()
    data: dict[str, Any] = {}
    if existed:
        try:
            parsed = as_object(json.loads(path.read_text(encoding="utf-8") or "{}"))
        except (OSError, ValueError) as exc:
            snippet = json.dumps({key: {ENTRY_NAME: entry}}, indent=2)
            raise ConfigError(
                f"{path} is not plain JSON ({exc}); it was left as it is. Add this to it by hand:\n{snippet}"
            ) from None
        if parsed is None:
            raise ConfigError(f"{path} does not hold a JSON object; it was left as it is")
        data = parsed
    servers = as_object(data.get(key, {}))
    if servers is None:
        raise ConfigError(f"{path}: '{key}' is not an object; it was left as it is")
    data[key] = {**servers, ENTRY_NAME: entry}
    return Plan(path, data, existed)


def apply(change: Plan) -> None:
    """Write the plan: a backup of the old file, then an atomic replace."""
    change.path.parent.mkdir(parents=True, exist_ok=True)
    if change.existed:
        shutil.copy2(change.path, change.path.with_name(change.path.name + ".bak"))
    fd, temp = tempfile.mkstemp(dir=change.path.parent, prefix=f".{change.path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(change.content, handle, indent=2)
        handle.write("\n")
    os.replace(temp, change.path)
