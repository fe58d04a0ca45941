"""`glm-mcp stdio`'s first answer: the editor's `initialize` answered before the MCP SDK is even imported.

Importing the SDK takes most of a second on a small machine, and an editor waits for its `initialize` answer before
it shows anything. The answer depends on nothing the gateway has to start (its name, capabilities and instructions
are fixed, and the protocol version is the editor's own when the gateway speaks it), so it is written at once, from
this module, which imports only the standard library.

Contract:
- `claim_stdio` takes the editor's stdin and stdout at start: fd 0 then reads the null device and fd 1 writes to
  stderr (as the SDK's own stdio transport arranges, so children and stray prints never reach the wire); a thread
  copies the editor's bytes into a pipe the event loop reads later, and answers a well-formed `initialize` first
  in the stream itself, before passing it on;
- the SDK still sees that `initialize` (it needs the editor's capabilities) and its answer, identical, is not
  written a second time (`FirstAnswer.filtered`);
- anything else first (a 2026-07-28 request, a malformed `initialize`) is passed on untouched, for the SDK to answer;
- `release` points fd 0 and 1 back at the editor.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from typing import Any, cast

from glm_mcp.eras import HANDSHAKE_VERSIONS

SERVER_NAME = "glm-mcp"
SERVER_VERSION = "0.1.0"
INSTRUCTIONS = (
    "glm-mcp merges several MCP servers into one. Tool and prompt names are '<server>__<name>'; "
    "resource URIs are those of the owning server."
)
CAPABILITIES: dict[str, Any] = {
    "completions": {},
    "logging": {},
    "prompts": {"listChanged": True},
    "resources": {"listChanged": True, "subscribe": True},
    "tools": {"listChanged": True},
}
"""What the MCP face's server declares (`tests/test_stdio_startup.py` holds it to the SDK's own answer)."""


def _object(value: object) -> dict[str, object] | None:
    return cast(dict[str, object], value) if isinstance(value, dict) else None


def initialize_answer(message: object) -> dict[str, Any] | None:
    """The answer to a well-formed `initialize` request; None for anything else."""
    request = _object(message)
    if request is None or request.get("method") != "initialize" or request.get("jsonrpc") != "2.0":
        return None
    ident, params = request.get("id"), _object(request.get("params"))
    if isinstance(ident, bool) or not isinstance(ident, int | str) or params is None:
        return None
    version, info = params.get("protocolVersion"), _object(params.get("clientInfo"))
    if not (isinstance(version, str) and _object(params.get("capabilities")) is not None and info is not None):
        return None
    if not (isinstance(info.get("name"), str) and isinstance(info.get("version"), str)):
        return None
    result = {
        "capabilities": CAPABILITIES,
        "instructions": INSTRUCTIONS,
        "protocolVersion": version if version in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1],
        "serverInfo": {"name": SERVER_NAME, "version": SERVER_VERSION},
    }
    return {"jsonrpc": "2.0", "id": ident, "result": result}


class FirstAnswer:
    """The editor's stdio, claimed; see the module's contract."""

    def __init__(self, editor_in: int, editor_out: int, saved: tuple[int, int]) -> None:
        self._editor_in = editor_in
        self.stdout = editor_out
        """A private descriptor of the editor's stdout."""
        self.stdin, self._pipe_in = os.pipe()
        """The read end of the pipe the editor's bytes arrive on (non-blocking)."""
        os.set_blocking(self.stdin, False)
        self._saved = saved
        self._answered: object = None
        self._pending_drop = False

    def filtered(self, line: str) -> bool:
        """Whether the SDK's `line` is written: False for its answer to the `initialize` answered already."""
        if not self._pending_drop:
            return True
        try:
            message = _object(json.loads(line))
        except ValueError:
            return True
        if message is not None and "method" not in message and message.get("id") == self._answered:
            self._pending_drop = False
            return False
        return True

    def release(self) -> None:
        """Point fd 0 and 1 back at the editor."""
        for fd, saved in zip((0, 1), self._saved, strict=True):
            try:
                os.dup2(saved, fd)
            except OSError:
                continue

    def start(self) -> None:
        threading.Thread(target=self._pump, name="glm-mcp-stdin", daemon=True).start()

    def _pump(self) -> None:
        """The thread: the editor's bytes into the pipe, the first `initialize` answered on the way."""
        pending = b""
        first = True
        try:
            while chunk := os.read(self._editor_in, 1 << 16):
                if first:
                    pending += chunk
                    if b"\n" not in pending:
                        continue
                    first = False
                    self._answer_first(pending.split(b"\n", 1)[0])
                    chunk, pending = pending, b""
                _write_all(self._pipe_in, chunk)
            if pending:
                _write_all(self._pipe_in, pending)
        except OSError:
            pass  # the editor or the gateway went away
        finally:
            os.close(self._pipe_in)

    def _answer_first(self, line: bytes) -> None:
        try:
            answer = initialize_answer(json.loads(line))
        except ValueError:
            answer = None
        if answer is None:
            return
        self._answered, self._pending_drop = answer["id"], True
        _write_all(self.stdout, json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def claim_stdio() -> FirstAnswer | None:
    """Claim the editor's stdin and stdout and start answering; None where stdin is a regular file (the SDK then
    reads it its own way) or the descriptors cannot be claimed."""
    try:
        if stat.S_ISREG(os.fstat(0).st_mode):
            return None
        saved = (os.dup(0), os.dup(1))
    except OSError:
        return None
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    answer = FirstAnswer(saved[0], saved[1], saved)
    answer.start()
    return answer
