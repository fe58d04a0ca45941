"""The gateway's own bearer token, for a config that names none: generated once, kept 0600 in the user's state folder.

Contract:
- `token_path` is `token` in the state folder (`private_files.state_folder`);
- `load_or_create` returns the token stored there, creating it (256 random bits, URL-safe) when there is none;
  the folder is created 0700 and the file 0600, never through a symlink; a stored file another user could read
  or write is refused with what to do, never used.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from glm_mcp.private_files import create_private, read_private, state_folder, write_private

_WHAT = "the gateway token file"


def token_path(environ: Mapping[str, str], home: Path) -> Path:
    """Where the generated token is kept."""
    return state_folder(environ, home) / "token"


def load_or_create(path: Path) -> str:
    """The stored token, or a new one stored at `path`.

    Raises:
        ConfigError: The stored token is unsafe (a symlink, another owner, readable by others) or unreadable.
    """
    found = read_private(path, _WHAT)
    if found is not None and found.strip():
        return found.decode("utf-8").strip()
    token = secrets.token_urlsafe(32)
    if found is not None:  # an empty file of ours: fill it
        write_private(path, (token + "\n").encode())
        return token
    # Another gateway may create it in the meantime: then use theirs.
    return create_private(path, (token + "\n").encode()).decode("utf-8").strip() or token
