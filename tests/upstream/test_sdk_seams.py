"""Fast checks that fail loudly the day an `mcp` upgrade moves a seam the gateway relies on.

The stdio reader: the gateway hands the SDK whole stdout lines and caps their length by replacing the text
stream class `stdio_client` builds (`upstream/transport.py`). If the SDK stops building it by that name, long
lines would be joined quadratically again and the cap would silently go: this test says so first.
"""

from __future__ import annotations

import inspect

import mcp.client.stdio

from glm_mcp.upstream import transport


def test_the_sdk_still_reads_stdio_through_the_stream_class_the_gateway_replaces() -> None:
    assert mcp.client.stdio.TextReceiveStream is transport._WholeLines  # pyright: ignore[reportPrivateUsage]  # the seam under test
    assert "TextReceiveStream(process.stdout" in inspect.getsource(mcp.client.stdio.stdio_client)
