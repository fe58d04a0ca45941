"""Replicas: tool calls through two glm-mcp replicas on one Redis behind nginx, against one replica, on one machine.

    python -m bench.replicas [--rounds 3] [--seconds 3] [--no-readme]

Every setup serves the hand-written echo server (each replica runs its own copy) to `wrk` in one MCP session, so
with two replicas every other request lands on the replica that did not open the session. Results go to
`bench/replicas_results.json` and to the README's replicas table. Needs `wrk`, `redis-server` and `nginx`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.report import replace_block
from bench.run import (
    BENCH,
    PY,
    ROOT,
    Result,
    Table,
    free_port,
    glm_mcp,
    interleave,
    machine,
    spawn,
    wait_http,
    wrk_mcp,
)
from tests.engines import nginx_config

ECHO = {"e": {"command": PY, "args": [str(BENCH / "echo_raw.py")]}}


@contextlib.contextmanager
def redis() -> Iterator[str]:
    port = free_port()
    with spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]):
        deadline = time.monotonic() + 30
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def nginx(upstreams: list[str]) -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="glm-bench-nginx-"))
    port = free_port()
    conf = nginx_config(folder, upstreams, port)
    binary = shutil.which("nginx", path="/usr/sbin:/usr/bin") or "nginx"
    with spawn([binary, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"]):
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    shutil.rmtree(folder, ignore_errors=True)


def measure(table: Table, rounds: int, seconds: float) -> None:
    with redis() as url, contextlib.ExitStack() as stack:
        alone, _ = stack.enter_context(glm_mcp(ECHO))
        shared = {"gateway": {"redis_url": url}}
        first, _ = stack.enter_context(glm_mcp(ECHO, shared))
        second, _ = stack.enter_context(glm_mcp(ECHO, shared))
        hosts = [address.removeprefix("http://") for address in (first, second)]
        one_behind = stack.enter_context(nginx(hosts[:1]))
        two_behind = stack.enter_context(nginx(hosts))
        setups = {
            "one replica": alone,
            "one replica, Redis, nginx": one_behind,
            "two replicas, Redis, nginx": two_behind,
        }
        jobs: list[tuple[str, Callable[[], Result]]] = []
        for c in (16, 64):
            for name, address in setups.items():
                jobs.append((f"replicas/{name}/c{c}", functools.partial(wrk_mcp, address, "e__echo", c, seconds)))
        interleave(rounds, jobs, table)


def render(results: dict[str, object], medians: dict[str, Result]) -> str:
    lines = [
        f"Measured {results['date']} on {results['machine']}; medians of {results['rounds']} interleaved rounds "
        "(`python -m bench.replicas`): `tools/call` on the hand-written echo server in one MCP session, `wrk`.",
        "",
        "| setup | c | p50 ms | p99 ms | req/s | vs one replica |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in medians.items():
        _, setup, c = key.split("/")
        base = medians.get(f"replicas/one replica/{c}")
        ratio = f"{row['rps'] / base['rps']:.2f}×" if base else ""
        lines.append(f"| {setup} | {c[1:]} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['rps']:.0f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    table = Table()
    measure(table, args.rounds, args.seconds)
    medians = {key: table.median(key) for key in table.rows}
    results: dict[str, object] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "rounds": args.rounds}
    text = render(results, medians)
    print(text)
    if not args.no_readme:
        (BENCH / "replicas_results.json").write_text(json.dumps({**results, "medians": medians}, indent=1))
        replace_block(ROOT / "README.md", "<!-- replicas:start -->", "<!-- replicas:end -->", text)


if __name__ == "__main__":
    main()
