"""The gateway's own bearer token, for a config that names none: generated once, kept 0600 in the user's state folder.

Contract:
- `token_path` is `$XDG_STATE_HOME/glm-mcp/token` (by default `~/.local/state/glm-mcp/token`);
- `load_or_create` returns the token stored there, creating it (256 random bits, URL-safe) when there is none;
  the folder is created 0700 and the file 0600, never through a symlink; a stored file another user could read
  or write is refused with what to do, never used.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from glm_mcp.errors import ConfigError


def token_path(environ: Mapping[str, str], home: Path) -> Path:
    """Where the generated token is kept."""
    state = environ.get("XDG_STATE_HOME") or str(home / ".local" / "state")
    return Path(state) / "glm-mcp" / "token"


def _read(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the gateway token ({exc.strerror}); remove it to get a new one"
        ) from None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise ConfigError(
                f"{path}: the gateway token file must be a regular file of yours with mode 0600 "
                f"(it is {stat.filemode(info.st_mode)}); remove it to get a new one"
            )
        return handle.read().strip()


def load_or_create(path: Path) -> str:
    """The stored token, or a new one stored at `path`.

    Raises:
        ConfigError: The stored token is unsafe (a symlink, another owner, readable by others) or unreadable.
    """
    found = _read(path)
    if found:
        return found
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_TRUNC if found == "" else os.O_CREAT | os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        # Another gateway created it in the meantime: use theirs.
        return _read(path) or token
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token
