"""A persistent notes store: add, list, search and delete short notes kept in one JSON file.

Each note is also a resource (`notes://<id>`), and the `review_notes` prompt asks a model to summarise them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from servers import Arguments, serve_until_closed

LOCK_TIMEOUT_SECONDS = 10.0

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

mcp = MCPServer("notes", instructions="A small persistent notebook.")
_store = Path(os.environ.get("GLM_MCP_NOTES", "notes.json"))


def set_store(path: str | os.PathLike[str]) -> None:
    """Keep notes in the JSON file at `path` (created on first write)."""
    global _store
    _store = Path(path)


@contextmanager
def _locked() -> Generator[None]:
    """Hold the store's lock (a `.lock` file beside it): one load-modify-save at a time, across processes too."""
    from filelock import FileLock, Timeout  # loads with the first change (70 ms the gateway's start need not pay)

    _store.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(f"{_store}.lock", timeout=LOCK_TIMEOUT_SECONDS):
            yield
    except Timeout:
        raise ToolError(f"the notes file {_store} is busy (locked for {LOCK_TIMEOUT_SECONDS:g} s); try again") from None


def _load() -> list[dict[str, Any]]:
    if not _store.exists():
        return []
    try:
        data = json.loads(_store.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ToolError(f"the notes file {_store} cannot be read: {exc}") from None
    entries: list[Any] = cast(list[Any], data) if isinstance(data, list) else []
    return [cast(dict[str, Any], note) for note in entries if isinstance(note, dict)]


def _save(notes: list[dict[str, Any]]) -> None:
    _store.parent.mkdir(parents=True, exist_ok=True)
    # Write a sibling file and rename it, so a crash never leaves half a notebook behind.
    fd, temp = tempfile.mkstemp(dir=_store.parent, prefix=".notes-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(notes, handle, ensure_ascii=False, indent=1)
    os.replace(temp, _store)


@mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False))
def add_note(text: str, tags: list[str] | None = None) -> dict[str, Any]:
    """Store a note with optional tags; returns it with its id."""
    if not text.strip():
        raise ToolError("a note needs some text")
    with _locked():
        notes = _load()
        note = {
            "id": max((n["id"] for n in notes), default=0) + 1,
            "text": text,
            "tags": sorted(set(tags or [])),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        notes.append(note)
        _save(notes)
    return note


@mcp.tool(annotations=READ_ONLY)
def list_notes(tag: str | None = None) -> list[dict[str, Any]]:
    """Every note, or only those with a tag, oldest first."""
    return [n for n in _load() if tag is None or tag in n["tags"]]


@mcp.tool(annotations=READ_ONLY)
def search_notes(query: str) -> list[dict[str, Any]]:
    """Notes whose text or tags contain `query` (case-insensitive)."""
    needle = query.lower()
    return [n for n in _load() if needle in n["text"].lower() or any(needle in t.lower() for t in n["tags"])]


@mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True))
def delete_note(note_id: int) -> str:
    """Delete a note by id."""
    with _locked():
        notes = _load()
        kept = [n for n in notes if n["id"] != note_id]
        if len(kept) == len(notes):
            raise ToolError(f"there is no note {note_id}; list_notes shows the ids")
        _save(kept)
    return f"deleted note {note_id}"


@mcp.resource("notes://{note_id}", name="note", description="One note as text.")
def note_resource(note_id: str) -> str:
    for note in _load():
        if str(note["id"]) == note_id:
            return note["text"]
    raise ToolError(f"there is no note {note_id}")


@mcp.prompt()
def review_notes(topic: str = "") -> str:
    """Ask for a summary of the stored notes, optionally about one topic."""
    notes = _load()
    body = "\n".join(f"- [{n['id']}] {n['text']}" for n in notes) or "(no notes yet)"
    focus = f" about {topic}" if topic else ""
    return f"Summarise these notes{focus}, grouping related ones and listing open questions:\n{body}"


def configure(argv: Sequence[str], *, inside: bool = False) -> MCPServer:
    """The server, keeping its notes in the `--store` its command line names.

    Raises:
        ArgumentsError: `argv` is not this server's (only when `inside` the gateway; else it exits).
    """
    parser = Arguments(prog="python -m servers.notes", description=__doc__, inside=inside)
    parser.add_argument("--store", default=str(_store), help="the JSON file that keeps the notes")
    args = parser.parse_args(argv)
    set_store(args.store)
    return mcp


if __name__ == "__main__":
    serve_until_closed(configure(sys.argv[1:]))
