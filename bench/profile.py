"""Where the gateway's CPU goes on the MCP hop: `glm-mcp serve` in front of the floor echo, `wrk` at 16 connections,
sampled with py-spy (`pip install py-spy`), the samples sorted into the layers a `tools/call` passes.

    python -m bench.profile [--seconds 8]

Prints one line per layer with its share of the gateway's samples; the README's breakdown comes from here.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import run as harness

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("HTTP server: uvicorn parsing the request, writing the answer", ("RequestResponseCycle.send", "data_received")),
    ("upstream: the call written and its answer awaited (`upstream/lane.py`)", ("Wire.request",)),
    ("upstream: the SDK's stdio transport (JSON out, each line read and validated)", ("stdio_client",)),
    ("upstream: the SDK's dispatcher reading the session", ("JSONRPCDispatcher.run",)),
    ("gateway: routing, the call's timeout, the result validated, records and metrics", ("Gateway.call_tool",)),
    ("MCP face: the fast lane (parse, handler, result shaped for the revision)", ("FastLane",)),
    (
        "guards and bounds: host, origin, token, budget, body size, session limits",
        ("RequestGuard", "BearerAuth", "RequestBudget", "BoundedBodies", "SessionLimits", "ResponseMode"),
    ),
    ("event loop (uvloop: sockets, pipes, scheduling)", ("Runner.run",)),
]


def layer_of(frames: list[str]) -> str:
    last = frames[-1]
    if last.startswith("Runner.run"):
        return LAYERS[-1][0]
    joined = ";".join(frames)
    for name, needles in LAYERS[:-1]:
        if any(needle in joined for needle in needles):
            return name
    return "other (asyncio and anyio internals)"


def breakdown(raw: Path) -> list[tuple[str, float]]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or "WorkerThread" in stack:
            continue
        counts[layer_of(stack.split(";"))] += int(samples)
    total = sum(counts.values()) or 1
    return [(name, count / total * 100) for name, count in counts.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy is needed: pip install py-spy")
    servers = {"e": {"command": harness.PY, "args": [str(harness.BENCH / "echo_raw.py")]}}
    with harness.glm_mcp(servers) as (url, pid), tempfile.TemporaryDirectory() as folder:
        harness.wrk_mcp(url, "e__echo", 16, 2)  # warm-up
        raw = Path(folder) / "samples.txt"
        record = [spy, "record", "-p", str(pid), "-d", str(args.seconds), "-r", "500", "-f", "raw", "-o", str(raw)]
        sampler = threading.Thread(target=subprocess.run, args=(record,), kwargs={"capture_output": True})
        sampler.start()
        result = harness.wrk_mcp(url, "e__echo", 16, args.seconds + 1)
        sampler.join()
        print(f"wrk c16 under the sampler: {result['rps']:,.0f} calls/s")
        for name, share in breakdown(raw):
            print(f"{share:5.1f}%  {name}")


if __name__ == "__main__":
    main()
