"""The README's conformance table, measured: the official MCP conformance suite (pinned in `tests/node22`) against
the project's conformance server directly and through `glm-mcp serve`, and glm-mcp's upstream side as the client.

    python -m bench.conformance              # runs everything (a few minutes), rewrites the README's table
    python -m bench.conformance --no-readme  # prints the table only

Server side: each revision's `--requirements` set (scored scenarios only), and `--suite all` through the gateway
with `tests/conformance-expected-failures.yml`. Client side: every client scenario once per revision it belongs to
(`conformance list`), and each extension scenario once, driven by `tests/conformance_client.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Generator

from bench.report import replace_block
from bench.run import ROOT, free_port, glm_mcp, spawn, wait_http

BIN = ROOT / "tests" / "node22" / "node_modules" / ".bin"
EXPECTED_FAILURES = ROOT / "tests" / "conformance-expected-failures.yml"
REVISIONS = ("2025-11-25", "2026-07-28")
START, END = "<!-- conformance:start -->", "<!-- conformance:end -->"


def suite(*arguments: str) -> tuple[int, str]:
    """One run of the suite's command line: its exit status and output."""
    if not (BIN / "conformance").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=BIN.parent.parent, check=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(BIN / "conformance"), *arguments], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr


def scored(output: str) -> tuple[int, int]:
    """(passed, run) of the scenarios a `--requirements` run scores."""
    results = {name: mark for mark, name in re.findall(r"^([✓✗]) ([a-z0-9-]+):", output, re.MULTILINE)}
    unscored = set(re.findall(r"^  [✓✗] ([a-z0-9-]+) \(", output, re.MULTILINE))
    counted = [mark for name, mark in results.items() if name not in unscored]
    return counted.count("✓"), len(counted)


@contextlib.contextmanager
def upstream() -> Generator[str, None, None]:
    """The project's conformance server (both eras) on a free port: its `/mcp` URL."""
    port = free_port()
    with spawn([sys.executable, "-m", "tests.conformance_server", "--port", str(port)]):
        url = f"http://127.0.0.1:{port}/mcp"
        wait_http(url)
        yield url


def server_rows() -> list[str]:
    rows: list[str] = []
    with upstream() as direct, glm_mcp({"conformance": {"url": direct, "prefix": ""}}) as (base, _):
        for revision in REVISIONS:
            alone = scored(suite("server", "--url", direct, "--requirements", revision)[1])
            through = scored(suite("server", "--url", f"{base}/mcp", "--requirements", revision)[1])
            rows.append(f"| server | {revision} (scored) | {alone[0]} of {alone[1]} | {through[0]} of {through[1]} |")
        status, output = suite(
            "server", "--url", f"{base}/mcp", "--suite", "all", "--expected-failures", str(EXPECTED_FAILURES)
        )
        marks = re.findall(r"^([✓✗]) [a-z0-9-]+:", output, re.MULTILINE)
        verdict = "only the listed ones fail" if status == 0 else "**unexpected failures**"
        rows.append(
            f"| server | `--suite all` (every revision and extension) | | {marks.count('✓')} of {len(marks)}; "
            f"{verdict} (the tasks extension, which the upstream lacks) |"
        )
    return rows


def client_scenarios() -> list[tuple[str, str]]:
    """(revision or "extension", scenario) for every client scenario, once per revision it belongs to."""
    listing = suite("list")[1]
    client = listing.split("Client scenarios", 1)[1].split("Authorization server scenarios", 1)[0]
    runs: list[tuple[str, str]] = []
    for name, versions in re.findall(r"- (\S+) \[([^\]]+)\]", client):
        runs += [(version.strip(), name) for version in versions.split(",")]
    return runs


def client_rows() -> list[str]:
    counts: dict[tuple[str, bool], list[int]] = {}
    empty: list[str] = []
    for revision, scenario in client_scenarios():
        command = ["client", "--command", f"{sys.executable} {ROOT / 'tests' / 'conformance_client.py'}"]
        command += ["--scenario", scenario] + (["--spec-version", revision] if revision != "extension" else [])
        found = re.search(r"Passed: (\d+)/(\d+), (\d+) failed", suite(*command)[1])
        if found is not None and found.group(2) == "0":
            empty.append(scenario)  # the suite checks nothing in it (yet)
            continue
        passed = found is not None and found.group(1) != "0" and found.group(3) == "0"
        tally = counts.setdefault((revision, scenario.startswith("auth/")), [0, 0])
        tally[0] += passed
        tally[1] += 1
    rows: list[str] = []
    for revision in sorted({revision for revision, _ in counts}):
        core, auth = counts.get((revision, False)), counts.get((revision, True))
        parts = [
            f"{core[0]} of {core[1]} scenarios" if core else "",
            f"{auth[0]} of {auth[1]} authorization" if auth else "",
        ]
        rows.append(f"| client | {revision} | | {'; '.join(part for part in parts if part)} |")
    if empty:
        rows.append(f"| client | (no checks in this suite version) | | {', '.join(f'`{name}`' for name in empty)} |")
    return rows


def render(rows: list[str]) -> str:
    return "\n".join(
        [
            "| side | revision | directly | through glm-mcp |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-readme", action="store_true", help="print the table; leave README.md as it is")
    args = parser.parse_args()
    text = render(server_rows() + client_rows())
    print(text)
    if not args.no_readme:
        replace_block(ROOT / "README.md", START, END, text)


if __name__ == "__main__":
    main()
