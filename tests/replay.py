"""Reading the recorded GLM exchanges in `tests/recordings/` (copied from shared data; see SOURCE.md there)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

RECORDINGS = Path(__file__).parent / "recordings"
GENERATIONS = {"glm-4.5-2025-09": "2025-09", "glm-4.5-2025-11": "2025-11", "glm-4.7-flash-2026": "2026"}


@dataclass
class Exchange:
    request: dict[str, Any]
    body: str
    status: int


def exchanges(path: Path) -> list[Exchange]:
    data = yaml.safe_load(path.read_text())
    return [
        Exchange(json.loads(item["request"]["body"]), item["response"]["body"], int(item["response"].get("code", 200)))
        for item in data["interactions"]
    ]


def sse_chunks(body: str) -> list[dict[str, Any] | str]:
    """The JSON of every `data:` line, and "[DONE]" where it stands."""
    chunks: list[dict[str, Any] | str] = []
    for line in body.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            chunks.append(payload if payload == "[DONE]" else json.loads(payload))
    return chunks


def recordings(pattern: str) -> list[Path]:
    return sorted(RECORDINGS.glob(f"*/{pattern}"))
