"""The built-in configuration (the bundled servers), and what it must never serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def default_config_data(data_dir: Path, files_root: Path | str = ".") -> dict[str, Any]:
    """The built-in configuration: the bundled servers of `servers/`, inside the gateway's process (three more
    interpreters importing the SDK took 1.5 s of CPU at every start)."""
    return {
        "mcpServers": {
            "clock": {"bundled": "clock"},
            "files": {"bundled": "files", "args": ["--root", str(files_root)]},
            "notes": {"bundled": "notes", "args": ["--store", str(data_dir / "notes.json")]},
        }
    }


PRIVATE_DOTFILES = (".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".netrc", ".pgpass", ".password-store")
"""Files and folders whose presence marks a folder the built-in config must not serve with the files server."""


def holds_private_files(folder: Path, home: Path) -> bool:
    """Whether serving `folder` would hand tools the user's private files: it is the home folder or one above it
    (`/`, `/home`), or it directly holds keys or credentials (`.ssh`, `.gnupg`, ...)."""
    resolved, home = folder.resolve(), home.resolve()
    if resolved == home or resolved in home.parents:
        return True
    return any((resolved / name).exists() for name in PRIVATE_DOTFILES)
