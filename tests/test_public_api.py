"""The public surface: `glm_mcp.__all__` is sorted and names exactly what the package exports."""

from __future__ import annotations

import types

import glm_mcp


def test_all_is_sorted_and_complete() -> None:
    assert glm_mcp.__all__ == sorted(glm_mcp.__all__)
    exported = {
        name
        for name, value in vars(glm_mcp).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert exported == set(glm_mcp.__all__)
