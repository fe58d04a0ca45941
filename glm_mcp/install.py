"""`glm-mcp install CLIENT`: add glm-mcp to an editor's MCP config, keeping what is there.

Contract:
- the client's own config file is read, the `glm-mcp` entry added or replaced, everything else kept as it was;
  the entry spawns `glm-mcp stdio`, or (`--http`) points at a running `glm-mcp serve` with its bearer token;
- the file is written atomically with its mode kept (never widened); a file that holds a token is never left
  readable by other users; a config that is a symlink is written through to its target;
- the previous version is kept beside it as `<name>.bak` (`.bak.1`, `.bak.2`, … when older backups exist, never
  overwritten), created without following symlinks and with the original's mode;
- a file that is not plain JSON (Zed's settings may carry comments) is never rewritten: the entry to add by
  hand is printed instead; `--dry-run` shows the result without writing anything.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
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
    secret: bool = False
    """The new content holds a token: the file must not be readable by other users."""


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


def _http_entry(client: str, url: str, token: str | None) -> tuple[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if client == "claude-desktop":
        raise ConfigError(
            "Claude Desktop's config file takes stdio servers only: run `glm-mcp install claude-desktop` "
            "without --http (it spawns `glm-mcp stdio`)"
        )
    if client == "vscode":
        return "servers", {"type": "http", "url": url, "headers": headers}
    if client == "zed":
        return "context_servers", {"source": "custom", "url": url, "headers": headers}
    if client == "claude-code":
        return "mcpServers", {"type": "http", "url": url, "headers": headers}
    return "mcpServers", {"url": url, "headers": headers}


def plan_http(client: str, path: Path, url: str, token: str | None) -> Plan:
    """The new content of `path` with an entry pointing at a running `glm-mcp serve`.

    Raises:
        ConfigError: The client cannot take an HTTP entry, or the file is not a JSON object.
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--http: {url!r} is not an http:// or https:// URL")
    key, entry = _http_entry(client, url, token)
    return _merge(path, key, entry, secret=token is not None)


def plan(client: str, path: Path, command: str, args: list[str]) -> Plan:
    """The new content of `path` with the glm-mcp entry in it.

    Raises:
        ConfigError: The file exists but is not a JSON object (comments included), so it is left alone.
    """
    key, entry = _entry(client, command, args)
    return _merge(path, key, entry)


def _merge(path: Path, key: str, entry: dict[str, Any], *, secret: bool = False) -> Plan:
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
    return Plan(path, data, existed, secret)


def apply(change: Plan) -> Path | None:
    """Write the plan: a backup of the old file, then an atomic replace. Returns the backup's path, if any."""
    target = change.path.resolve() if change.path.is_symlink() else change.path  # keep the editor's symlink
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600 if change.secret else 0o644
    backup: Path | None = None
    if change.existed:
        mode = stat.S_IMODE(target.stat().st_mode)
        backup = _backup(target, mode)
    if change.secret:
        mode &= ~0o077
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            json.dump(change.content, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return backup


def _backup(path: Path, mode: int) -> Path:
    """Copy `path` to the first free `<name>.bak[.N]`: created exclusively, never through a symlink."""
    data = path.read_bytes()
    for number in range(1000):
        candidate = path.with_name(f"{path.name}.bak" + (f".{number}" if number else ""))
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode & 0o777)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode & 0o777)  # the umask may have narrowed it; never wider than the original
            handle.write(data)
        return candidate
    raise ConfigError(f"{path}: 1,000 backups exist already; remove old ones")
