"""A flood of never-finished requests from another local user cannot lock out the clients that hold the token."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from anyio.streams.text import TextReceiveStream

from glm_mcp.http.connection_limits import header_deadline
from tests.helpers import ROOT, glm_mcp_serve

SDK_SERVER = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")

FLOODER = """
import selectors, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
selector = selectors.DefaultSelector()
def attack():
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /mcp HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n")  # and never the rest
    selector.register(sock, selectors.EVENT_READ)
for _ in range(count):
    attack()
print("flooding", flush=True)
while True:  # every connection the gateway closes is opened again at once
    for key, _ in selector.select():
        selector.unregister(key.fileobj)
        key.fileobj.close()
        attack()
"""


def _as_another_user() -> list[str]:
    """`setpriv` down to `nobody` when this runs as root (the attacker is another local user), else nothing."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is needed to act as another user")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.slow  # 1,100 connections against a real serve
async def test_a_flood_of_1100_unfinished_requests_from_another_user_does_not_stop_token_holders(
    tmp_path: Path,
) -> None:
    config = {"mcpServers": {"proc": {"command": sys.executable, "args": [SDK_SERVER]}}}
    async with glm_mcp_serve(config, tmp_path) as gateway:
        port = gateway.url.rsplit(":", 1)[1]
        flooder = await anyio.open_process([*_as_another_user(), sys.executable, "-c", FLOODER, port, "1100"])
        try:
            assert flooder.stdout is not None
            with anyio.fail_after(60):  # hang guard: 1,100 connections opened as another user first
                async for line in TextReceiveStream(flooder.stdout):
                    if "flooding" in line:
                        break
            with anyio.fail_after(60):  # hang guard, not a timing check: 60 s covers a busy 2-core machine
                async with gateway.mcp_client() as client:
                    for index in range(3):
                        result = await client.call_tool("proc__echo", {"text": f"still here {index}"})
                        assert not result.is_error
                async with httpx2.AsyncClient(base_url=gateway.url) as http:
                    for _ in range(3):
                        assert (await http.get("/healthz")).status_code == 200
            assert flooder.returncode is None  # the flood was still on while they were answered
        finally:
            flooder.kill()
            await flooder.wait()


def test_the_header_deadline_shortens_as_connections_near_the_cap() -> None:
    deadlines = [header_deadline(open_, 1000, 10.0) for open_ in (1, 500, 750, 900, 1000)]
    assert deadlines == pytest.approx([10.0, 10.0, 5.0, 2.0, 0.5])
