"""The bundled servers, connected in memory like any upstream."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import get_args

import anyio
import mcp.types as T
import pytest
from mcp import Client

import servers
from glm_mcp.config import parse_config
from glm_mcp.config.models import BundledName
from glm_mcp.errors import ConfigError
from glm_mcp.gateway.core import Gateway
from servers import clock, files, notes


def _text(result: T.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, T.TextContent)
    return block.text


async def test_clock_gives_the_time_in_a_zone_and_converts_between_zones() -> None:
    async with Client(clock.mcp, mode="legacy") as client:
        now = await client.call_tool("now", {"timezone": "Asia/Kolkata"})
        assert now.structured_content is not None and now.structured_content["utc_offset"] == "+0530"
        converted = await client.call_tool(
            "convert", {"time": "2026-01-15 09:00", "from_timezone": "America/New_York", "to_timezone": "Europe/Paris"}
        )
        assert converted.structured_content == {
            "source": "2026-01-15T09:00-05:00",
            "target": "2026-01-15T15:00+01:00",
            "difference_hours": "+6",
        }
        unknown = await client.call_tool("now", {"timezone": "Mars/Olympus"})
        assert unknown.is_error and "unknown time zone 'Mars/Olympus'" in _text(unknown)


@pytest.mark.slow  # waits on the clock
async def test_clock_wait_reports_progress_every_second() -> None:
    heard: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        heard.append((progress, total, message))

    async with Client(clock.mcp, mode="legacy") as client:
        waited = await client.call_tool("wait", {"seconds": 2.5}, progress_callback=on_progress)
        refused = await client.call_tool("wait", {"seconds": 601})
    assert _text(waited) == "waited 2.5 s"
    assert heard == [(1.0, 2.5, "1 of 2.5 s"), (2.0, 2.5, "2 of 2.5 s"), (2.5, 2.5, "2.5 of 2.5 s")]
    assert refused.is_error and "between 0 and 600" in _text(refused)


@pytest.fixture
def served_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "guide.md").write_text("# Guide\nInstall with pip.\nThen run it.\n")
    (root / "big.txt").write_text("x" * 2_000)
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    files.set_root(root)
    return root


async def test_files_reads_lists_finds_and_searches_inside_the_root(served_root: Path) -> None:
    async with Client(files.mcp, mode="legacy") as client:
        assert _text(await client.call_tool("read_file", {"path": "docs/guide.md"})).startswith("# Guide")
        listing = await client.call_tool("list_directory", {"path": "."})
        assert listing.structured_content is not None
        assert [entry["name"] for entry in listing.structured_content["result"]] == ["big.txt", "docs", "escape.txt"]
        found = await client.call_tool("find_files", {"pattern": "*.md"})
        assert found.structured_content == {"result": ["docs/guide.md"]}
        hits = await client.call_tool("search_text", {"query": "install"})
        assert hits.structured_content == {"result": ["docs/guide.md:2: Install with pip."]}
        sliced = _text(await client.call_tool("read_file", {"path": "big.txt", "max_bytes": 500}))
        assert sliced.endswith("[... 1500 more bytes; continue with offset=500]")


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "escape.txt", "docs/../../secret.txt"])
async def test_files_refuses_paths_that_escape_the_root(served_root: Path, path: str) -> None:
    async with Client(files.mcp, mode="legacy") as client:
        result = await client.call_tool("read_file", {"path": path})
        assert result.is_error
        assert "outside the served folder" in _text(result)
        assert "top secret" not in _text(result)


async def test_files_refuses_oversized_reads(served_root: Path) -> None:
    async with Client(files.mcp, mode="legacy") as client:
        result = await client.call_tool("read_file", {"path": "big.txt", "max_bytes": 5_000_000})
        assert result.is_error and "max_bytes must be between 1 and 1000000" in _text(result)


async def test_notes_persist_in_their_file_and_are_served_as_resources(tmp_path: Path) -> None:
    store = tmp_path / "notes.json"
    notes.set_store(store)
    async with Client(notes.mcp, mode="legacy") as client:
        added = await client.call_tool("add_note", {"text": "Buy tea", "tags": ["home"]})
        assert added.structured_content is not None and added.structured_content["id"] == 1
        await client.call_tool("add_note", {"text": "Ship release", "tags": ["work"]})
        resource = await client.read_resource("notes://2")
        assert resource.contents[0].model_dump()["text"] == "Ship release"
    assert [note["text"] for note in json.loads(store.read_text())] == ["Buy tea", "Ship release"]
    async with Client(notes.mcp, mode="legacy") as client:
        found = await client.call_tool("search_notes", {"query": "HOME"})
        assert found.structured_content is not None
        assert [note["text"] for note in found.structured_content["result"]] == ["Buy tea"]
        deleted = await client.call_tool("delete_note", {"note_id": 1})
        assert _text(deleted) == "deleted note 1"
        missing = await client.call_tool("delete_note", {"note_id": 1})
        assert missing.is_error
        prompt = await client.get_prompt("review_notes", {"topic": "work"})
        assert "[2] Ship release" in prompt.messages[0].content.model_dump()["text"]


_SWAPPER = """
import os, sys, time
folder, hidden, outside = sys.argv[1:]
while True:  # the folder, then a symlink to outside the root in its place, each for a moment
    os.rename(folder, hidden)
    os.symlink(outside, folder)
    time.sleep(0.0002)
    os.unlink(folder)
    os.rename(hidden, folder)
    time.sleep(0.0002)
