"""A read-only file server confined to one root folder: read, list, find and search text files.

Every path is resolved (symlinks included) and refused if it lands outside the root.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

MAX_READ_BYTES = 1_000_000
MAX_RESULTS = 500
_SKIPPED_DIRS = {".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".ruff_cache"}

mcp = MCPServer("files", instructions="Read-only access to the files under one root folder.")
_root = Path.cwd().resolve()


def set_root(root: str | os.PathLike[str]) -> None:
    """Confine the server to `root`."""
    global _root
    _root = Path(root).resolve()


def _inside(path: str) -> Path:
    candidate = (_root / path.lstrip("/")) if not Path(path).is_absolute() else Path(path)
    resolved = candidate.resolve()
    if resolved != _root and _root not in resolved.parents:
        raise ToolError(f"{path!r} is outside the served folder; use a path relative to the root")
    if not resolved.exists():
        raise ToolError(f"{path!r} does not exist")
    return resolved


def _shown(path: Path) -> str:
    return path.relative_to(_root).as_posix() or "."


@mcp.tool()
def read_file(path: str, offset: int = 0, max_bytes: int = 100_000) -> str:
    """Read a text file (UTF-8), starting at byte `offset`, at most `max_bytes` bytes (up to 1,000,000)."""
    target = _inside(path)
    if not target.is_file():
        raise ToolError(f"{path!r} is not a file")
    if not 1 <= max_bytes <= MAX_READ_BYTES:
        raise ToolError(f"max_bytes must be between 1 and {MAX_READ_BYTES}; read a large file in slices with offset")
    size = target.stat().st_size
    with target.open("rb") as handle:
        handle.seek(max(0, offset))
        data = handle.read(max_bytes)
    if b"\0" in data[:8192]:
        raise ToolError(f"{path!r} looks like a binary file ({size} bytes)")
    text = data.decode("utf-8", "replace")
    end = max(0, offset) + len(data)
    if end < size:
        text += f"\n[... {size - end} more bytes; continue with offset={end}]"
    return text


@mcp.tool()
def list_directory(path: str = ".") -> list[dict[str, str | int]]:
    """List a folder: name, kind ('file' or 'dir') and size in bytes of each entry."""
    target = _inside(path)
    if not target.is_dir():
        raise ToolError(f"{path!r} is not a folder")
    entries: list[dict[str, str | int]] = []
    for entry in sorted(target.iterdir(), key=lambda item: item.name)[:MAX_RESULTS]:
        kind = "dir" if entry.is_dir() else "file"
        entries.append({"name": entry.name, "kind": kind, "size": entry.stat().st_size if kind == "file" else 0})
    return entries


def _walk(start: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(folder, name)
            if path.resolve().is_relative_to(_root):
                found.append(path)
    return found


@mcp.tool()
def find_files(pattern: str, path: str = ".") -> list[str]:
    """Find files whose name matches a glob such as '*.py' or 'README*', below `path`."""
    matches = [_shown(p) for p in _walk(_inside(path)) if fnmatch.fnmatch(p.name, pattern)]
    return matches[:MAX_RESULTS]


@mcp.tool()
def search_text(query: str, path: str = ".", glob: str = "*", regex: bool = False) -> list[str]:
    """Search text files below `path` for `query` (plain text, or a regex if `regex`); 'file:line: text' hits."""
    try:
        matcher = re.compile(query if regex else re.escape(query), re.IGNORECASE)
    except re.error as exc:
        raise ToolError(f"invalid regex: {exc}") from None
    hits: list[str] = []
    for file in _walk(_inside(path)):
        if not fnmatch.fnmatch(file.name, glob) or file.stat().st_size > MAX_READ_BYTES:
            continue
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(lines, 1):
            if matcher.search(line):
                hits.append(f"{_shown(file)}:{number}: {line.strip()[:200]}")
                if len(hits) >= MAX_RESULTS:
                    return hits
    return hits


@mcp.tool()
def file_info(path: str) -> dict[str, str | int]:
    """Size, kind and modification time (UTC, ISO 8601) of a file or folder."""
    target = _inside(path)
    stat = target.stat()
    return {
        "path": _shown(target),
        "kind": "dir" if target.is_dir() else "file",
        "size": stat.st_size,
        "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m servers.files", description=__doc__)
    parser.add_argument("--root", default=".", help="the folder to serve (default: the working directory)")
    args = parser.parse_args()
    set_root(args.root)
    mcp.run()


if __name__ == "__main__":
    main()
