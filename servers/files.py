"""A read-only file server confined to one root folder: read, list, find and search text files.

Every path is resolved (symlinks included) and refused if it lands outside the root. The resolved path is then
opened beneath the root without following any link, so a folder swapped for a symlink between the check and the
open is refused, never read through: with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has
it (Linux 5.6+), else one `openat(O_NOFOLLOW)` per component. Only regular files are ever read, checked on the
opened file itself: FIFOs, devices and sockets are skipped (opened non-blocking, so one cannot hold the server),
and a dangling symlink or a symlink loop skips that entry, not its folder. Regular expressions run on RE2, whose
time is linear in the text, so no pattern can pin the server. A hard link inside the root to a file outside it
cannot be told from an ordinary file and is served: do not serve a folder where others can create hard links.
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import importlib
import os
import platform
import re
import stat
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from servers import Arguments, serve_until_closed

MAX_READ_BYTES = 1_000_000
MAX_RESULTS = 500
_SKIPPED_DIRS = {".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".ruff_cache"}

_re2: Any = importlib.import_module("re2")  # google-re2 ships no type information
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

mcp = MCPServer("files", instructions="Read-only access to the files under one root folder.")
_root = Path.cwd().resolve()


def set_root(root: str | os.PathLike[str]) -> None:
    """Confine the server to `root`."""
    global _root
    _root = Path(root).resolve()


def _inside(path: str) -> Path:
    candidate = (_root / path.lstrip("/")) if not Path(path).is_absolute() else Path(path)
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError):
        raise ToolError(f"{path!r} cannot be resolved (a symlink loop?)") from None
    if resolved != _root and _root not in resolved.parents:
        raise ToolError(f"{path!r} is outside the served folder; use a path relative to the root")
    if not resolved.exists():
        raise ToolError(f"{path!r} does not exist")
    return resolved


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = 437  # the same number on every architecture with the generic syscall table (x86_64, aarch64)
_RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x02, 0x04, 0x08
_libc: Any = (
    ctypes.CDLL(None, use_errno=True)
    if sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64")
    else None
)
use_openat2 = _libc is not None
"""Whether `openat2` is tried (cleared for good when the kernel lacks it; tests clear it to try the walk)."""

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK


def _openat2(dir_fd: int, relative: str, flags: int) -> int | None:
    """`openat2` beneath `dir_fd` with no symlink followed; None when the kernel does not have it."""
    global use_openat2
    how = _OpenHow(flags, 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
    syscall = _libc.syscall
    syscall.restype = ctypes.c_long
    fd = syscall(_SYS_OPENAT2, ctypes.c_int(dir_fd), relative.encode(), ctypes.byref(how), ctypes.sizeof(how))
    if fd >= 0:
        return int(fd)
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM):  # no openat2 here (or a sandbox forbids it): walk instead
        use_openat2 = False
        return None
    raise OSError(code, os.strerror(code), relative)


def _open_beneath(target: Path, flags: int = _READ_FLAGS) -> int:
    """A descriptor of the resolved `target`, opened beneath the root without following any symlink.

    Raises:
        ToolError: A component changed into a symlink (or vanished) since the path was resolved.
    """
    parts = target.relative_to(_root).parts
    root_fd = os.open(_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if use_openat2:
            opened = _openat2(root_fd, "/".join(parts) or ".", flags)
            if opened is not None:
                return opened
        fd = root_fd
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = next_fd
        try:
            return os.open(parts[-1] if parts else ".", flags | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            if fd != root_fd:
                os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR, errno.ENOENT):
            shown = target.relative_to(_root).as_posix()
            raise ToolError(f"{shown!r} changed while it was opened (a symlink appeared?); not read") from None
        raise
    finally:
        os.close(root_fd)


def _read_beneath(target: Path, offset: int, limit: int) -> tuple[bytes, int]:
    """Up to `limit` bytes of the regular file `target` from `offset`, and its size (see `_open_beneath`).

    Raises:
        ToolError: The path changed while opened, or is not a regular file.
    """
    fd = _open_beneath(target)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(
                f"{_shown(target)!r} is not a regular file (folders, FIFOs, devices and sockets are not read)"
            )
        return os.pread(fd, limit, offset), info.st_size
    finally:
        os.close(fd)


def _shown(path: Path) -> str:
    return path.relative_to(_root).as_posix() or "."


@mcp.tool(annotations=READ_ONLY)
def read_file(path: str, offset: int = 0, max_bytes: int = 100_000) -> str:
    """Read a text file (UTF-8), starting at byte `offset`, at most `max_bytes` bytes (up to 1,000,000)."""
    target = _inside(path)
    if not _is_regular(target):
        raise ToolError(f"{path!r} is not a regular file (folders, FIFOs, devices and sockets are not read)")
    if not 1 <= max_bytes <= MAX_READ_BYTES:
        raise ToolError(f"max_bytes must be between 1 and {MAX_READ_BYTES}; read a large file in slices with offset")
    data, size = _read_beneath(target, max(0, offset), max_bytes)
    if b"\0" in data[:8192]:
        raise ToolError(f"{path!r} looks like a binary file ({size} bytes)")
    text = data.decode("utf-8", "replace")
    end = max(0, offset) + len(data)
    if end < size:
        text += f"\n[... {size - end} more bytes; continue with offset={end}]"
    return text


@mcp.tool(annotations=READ_ONLY)
def list_directory(path: str = ".") -> list[dict[str, str | int]]:
    """List a folder: name, kind ('file' or 'dir') and size in bytes of each entry."""
    target = _inside(path)
    if not target.is_dir():
        raise ToolError(f"{path!r} is not a folder")
    entries: list[dict[str, str | int]] = []
    folder = _open_beneath(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with os.scandir(folder) as scan:
            listed = sorted(scan, key=lambda item: item.name)
        for entry in listed:
            try:
                info = entry.stat()  # relative to the opened folder, not to a path that may have changed
            except (OSError, RuntimeError):
                continue  # a dangling symlink or a loop: skip the entry, not the folder
            if stat.S_ISDIR(info.st_mode):
                entries.append({"name": entry.name, "kind": "dir", "size": 0})
            elif stat.S_ISREG(info.st_mode):
                entries.append({"name": entry.name, "kind": "file", "size": info.st_size})
            if len(entries) >= MAX_RESULTS:
                break
    finally:
        os.close(folder)
    return entries


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, RuntimeError):
        return False


def _walk(start: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(folder, name)
            try:
                inside = path.resolve().is_relative_to(_root)
            except (OSError, RuntimeError):
                continue
            if inside and _is_regular(path):
                found.append(path)
    return found


@mcp.tool(annotations=READ_ONLY)
def find_files(pattern: str, path: str = ".") -> list[str]:
    """Find files whose name matches a glob such as '*.py' or 'README*', below `path`."""
    matches = [_shown(p) for p in _walk(_inside(path)) if fnmatch.fnmatch(p.name, pattern)]
    return matches[:MAX_RESULTS]


@mcp.tool(annotations=READ_ONLY)
def search_text(query: str, path: str = ".", glob: str = "*", regex: bool = False) -> list[str]:
    """Search text files below `path` for `query` (plain text, or a regex if `regex`); 'file:line: text' hits."""
    options = _re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    try:
        matcher = _re2.compile(query if regex else re.escape(query), options)
    except _re2.error as exc:
        raise ToolError(f"invalid regex (RE2 syntax: no backreferences or lookarounds): {exc}") from None
    hits: list[str] = []
    for file in _walk(_inside(path)):
        if not fnmatch.fnmatch(file.name, glob):
            continue
        try:
            data, size = _read_beneath(file.resolve(), 0, MAX_READ_BYTES + 1)
            lines = data.decode("utf-8").splitlines()
        except (UnicodeDecodeError, OSError, RuntimeError, ToolError, ValueError):
            continue  # changed since it was found, moved outside the root, or not text
        if size > MAX_READ_BYTES:
            continue
        for number, line in enumerate(lines, 1):
            if matcher.search(line):
                hits.append(f"{_shown(file)}:{number}: {line.strip()[:200]}")
                if len(hits) >= MAX_RESULTS:
                    return hits
    return hits


@mcp.tool(annotations=READ_ONLY)
def file_info(path: str) -> dict[str, str | int]:
    """Size, kind and modification time (UTC, ISO 8601) of a file or folder."""
    target = _inside(path)
    info = target.stat()
    return {
        "path": _shown(target),
        "kind": "dir" if target.is_dir() else "file",
        "size": info.st_size,
        "modified": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="seconds"),
    }


def configure(argv: Sequence[str], *, inside: bool = False) -> MCPServer:
    """The server, confined to the `--root` its command line names.

    Raises:
        ArgumentsError: `argv` is not this server's (only when `inside` the gateway; else it exits).
    """
    parser = Arguments(prog="python -m servers.files", description=__doc__, inside=inside)
    parser.add_argument("--root", default=".", help="the folder to serve (default: the working directory)")
    args = parser.parse_args(argv)
    set_root(args.root)
    return mcp


if __name__ == "__main__":
    serve_until_closed(configure(sys.argv[1:]))
