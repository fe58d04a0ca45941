"""Finding the tools a conversation needs among many: lexical ranking with SQLite's FTS5 (BM25). No I/O.

Contract:
- `ToolIndex` is built once per catalog snapshot from each tool's name (split at `_`, `-`, `.` and camelCase),
  title, description, and parameter names and descriptions; English words are stemmed (Porter);
- `search(query, limit, only)` returns exposed names, best first, ranked by BM25 with the name and title
  weighing most; `only` keeps the ranking to some names (a narrowed request, one server);
- `rank_for(messages, limit, only)` ranks for a conversation: the latest user message weighs most, earlier ones
  fill what it leaves.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from glm_mcp._json import as_list, as_object

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[A-Za-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by can could do does for from how i in is it me my of on or please the this to "
    "what when where which who will with would you your".split()
)
_SYNONYMS = {
    "folder": ("directory",),
    "folders": ("directory",),
    "dir": ("directory",),
    "repo": ("repository",),
    "repos": ("repository",),
    "bug": ("issue",),
    "bugs": ("issue",),
    "ticket": ("issue",),
    "pr": ("pull", "request"),
    "prs": ("pull", "request"),
    "remember": ("memory", "entity", "observation"),
    "recall": ("memory", "search"),
    "forget": ("delete", "memory"),
    "picture": ("image",),
    "photo": ("image",),
    "website": ("page", "url"),
    "site": ("page", "url"),
    "webpage": ("page", "url"),
    "email": ("mail", "message"),
    "sum": ("add",),
    "plus": ("sum", "add"),
    "readme": ("file", "contents"),
    "reviews": ("details",),
}
"""Everyday words for what tool definitions name otherwise; each adds its counterparts to the query."""

_WEIGHTS = (8.0, 4.0, 2.0, 1.0, 0.0)
"""BM25 weights of the columns: name, title, description, parameters, and the (unsearched) key."""


@dataclass(frozen=True)
class ToolText:
    """What is searched of one tool."""

    name: str
    title: str
    description: str
    parameters: str


def tool_text(name: str, original: str, title: str | None, description: str | None, schema: Any) -> ToolText:
    """The searchable text of a tool from its definition."""
    words = " ".join(_CAMEL.sub(" ", part) for part in re.split(r"[_\-.\s]+", f"{name} {original}") if part)
    parameters: list[str] = []
    properties = as_object((as_object(schema) or {}).get("properties")) or {}
    for key, spec in properties.items():
        parameters.append(_CAMEL.sub(" ", str(key)).replace("_", " "))
        described = as_object(spec)
        if described is not None and isinstance(described.get("description"), str):
            parameters.append(str(described["description"])[:300])
        if described is not None and (options := as_list(described.get("enum"))) is not None:
            parameters.append(" ".join(str(option) for option in options[:20]).replace("_", " "))
    return ToolText(words, title or "", description or "", " ".join(parameters))


def _match_query(text: str) -> str | None:
    """An FTS5 query matching any meaningful word of `text` (each quoted, so no word is read as syntax)."""
    words = [word.lower() for word in _WORD.findall(_CAMEL.sub(" ", text))]
    words += [extra for word in words for extra in _SYNONYMS.get(word, ())]
    kept = list(dict.fromkeys(word for word in words if word not in _STOP and len(word) > 1))[:64]
    return " OR ".join(f'"{word}"' for word in kept) or None


class ToolIndex:
    """An in-memory FTS5 index of one catalog snapshot's tools."""

    def __init__(self, tools: Iterable[tuple[str, ToolText]]) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE tools USING fts5(name, title, description, parameters, key UNINDEXED, "
            "tokenize='porter unicode61')"
        )
        rows = [(text.name, text.title, text.description, text.parameters, key) for key, text in tools]
        self._db.executemany("INSERT INTO tools VALUES (?, ?, ?, ?, ?)", rows)
        self.size = len(rows)

    def search(self, query: str, limit: int, only: Collection[str] | None = None) -> list[str]:
        """The best `limit` exposed names for `query`, best first."""
        match = _match_query(query)
        if match is None or limit <= 0:
            return []
        fetch = limit if only is None else self.size  # a narrowed ranking filters after ranking
        weights = ", ".join(str(weight) for weight in _WEIGHTS)
        rows = self._db.execute(
            f"SELECT key FROM tools WHERE tools MATCH ? ORDER BY bm25(tools, {weights}) LIMIT ?", (match, fetch)
        ).fetchall()
        names = [str(row[0]) for row in rows]
        if only is not None:
            names = [name for name in names if name in only]
        return names[:limit]

    def rank_for(self, user_messages: Sequence[str], limit: int, only: Collection[str] | None = None) -> list[str]:
        """Tools for a conversation: the latest user message first, then earlier ones, newest first."""
        chosen: list[str] = []
        for text in reversed(user_messages):
            if len(chosen) >= limit:
                break
            for name in self.search(text, limit, only):
                if name not in chosen:
                    chosen.append(name)
                    if len(chosen) >= limit:
                        break
        return chosen