"""


@pytest.mark.slow  # 1,500 reads against a racing process
@pytest.mark.parametrize("opener", ["openat2", "walk"])
async def test_a_folder_swapped_for_a_symlink_during_reads_never_leaks_a_file_outside_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opener: str
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d" / "f.txt").write_text("inside\n")
    (outside / "f.txt").write_text("SECRET outside\n")
    files.set_root(root)
    if opener == "walk":
        monkeypatch.setattr(files, "use_openat2", False)
    elif not files.use_openat2:
        pytest.skip("this kernel has no openat2")
    swapper = await anyio.open_process(
        [sys.executable, "-c", _SWAPPER, str(root / "d"), str(root / ".d-hidden"), str(outside)]
    )
    seen: list[str] = []
    try:
        async with Client(files.mcp, mode="legacy") as client:
            for index in range(1_500):
                tool, arguments = (
                    ("read_file", {"path": "d/f.txt"}) if index % 2 else ("search_text", {"query": "e", "path": "."})
                )
                result = await client.call_tool(tool, arguments)
                seen.append(" ".join(block.text for block in result.content if isinstance(block, T.TextContent)))
    finally:
        swapper.kill()
        await swapper.wait()
    assert not [text for text in seen if "SECRET" in text]
    assert any(text == "inside\n" for text in seen), sorted(set(seen))[:8]  # the race did not stop every read


async def test_a_bundled_server_given_wrong_args_fails_alone_saying_what_it_takes(tmp_path: Path) -> None:
    config = parse_config(
        {"mcpServers": {"files": {"bundled": "files", "args": ["--rot", "."]}, "clock": {"bundled": "clock"}}}, {}
    )
    async with Gateway(config).running() as gateway:
        status = gateway.status()
    assert status["servers"]["clock"]["state"] == "ready"
    failed = status["servers"]["files"]
    assert failed["state"] == "failed"
    assert "unrecognized arguments: --rot ." in failed.get("error", "") and "[--root ROOT]" in failed.get("error", "")


def test_the_config_names_exactly_the_bundled_servers() -> None:
    assert get_args(BundledName) == servers.BUNDLED


def test_a_bundled_server_named_twice_or_unknown_is_a_config_error_that_says_what_to_do() -> None:
    twice = {"a": {"bundled": "files", "args": ["--root", "a"]}, "b": {"bundled": "files", "args": ["--root", "b"]}}
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": twice}, {})
    assert "mcpServers.b: the bundled files server runs once inside the gateway" in str(caught.value)
    assert '"args": ["-m", "servers.files"' in str(caught.value)
    with pytest.raises(ConfigError) as unknown:
        parse_config({"mcpServers": {"x": {"bundled": "weather"}}}, {})
    assert "mcpServers.x.bundled" in str(unknown.value) and "'clock', 'files' or 'notes'" in str(unknown.value)
    with pytest.raises(ConfigError) as neither:
        parse_config({"mcpServers": {"x": {"args": ["--root", "."]}}}, {})
    assert '"bundled" (one of glm-mcp\'s own servers: "clock", "files", "notes")' in str(neither.value)
