"""The public surface: `glm_mcp.__all__` is sorted and names exactly what the package exports."""

from __future__ import annotations

import subprocess
import sys
import types

import glm_mcp
from tests.helpers import ROOT


def test_all_is_sorted_and_complete() -> None:
    assert glm_mcp.__all__ == sorted(glm_mcp.__all__)
    exported = {
        name
        for name in dir(glm_mcp)
        if not name.startswith("_") and not isinstance(getattr(glm_mcp, name), types.ModuleType)
    }
    assert exported == set(glm_mcp.__all__)
    assert glm_mcp.Gateway.__name__ == "Gateway"  # imported on first use


def test_the_config_and_the_errors_come_without_the_mcp_sdk() -> None:
    """`Gateway` brings the SDK (most of a second to import); `stdio` answers its editor before that, using only the
    config; so importing the package, its config and its errors must not import the SDK."""
    script = "import sys, glm_mcp, glm_mcp.config, glm_mcp.errors, glm_mcp.cli.main; print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'mcp_types'))))"
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "[]"


def test_what_only_a_call_needs_loads_with_the_first_call_not_at_start() -> None:
    """jsonschema (a tool's arguments checked), filelock (a note changed) and dotenv (an `envFile` read) cost `serve`
    about 130 ms of its start; they load when first used, and then work."""
    script = """
import sys
import glm_mcp.cli.serve, glm_mcp.http.app, servers.notes, servers.files, servers.clock
print(sorted(m for m in ("jsonschema", "filelock", "dotenv") if m in sys.modules))
from glm_mcp.errors import ArgumentsError
from glm_mcp.tools.arguments import prepare_arguments
try:
    prepare_arguments('{"n": "x"}', {"type": "object", "properties": {"n": {"type": "integer"}}})
except ArgumentsError as exc:
    print(exc)
"""
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert printed.stdout.splitlines() == ["[]", "invalid arguments: 'n' must be of type integer, got \"x\" (string)"]
