"""Shared fixtures: the anyio backend, third-party servers installed for interoperability tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def everything_server() -> Path:
    """The entry point of `@modelcontextprotocol/server-everything`, installed from npm on first use."""
    entry = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    if not entry.exists():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed to install the third-party MCP server used in interop tests"
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True, timeout=300)
    assert entry.exists()
    return entry
