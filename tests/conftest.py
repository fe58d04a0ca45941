"""Shared fixtures: the anyio backend, third-party servers installed for interoperability tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

NODE_DIR = Path(__file__).parent / "node"
NODE22_DIR = Path(__file__).parent / "node22"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


VENVS_DIR = Path(__file__).parent / ".venvs"


def _npm_install(folder: Path, *needed: Path, why: str, timeout: float = 300) -> None:
    """`npm install` in `folder` unless all of `needed` is there; test workers running in parallel install it once."""
    with FileLock(folder / ".install.lock"):
        if not all(path.exists() for path in needed):
            npm = shutil.which("npm")
            assert npm is not None, f"npm is needed to install {why}"
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=folder, check=True, timeout=timeout
            )
    assert all(path.exists() for path in needed)


def _node_entry(package: str) -> Path:
    """The entry point of an npm MCP server of `node/package.json`, installed from npm on first use."""
    entry = NODE_DIR / "node_modules" / "@modelcontextprotocol" / package / "dist" / "index.js"
    _npm_install(NODE_DIR, entry, why="the third-party MCP servers used in interop tests")
    return entry


@pytest.fixture(scope="session")
def claude_code() -> Path:
    """Claude Code's command (`@anthropic-ai/claude-code` of `node/package.json`), installed from npm on first use."""
    command = NODE_DIR / "node_modules" / ".bin" / "claude"
    _npm_install(NODE_DIR, command, why="Claude Code for the Anthropic face's tests")
    return command


def _python_tool(name: str, *requirements: str) -> Path:
    """The `bin/` of a virtual environment of its own holding `requirements` from PyPI (created on first use)."""
    venv = VENVS_DIR / name
    script = venv / "bin" / name
    VENVS_DIR.mkdir(exist_ok=True)
    with FileLock(VENVS_DIR / f"{name}.lock"):  # test workers running in parallel create it once
        if not script.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run([*pip, *requirements], check=True, timeout=600)
    assert script.exists()
    return venv / "bin"


@pytest.fixture(scope="session")
def everything_server() -> Path:
    return _node_entry("server-everything")


@pytest.fixture(scope="session")
def filesystem_server() -> Path:
    return _node_entry("server-filesystem")


@pytest.fixture(scope="session")
def memory_server() -> Path:
    return _node_entry("server-memory")


@pytest.fixture(scope="session")
def sqlite_server() -> Path:
    """`mcp-server-sqlite` from PyPI; it runs on `mcp` 1.x, so it gets a virtual environment of its own."""
    return _python_tool("mcp-server-sqlite", "mcp-server-sqlite==2025.4.25", "mcp<2") / "mcp-server-sqlite"


@pytest.fixture(scope="session")
def git_server() -> Path:
    return _python_tool("mcp-server-git", "mcp-server-git==2026.10.19") / "mcp-server-git"


@pytest.fixture(scope="session")
def node22_bin() -> Path:
    """`node22/node_modules/.bin`: Node 22, the MCP Inspector and the MCP conformance suite (pinned), from npm."""
    bin_dir = NODE22_DIR / "node_modules" / ".bin"
    what = "Node 22 and the MCP tools the conformance tests drive"
    _npm_install(NODE22_DIR, bin_dir / "conformance", bin_dir / "mcp-inspector", why=what, timeout=600)
    assert (bin_dir / "node").exists()
    return bin_dir
