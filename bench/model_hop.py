"""The model hop: what a gateway adds to one chat completion, in the style of the independent LLM-gateway benchmarks.

Sequential chat completions with no tools (one request at a time on one kept-alive connection), non-streaming and
streaming, sent directly to a local mock of GLM's API (the GLM emulator answering a short text), through glm-mcp in
front of it (no MCP servers: nothing to offer), through the relay floor (`bench/relay_floor.py`: glm-mcp's HTTP stack
relaying bytes and reading none of them, the least a gateway on it can add), and through LiteLLM's proxy in front of
the same mock (installed from PyPI into its own virtual environment, `bench/.venv-litellm`). After a warm-up, 7
rounds interleave the setups (every other round in reverse order); each round's median per setup is kept and the
median of those is reported.
Non-streaming: the whole request's latency; streaming: the time to the first content token (the first SSE event
carrying text).
"""

from __future__ import annotations

import contextlib
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2

from bench import run as harness

LITELLM_VENV = harness.BENCH / ".venv-litellm"
MODEL = "glm-4.6"
BODY: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Say something short."}]}
KEY = "sk-bench-" + "0123456789abcdef" * 4
"""The bearer token both gateways check (each refuses to run open by default)."""


def ensure_litellm() -> Path:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    return binary


@contextlib.contextmanager
def litellm_proxy(mock: str) -> Iterator[str]:
    """LiteLLM's proxy with one OpenAI-compatible model pointing at the mock; yields its base URL."""
    config = {
        "model_list": [
            {"model_name": MODEL, "litellm_params": {"model": f"openai/{MODEL}", "api_base": mock, "api_key": "k"}}
        ],
        "litellm_settings": {"drop_params": True, "telemetry": False},
        "general_settings": {"master_key": KEY},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        json.dump(config, handle)  # JSON is YAML
    port = harness.free_port()
    command = [str(ensure_litellm()), "--config", handle.name, "--host", "127.0.0.1", "--port", str(port)]
    env = {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "true"}
    with harness.spawn(command, env=env):
        harness.wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
        yield f"http://127.0.0.1:{port}/v1"
    Path(handle.name).unlink()


def _completion_ms(http: httpx2.Client, url: str) -> float:
    start = time.perf_counter()
    response = http.post(url, json=BODY)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"], response.text
    return elapsed * 1000


def _first_token_ms(http: httpx2.Client, url: str) -> float:
    start = time.perf_counter()
    first: float | None = None
    with http.stream("POST", url, json={**BODY, "stream": True}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():  # read to the end: the connection is kept for the next request
            if first is not None or not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            choices = json.loads(line[5:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                first = time.perf_counter() - start
    if first is None:
        raise AssertionError(f"{url} streamed no content")
    return first * 1000


def _median_of(samples: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(samples))


def model_hop(table: harness.Table, rounds: int = 7, samples: int = 200, peers: bool = True) -> None:
    """Measures every setup into `table` under `model/<setup>/<kind>` (one round median each)."""
    mock_command = [harness.PY, str(harness.BENCH / "fake_glm_server.py"), "--port", "{port}", "--answer"]
    with harness.http_server(mock_command, "/chat/completions") as mock:
        extra = {
            "model": {"base_url": mock, "api_key": "bench", "max_concurrency": 256},
            "gateway": {"auth_tokens": [KEY]},
        }
        with contextlib.ExitStack() as stack:
            gateway, _ = stack.enter_context(harness.glm_mcp({}, extra))
            setups = {"direct": mock, "glm-mcp": f"{gateway}/v1"}
            floor = [harness.PY, str(harness.BENCH / "relay_floor.py"), mock, "{port}"]
            setups["relay-floor"] = stack.enter_context(harness.http_server(floor, "/"))
            if peers:
                setups["litellm"] = stack.enter_context(litellm_proxy(mock))
            headers = {"Authorization": f"Bearer {KEY}"}
            clients = {name: stack.enter_context(httpx2.Client(timeout=60, headers=headers)) for name in setups}
            for name, base in setups.items():  # warm-up: connections, caches, first imports
                for _ in range(max(20, samples // 5)):
                    _completion_ms(clients[name], f"{base}/chat/completions")
                    _first_token_ms(clients[name], f"{base}/chat/completions")
            for index in range(rounds):
                print(f"model hop round {index + 1}/{rounds}", flush=True)
                order = list(setups.items())
                for name, base in order if index % 2 == 0 else reversed(order):  # no setup always first
                    for kind, measure in (("complete", _completion_ms), ("first_token", _first_token_ms)):
                        once = functools.partial(measure, clients[name], f"{base}/chat/completions")
                        table.add(f"model/{name}/{kind}", {"p50_ms": _median_of(samples, once)})


def main() -> None:
    table = harness.Table()
    model_hop(table, rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 7, peers="--no-peers" not in sys.argv)
    for key in sorted(table.rows):
        print(key, table.median(key))


if __name__ == "__main__":
    main()
