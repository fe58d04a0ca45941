"""The benchmark harness: every setup started here on 127.0.0.1, measured interleaved, medians of rounds.

    python -m bench.run [--rounds 3] [--seconds 3] [--quick] [--no-readme]

Needs `wrk` (installed with apt-get when missing and run as root); `mcp-proxy` is installed by the harness into its own virtual
environment (`bench/.venv-mcp-proxy`: it pins mcp 1.x). Results go to `bench/results.json` and to the
README's performance section, with the machine they ran on.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
PROXY_VENV = BENCH / ".venv-mcp-proxy"
ACCEPT = "application/json, text/event-stream"
Result = dict[str, float]


# -- processes ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> float:
    """Poll until `url` answers (any status); returns the seconds it took."""
    start = time.perf_counter()
    while True:
        try:
            httpx2.get(url, timeout=1.0)
            return time.perf_counter() - start
        except httpx2.HTTPError:
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.005)


@contextlib.contextmanager
def spawn(command: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_config(servers: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    # A folder of its own: the gateway watches its config's folder, and /tmp is busy with everything else's files.
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=tempfile.mkdtemp(prefix="glm-bench-"))
    extra = dict(extra or {})
    # Authentication off on loopback, as for the peers it is compared with (direct servers, mcp-proxy).
    extra["gateway"] = {"auth_tokens": [], **extra.get("gateway", {})}
    json.dump({"mcpServers": servers, **extra}, handle)
    handle.close()
    return Path(handle.name)


@contextlib.contextmanager
def glm_mcp(servers: dict[str, Any], extra: dict[str, Any] | None = None) -> Iterator[tuple[str, int]]:
    """`glm-mcp serve` as a process; yields (base URL, pid) once /healthz answers."""
    port = free_port()
    config = write_config(servers, extra)
    with spawn([PY, "-m", "glm_mcp", "serve", "--port", str(port), "--config", str(config)]) as process:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", process.pid
    shutil.rmtree(config.parent, ignore_errors=True)


def ensure_mcp_proxy() -> Path:
    binary = PROXY_VENV / "bin" / "mcp-proxy"
    if not binary.exists():
        subprocess.run([PY, "-m", "venv", str(PROXY_VENV)], check=True)
        subprocess.run([str(PROXY_VENV / "bin" / "pip"), "install", "-q", "mcp-proxy"], check=True)
    return binary


@contextlib.contextmanager
def http_server(command: list[str], probe: str) -> Iterator[str]:
    """A server process listening where its `{port}` argument says; yields its base URL once `probe` answers."""
    port = free_port()
    with spawn([part.replace("{port}", str(port)) for part in command]):
        wait_http(f"http://127.0.0.1:{port}{probe}")
        yield f"http://127.0.0.1:{port}"


def mcp_proxy(command: list[str]) -> contextlib.AbstractContextManager[str]:
    return http_server([str(ensure_mcp_proxy()), "--port", "{port}", "--host", "127.0.0.1", "--", *command], "/mcp")


def sdk_echo_http() -> contextlib.AbstractContextManager[str]:
    return http_server([PY, str(BENCH / "echo_sdk.py"), "--port", "{port}"], "/mcp")


def fake_glm() -> contextlib.AbstractContextManager[str]:
    return http_server([PY, str(BENCH / "fake_glm_server.py"), "--port", "{port}"], "/chat/completions")


# -- clients -----------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stdio_target(command: list[str]) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=command[1:], cwd=str(ROOT))


def mcp_session(url: str) -> str:
    """Open one MCP session on a streamable-HTTP endpoint; returns its id."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    headers = {"accept": ACCEPT, "content-type": "application/json"}
    response = httpx2.post(f"{url}/mcp", json=init, headers=headers, timeout=30)
    session = response.headers["mcp-session-id"]
    headers["mcp-session-id"] = session
    headers["mcp-protocol-version"] = "2025-06-18"
    httpx2.post(
        f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers, timeout=30
    )
    return session


WRK_MCP = """
local counter = 0
local thread_id = 0
function setup(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
function init(args) prefix = tostring(tid) .. "-" end
request = function()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":"' .. prefix .. counter .. '","method":"tools/call","params":{"name":"TOOL","arguments":{"text":"hello"}}}'
  return wrk.format("POST", "/mcp", HEADERS, body)
end
"""

WRK_POST = """
request = function() return wrk.format("POST", "PATH", HEADERS, BODY) end
"""


