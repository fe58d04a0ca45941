"""The SDK test server, started only once its gate opens: it says "at the gate" on stderr, then waits until the test
opens the named pipe given as its argument and closes it. A start as slow as the test wants, with no clock."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    print("at the gate", file=sys.stderr, flush=True)
    with open(sys.argv[1]) as gate:  # blocks until a writer opens the pipe; its end is the go
        gate.read()
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from sdk_server import mcp

    mcp.run()
