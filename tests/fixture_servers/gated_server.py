"""The SDK test server, serving only once its gate opens: it loads the SDK, says "at the gate" on stderr, then waits
until the test opens the named pipe given as its argument and closes it. A start as slow as the test wants, with no
clock; what is left after the gate (answering `initialize`, the listings) takes a moment."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sdk_server import mcp  # the SDK's import, the slow part of a start, comes before the gate

if __name__ == "__main__":
    print("at the gate", file=sys.stderr, flush=True)
    with open(sys.argv[1]) as gate:  # blocks until a writer opens the pipe; its end is the go
        gate.read()
    mcp.run()