def _lua_headers(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f'["{key}"] = "{value}"' for key, value in headers.items()) + "}"


def wrk_measure(url: str, script: str, concurrency: int, seconds: float) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    threads = min(2, concurrency)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        handle.name,
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(handle.name)
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec line:\n{output}")
    rps = float(found.group(1))

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", output, re.MULTILINE)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    return {"p50_ms": latency("50"), "p99_ms": latency("99"), "rps": rps}


def wrk_mcp(url: str, tool: str, concurrency: int, seconds: float) -> Result:
    session = mcp_session(url)
    headers = {
        "Content-Type": "application/json",
        "Accept": ACCEPT,
        "Mcp-Session-Id": session,
        "Mcp-Protocol-Version": "2025-06-18",
    }
    script = WRK_MCP.replace("TOOL", tool).replace("HEADERS", _lua_headers(headers))
    return wrk_measure(f"{url}/mcp", script, concurrency, seconds)


def wrk_post(url: str, path: str, body: dict[str, Any], concurrency: int, seconds: float) -> Result:
    lua_body = json.dumps(json.dumps(body))
    script = WRK_POST.replace("PATH", path).replace("HEADERS", _lua_headers({"Content-Type": "application/json"}))
    script = script.replace("BODY", lua_body)
    return wrk_measure(f"{url}{path}", script, concurrency, seconds)


# -- the run -----------------------------------------------------------------------------------------


