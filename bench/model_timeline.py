"""Where the model hop's time goes: one request's steps, timed in the client, glm-mcp and the GLM mock alike.

    python -m bench.model_timeline [--requests 800]

glm-mcp and the mock run under `bench.marks`, which marks the moments a request passes on the monotonic clock all
processes share; the client marks when it sends and when it has the first token (the whole answer, not streamed).
For each request the marks inside its span are put in order, and the median of each step between consecutive
marks is printed: streamed and not, through glm-mcp and direct. Steps with a mark missing in most requests (a
read that carried the headers and the first chunk together) are left out.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2

from bench import model_hop as hop
from bench import run as harness

Span = tuple[float, float]
"""(sent, first token) on the client."""


def _spans(http: httpx2.Client, url: str, stream: bool, requests: int) -> list[Span]:
    spans: list[Span] = []
    for _ in range(requests):
        start = time.perf_counter()
        if stream:
            first = start + hop._first_token_ms(http, url) / 1000  # pyright: ignore[reportPrivateUsage]
        else:
            first = start + hop._completion_ms(http, url) / 1000  # pyright: ignore[reportPrivateUsage]
        spans.append((start, first))
    return spans


def _steps(spans: list[Span], marks: list[tuple[float, str]]) -> dict[str, float]:
    times = [moment for moment, _ in marks]
    steps: dict[str, list[float]] = collections.defaultdict(list)
    for start, first in spans:
        seen: dict[str, float] = {}
        for moment, name in marks[bisect.bisect_left(times, start) : bisect.bisect_right(times, first)]:
            seen.setdefault(name, moment)
        previous, at = "client sends", start
        for name, moment in sorted(seen.items(), key=lambda item: item[1]):
            steps[f"{previous} -> {name}"].append(moment - at)
            previous, at = name, moment
        steps[f"{previous} -> client has the first token"].append(first - at)
        steps["total"].append(first - start)
    return {step: statistics.median(values) * 1e6 for step, values in steps.items() if len(values) > len(spans) / 2}


@contextlib.contextmanager
def _marked(marks: Path) -> Iterator[tuple[str, str]]:
    """The mock and glm-mcp in front of it, both marking into `marks`; yields (mock URL, glm-mcp URL)."""
    os.environ["MARKS_FILE"] = str(marks)
    mock_command = [harness.PY, "-m", "bench.marks", "mock", "--port", "{port}", "--answer"]
    with harness.http_server(mock_command, "/chat/completions") as mock:
        extra = {"model": {"base_url": mock, "api_key": "bench", "max_concurrency": 256}}
        config = harness.write_config({}, {**extra, "gateway": {"auth_tokens": [hop.KEY]}})
        port = harness.free_port()
        command = [harness.PY, "-m", "bench.marks", "gateway", "serve", "--port", str(port), "--config", str(config)]
        with harness.spawn(command):
            harness.wait_http(f"http://127.0.0.1:{port}/healthz")
            yield mock, f"http://127.0.0.1:{port}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=800)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        marks_file = Path(folder) / "marks.txt"
        marks_file.touch()
        runs: dict[str, list[Span]] = {}
        with _marked(marks_file) as (mock, gateway), httpx2.Client(timeout=60) as http:
            http.headers["Authorization"] = f"Bearer {hop.KEY}"
            for name, base in (("glm-mcp", gateway), ("direct", mock)):
                for stream in (True, False):
                    url = f"{base}/chat/completions"
                    _spans(http, url, stream, 200)  # warm-up
                    runs[f"{name}, {'streamed: to the first token' if stream else 'not streamed'}"] = _spans(
                        http, url, stream, args.requests
                    )
        marks = sorted((float(moment), name) for moment, name in (line.split() for line in marks_file.open()))
    for run, spans in runs.items():
        print(f"{run} (median µs of {len(spans)} requests):")
        for step, micros in _steps(spans, marks).items():
            print(f"  {micros:6.0f}  {step}")


if __name__ == "__main__":
    main()
