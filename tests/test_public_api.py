"""The public surface: `glm_mcp.__all__` is sorted and names exactly what the package exports."""

from __future__ import annotations

import glm_mcp


def test_all_is_sorted_and_complete() -> None:
    assert glm_mcp.__all__ == sorted(glm_mcp.__all__)
    exported = {name for name in vars(glm_mcp) if not name.startswith("_")} - {
        "app", "catalog", "cli", "config", "errors", "facade", "gateway", "naming", "upstream",
    }  # fmt: skip
    assert exported == set(glm_mcp.__all__)
