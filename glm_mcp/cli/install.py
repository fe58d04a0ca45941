"""`glm-mcp install CLIENT`: add glm-mcp to an editor's MCP config, keeping what is there.

Contract:
- the client's own config file is read, the `glm-mcp` entry added or replaced, everything else kept as it was;
  the entry spawns `glm-mcp stdio`, or (`--http`) points at a running `glm-mcp serve` with its bearer token;
- the file is written atomically with its mode kept (never widened); a file that holds a token is never left
  readable by other users; a config that is a symlink is written through to its target;
- the previous version is kept beside it as `<name>.bak` (`.bak.1`, `.bak.2`, … when older backups exist, never
  overwritten), created without following symlinks and with the original's mode;
- the file is edited as text (`jsonc`): comments, trailing commas, formatting and non-ASCII text stay; a file
  that cannot be read as JSON or JSONC is never rewritten: the entry to add by hand is printed instead;
- the entry always names a config file and this installation (not whatever `glm-mcp` is first on the
  editor's PATH); `--dry-run` shows the result without writing anything.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glm_mcp.errors import ConfigError
from glm_mcp.jsonc import set_member

ENTRY_NAME = "glm-mcp"
CLIENTS = ("claude-desktop", "cursor", "vscode", "zed", "claude-code")


@dataclass(frozen=True)
class Plan:
    """What `install` would do: the file, and its new text."""

    path: Path
    text: str
    existed: bool
    secret: bool = False
    """The new text holds a token or key: the file must not be readable by other users."""

    @property
    def unchanged(self) -> bool:
        """The file already says exactly this: nothing to write, no backup to make."""
        try:
            return self.existed and self.path.read_text(encoding="utf-8") == self.text
        except (OSError, UnicodeDecodeError):
            return False


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


def user_config_path(home: Path, environ: Mapping[str, str], platform: str = sys.platform) -> Path:
    """glm-mcp's own config file in the platform's config folder, written by `install` when none is given."""
    if platform == "darwin":
        folder = home / "Library" / "Application Support" / "glm-mcp"
    elif platform.startswith("win"):
        folder = Path(environ.get("APPDATA", home / "AppData" / "Roaming")) / "glm-mcp"
    else:
        folder = Path(environ.get("XDG_CONFIG_HOME", home / ".config")) / "glm-mcp"
    return folder / "glm-mcp.json"


def user_config_text(files_root: Path, notes_store: Path) -> str:
    """A config with the bundled servers, run by this installation, and an explicit folder for `files`."""
    python = sys.executable
    data = {
        "mcpServers": {
            "clock": {"command": python, "args": ["-m", "servers.clock"]},
            "files": {"command": python, "args": ["-m", "servers.files", "--root", str(files_root)]},
            "notes": {"command": python, "args": ["-m", "servers.notes", "--store", str(notes_store)]},
        }
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def launch_command(config: Path) -> tuple[str, list[str]]:
    """How the editor should start this very installation of glm-mcp, whatever is first on the editor's PATH."""
    args = ["stdio", "--config", str(config.resolve())]
    script = Path(sys.executable).parent / ("glm-mcp.exe" if sys.platform.startswith("win") else "glm-mcp")
    if script.exists():
        return str(script), args
    return sys.executable, ["-m", "glm_mcp", *args]


def _entry(client: str, command: str, args: list[str], env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(the key holding the servers, the entry) in the client's own shape."""
    if client == "vscode":
        return "servers", {"type": "stdio", "command": command, "args": args, **({"env": env} if env else {})}
    if client == "zed":
        return "context_servers", {"source": "custom", "command": command, "args": args, "env": env}
    return "mcpServers", {"command": command, "args": args, **({"env": env} if env else {})}


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
    """The new text of `path` with an entry pointing at a running `glm-mcp serve`.

    Raises:
        ConfigError: The client cannot take an HTTP entry, or the file cannot be edited.
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--http: {url!r} is not an http:// or https:// URL")
    key, entry = _http_entry(client, url, token)
    return _merge(path, key, entry, secret=token is not None)


def plan(client: str, path: Path, command: str, args: list[str], env: dict[str, str] | None = None) -> Plan:
    """The new text of `path` with the glm-mcp entry in it (with `env` for the variables editors do not pass).

    Raises:
        ConfigError: The file exists but is not a JSON or JSONC object, so it is left alone.
    """
    key, entry = _entry(client, command, args, dict(env or {}))
    return _merge(path, key, entry, secret=bool(env))


def claude_settings_path(home: Path, environ: Mapping[str, str]) -> Path:
    """Claude Code's user settings, whose `env` it applies to itself (`$CLAUDE_CONFIG_DIR/settings.json`)."""
    return Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude") / "settings.json"


def plan_model_env(path: Path, variables: Mapping[str, str]) -> Plan:
    """The new text of Claude Code's settings with `variables` in its `env` (the gateway as its model endpoint);
    the file holds a token, so it is made private.

    Raises:
        ConfigError: The file exists but is not a JSON or JSONC object, so it is left alone.
    """
    existed = path.exists()
    text = path.read_text(encoding="utf-8") if existed else ""
    text = text if text.strip() else "{}\n"
    try:
        for name, value in variables.items():
            text = set_member(text, ("env", name), value)
    except ValueError as exc:
        snippet = json.dumps({"env": dict(variables)}, indent=2)
        raise ConfigError(
            f"{path} cannot be edited safely ({exc}); it was left as it is. Add this to it by hand:\n{snippet}"
        ) from None
    return Plan(path, text, existed, secret=True)


def _merge(path: Path, key: str, entry: dict[str, Any], *, secret: bool = False) -> Plan:
    existed = path.exists()
    original = path.read_text(encoding="utf-8") if existed else ""
    if not original.strip():
        original = "{}\n"
    try:
        text = set_member(original, (key, ENTRY_NAME), entry)
    except ValueError as exc:
        snippet = json.dumps({key: {ENTRY_NAME: entry}}, indent=2)
        raise ConfigError(
            f"{path} cannot be edited safely ({exc}); it was left as it is. Add this to it by hand:\n{snippet}"
        ) from None
    return Plan(path, text, existed, secret)


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
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(change.text)
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