class Table:
    """Collects every measurement of every round; reports medians."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Result]] = {}

    def add(self, key: str, result: Result) -> None:
        self.rows.setdefault(key, []).append(result)
        print(f"  {key}: " + ", ".join(f"{k}={v:.2f}" for k, v in result.items()), flush=True)

    def median(self, key: str) -> Result:
        results = self.rows[key]
        return {field: statistics.median(r[field] for r in results) for field in results[0]}


def interleave(rounds: int, jobs: list[tuple[str, Callable[[], Result]]], table: Table) -> None:
    """Every job once per round; every other round in reverse order, so no setup always runs first (measured: the
    same gateway ran 10% slower placed first in a round than placed second)."""
    for index in range(rounds):
        print(f"round {index + 1}/{rounds}", flush=True)
        for key, job in jobs if index % 2 == 0 else reversed(jobs):
            table.add(key, job())


def mcp_hop(table: Table, rounds: int, seconds: float, calls: int) -> None:
    """The same echo server behind each setup; one session each; wrk and the SDK client."""
    echoes = {"sdk": [PY, str(BENCH / "echo_sdk.py")], "raw": [PY, str(BENCH / "echo_raw.py")]}
    for kind, command in echoes.items():
        servers = {"e": {"command": command[0], "args": command[1:]}}
        with glm_mcp(servers) as (gateway, _), mcp_proxy(command) as proxy, contextlib.ExitStack() as stack:
            http_peers = {"glm-mcp": (gateway, "e__echo"), "mcp-proxy": (proxy, "echo")}
            if kind == "sdk":
                http_peers["direct-http"] = (stack.enter_context(sdk_echo_http()), "echo")
            face = stdio_target([PY, "-m", "glm_mcp", "stdio", "--config", str(write_config(servers))])
            sdk_peers: dict[str, tuple[Any, str]] = {
                **{name: (f"{url}/mcp", tool) for name, (url, tool) in http_peers.items()},
                "direct-stdio": (stdio_target(command), "echo"),
                "glm-mcp-stdio": (face, "e__echo"),
            }
            jobs: list[tuple[str, Callable[[], Result]]] = []
            for c in (1, 16, 64):
                for name, (url, tool) in http_peers.items():
                    jobs.append((f"{kind}/wrk/{name}/c{c}", functools.partial(wrk_mcp, url, tool, c, seconds)))
                for name, (target, tool) in sdk_peers.items():
                    jobs.append(
                        (f"{kind}/sdk/{name}/c{c}", functools.partial(sdk_measure_named, target, tool, c, calls))
                    )
            interleave(rounds, jobs, table)


def sdk_measure_named(target: Any, tool: str, concurrency: int, calls: int) -> Result:
    async def run() -> Result:
        async with Client(target, mode="legacy") as client:
            for _ in range(20):
                await client.call_tool(tool, {"text": "warm"})
            latencies: list[float] = []
            remaining = [calls]

            async def worker() -> None:
                while remaining[0] > 0:
                    remaining[0] -= 1
                    start = time.perf_counter()
                    await client.call_tool(tool, {"text": "hello"})
                    latencies.append(time.perf_counter() - start)

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(concurrency):
                    tg.start_soon(worker)
            elapsed = time.perf_counter() - start
        return {
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "rps": calls / elapsed,
        }

    return anyio.run(run)


def ttfb_ms(url: str, body: dict[str, Any], samples: int = 30) -> Result:
    times: list[float] = []
    with httpx2.Client(timeout=30) as http:
        for _ in range(samples):
            start = time.perf_counter()
            with http.stream("POST", url, json=body) as response:
                for _chunk in response.iter_bytes():
                    times.append(time.perf_counter() - start)
                    break
    return {"ttfb_ms": statistics.median(times) * 1000}


def chat_loop(table: Table, rounds: int, seconds: float) -> None:
    first = {"model": "glm-4.6", "messages": [{"role": "user", "content": "echo hello"}], "tools": [
        {"type": "function", "function": {"name": "echo", "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}}
    ]}  # fmt: skip
    second = {**first, "messages": [*first["messages"],
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "echo", "arguments": "{\"text\": \"hello\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "hello"}]}  # fmt: skip
    chat = {"model": "glm-4.6", "messages": [{"role": "user", "content": "echo hello"}]}
    with fake_glm() as glm:
        servers = {"e": {"command": PY, "args": [str(BENCH / "echo_raw.py")]}}
        extra = {"model": {"base_url": glm, "api_key": "bench", "max_concurrency": 256}}
        with glm_mcp(servers, extra) as (gateway, _):
            jobs: list[tuple[str, Callable[[], Result]]] = []
            for c in (1, 16):
                jobs.append(
                    (f"chat/emulator-tool-turn/c{c}", lambda c=c: wrk_post(glm, "/chat/completions", first, c, seconds))
                )
                jobs.append(
                    (
                        f"chat/emulator-answer-turn/c{c}",
                        lambda c=c: wrk_post(glm, "/chat/completions", second, c, seconds),
                    )
                )
                jobs.append(
                    (f"chat/glm-mcp/c{c}", lambda c=c: wrk_post(gateway, "/v1/chat/completions", chat, c, seconds))
                )
            jobs.append(("chat/ttfb/emulator", lambda: ttfb_ms(f"{glm}/chat/completions", {**first, "stream": True})))
            jobs.append(
                ("chat/ttfb/glm-mcp", lambda: ttfb_ms(f"{gateway}/v1/chat/completions", {**chat, "stream": True}))
            )
            interleave(rounds, jobs, table)


def listing_ms(target: Any, samples: int = 10) -> Result:
    async def run() -> Result:
        async with Client(target, mode="legacy", cache=None) as client:
            await client.list_tools()
            times: list[float] = []
            for _ in range(samples):
                start = time.perf_counter()
                page = await client.list_tools()
                tools = list(page.tools)
                while page.next_cursor:
                    page = await client.list_tools(cursor=page.next_cursor)
                    tools += page.tools
                times.append(time.perf_counter() - start)
                assert len(tools) >= 1000, len(tools)
        return {"list_ms": statistics.median(times) * 1000}

    return anyio.run(run)


def wait_ready(url: str, timeout: float = 400.0) -> None:
    """Poll `/readyz` until it says ready (200): every server connected and listed."""
    start = time.perf_counter()
    while True:
        try:
            if httpx2.get(url, timeout=1.0).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"{url} never said ready")
        time.sleep(0.005)


def startup_s(servers: dict[str, Any]) -> Result:
    """From spawning `glm-mcp serve` to `/readyz` answering ready; the resident memory then."""
    port = free_port()
    config = write_config(servers)
    start = time.perf_counter()
    with spawn([PY, "-m", "glm_mcp", "serve", "--port", str(port), "--config", str(config)]) as process:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        ready = time.perf_counter() - start
        idle = rss_mb(process.pid)
    shutil.rmtree(config.parent, ignore_errors=True)
    return {"ready_s": ready, "rss_mb": idle}


def stdio_initialize_s(servers: dict[str, Any], samples: int = 5) -> Result:
    """From spawning `glm-mcp stdio` (as an editor does) to its answer to `initialize`."""
    config = write_config(servers)
    params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    line = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}).encode() + b"\n"
    times: list[float] = []
    for _ in range(samples):
        start = time.perf_counter()
        process = subprocess.Popen(
            [PY, "-m", "glm_mcp", "stdio", "--config", str(config)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(line)
        process.stdin.flush()
        answer = process.stdout.readline()
        times.append(time.perf_counter() - start)
        assert b'"result"' in answer, answer
        process.stdin.close()
        process.wait(30)
    shutil.rmtree(config.parent, ignore_errors=True)
    return {"ready_s": statistics.median(times)}


def slowest_alone_s(command: list[str], samples: int = 3) -> Result:
    """How long one server takes from spawn to answering initialize."""

    async def once() -> float:
        start = time.perf_counter()
        async with Client(stdio_target(command), mode="legacy"):
            return time.perf_counter() - start

    return {"ready_s": statistics.median(anyio.run(once) for _ in range(samples))}


def catalog(table: Table, rounds: int, seconds: float) -> None:
    # Start-up is measured as every start after the first one is: with the package's bytecode written (pip writes
    # it at install; a checkout writes it at its first run, unless PYTHONDONTWRITEBYTECODE is set, as on CI hosts).
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "glm_mcp"), str(ROOT / "servers")], check=True)
    raw = [PY, str(BENCH / "echo_raw.py")]
    sdk = [PY, str(BENCH / "echo_sdk.py")]
    many = [PY, str(ROOT / "tests" / "fixture_servers" / "raw_server.py"), "--many", "1000", "--page", "1000"]
    jobs: list[tuple[str, Callable[[], Result]]] = [
        ("catalog/start/bundled", lambda: startup_s(bundled_servers())),
        ("catalog/start/stdio-initialize", lambda: stdio_initialize_s(bundled_servers())),
        ("catalog/start/10-sdk", lambda: startup_s({f"s{i}": {"command": PY, "args": sdk[1:]} for i in range(10)})),
        ("catalog/start/50-raw", lambda: startup_s({f"s{i}": {"command": PY, "args": raw[1:]} for i in range(50)})),
        ("catalog/start/50-sdk", lambda: startup_s({f"s{i}": {"command": PY, "args": sdk[1:]} for i in range(50)})),
        ("catalog/alone/raw", lambda: slowest_alone_s(raw)),
        ("catalog/alone/sdk", lambda: slowest_alone_s(sdk)),
        ("catalog/list1000/direct", lambda: listing_ms(stdio_target(many))),
    ]
    with glm_mcp({"many": {"command": PY, "args": many[1:]}}) as (gateway, _):
        jobs.append(("catalog/list1000/glm-mcp", lambda: listing_ms(f"{gateway}/mcp")))
        interleave(rounds, jobs, table)
    with glm_mcp({f"s{i}": {"command": PY, "args": sdk[1:]} for i in range(10)}) as (gateway, pid):
        idle = rss_mb(pid)
        session_load = wrk_mcp(gateway, "s0__echo", 16, seconds)
        table.add("catalog/rss/10-servers", {"idle_mb": idle, "under_load_mb": rss_mb(pid), "rps": session_load["rps"]})


def bundled_servers() -> dict[str, Any]:
    from glm_mcp.config import default_config_data

    return default_config_data(Path(tempfile.gettempdir()) / "glm-mcp-bench")["mcpServers"]


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each wrk run")
    parser.add_argument("--calls", type=int, default=400, help="calls per SDK-client measurement")
    parser.add_argument("--quick", action="store_true", help="one round, short runs")
    parser.add_argument("--only", choices=["mcp", "chat", "model", "catalog"], action="append")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave README.md and results.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    if args.quick:
        args.rounds, args.seconds, args.calls = 1, 2, 150
    table = Table()
    parts = args.only or ["mcp", "chat", "model", "catalog"]
    if "mcp" in parts:
        mcp_hop(table, args.rounds, args.seconds, args.calls)
    if "chat" in parts:
        chat_loop(table, args.rounds, args.seconds)
    if "model" in parts:
        from bench.model_hop import model_hop

        # The independent gateway benchmarks' method: 7 rounds whatever `--rounds` says (3 with `--quick`).
        model_hop(table, rounds=3 if args.quick else 7, samples=60 if args.quick else 200)
    if "catalog" in parts:
        catalog(table, args.rounds, args.seconds)
    medians = {key: table.median(key) for key in table.rows}
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "medians": medians}
    from bench.report import render, update_readme

    text = render(results)
    print(text)
    if not args.no_readme and not args.only:
        # The table and its raw medians are kept together: a partial run rewrites neither.
        (BENCH / "results.json").write_text(json.dumps(results, indent=1))
        update_readme(ROOT / "README.md", text)


if __name__ == "__main__":
    main()
