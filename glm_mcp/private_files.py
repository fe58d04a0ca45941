"""Files only their owner may read: the gateway's generated token and its OAuth logins, under the state folder.

Contract:
- `state_folder` is `$XDG_STATE_HOME/glm-mcp` (by default `~/.local/state/glm-mcp`);
- `read_private` returns a file's bytes, or None when there is none; it never follows a symlink, and refuses a file
  that is not a regular file of this user with mode 0600 (or stricter), saying what to do;
- `write_private` replaces a file atomically, created 0600 in a folder created 0700, never through a symlink.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from glm_mcp.errors import ConfigError


def state_folder(environ: Mapping[str, str], home: Path) -> Path:
    """The gateway's state folder for this user."""
    state = environ.get("XDG_STATE_HOME") or str(home / ".local" / "state")
    return Path(state) / "glm-mcp"


def read_private(path: Path, what: str) -> bytes | None:
    """The file's content, None when it does not exist.

    Raises:
        ConfigError: The file is unsafe (a symlink, another owner, readable by others) or unreadable; `what` names
            it in the message.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror}); remove it to start again") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise ConfigError(
                f"{path}: {what} must be a regular file of yours with mode 0600 "
                f"(it is {stat.filemode(info.st_mode)}); remove it to start again"
            )
        return handle.read()


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, atomically, mode 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # replaces a symlink itself, never writes through it
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def create_private(path: Path, data: bytes) -> bytes:
    """Create `path` with `data` unless it exists; returns what the file holds (another process may have won)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_private(path, "the file") or data
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return data
