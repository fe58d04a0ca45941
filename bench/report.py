"""Turns the medians of a benchmark run into the README's performance section, targets checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _get(medians: dict[str, dict[str, float]], key: str, field: str) -> float | None:
    return medians.get(key, {}).get(field)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def render(results: dict[str, Any]) -> str:
    m: dict[str, dict[str, float]] = results["medians"]
    lines = [
        f"Measured {results['date']} on {results['machine']}; medians of {results['rounds']} interleaved rounds "
        "(`python -m bench.run`). Latencies in ms, rates in requests/s.",
        "",
        "**The MCP hop** (one shared session everywhere; `wrk` sends one self-contained POST per request):",
        "",
        "| echo server | client | setup | c | p50 | p99 | req/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("raw", "sdk"):
        for client in ("wrk", "sdk"):
            for setup in ("direct-stdio", "direct-http", "glm-mcp", "glm-mcp-stdio", "mcp-proxy"):
                for c in (1, 16, 64):
                    key = f"{kind}/{client}/{setup}/c{c}"
                    if key in m:
                        row = m[key]
                        lines.append(
                            f"| {kind} | {client} | {setup} | {c} | {_fmt(row['p50_ms'])} | {_fmt(row['p99_ms'])} | {_fmt(row['rps'], 0)} |"
                        )
    lines += ["", "**The chat loop** (one tool call per completion: two model round trips and one tool call):", ""]
    lines += ["| setup | c | p50 | p99 | req/s |", "|---|---|---|---|---|"]
    for key in sorted(k for k in m if k.startswith("chat/") and "ttfb" not in k):
        row = m[key]
        lines.append(
            f"| {key[5:].rsplit('/', 1)[0]} | {key.rsplit('c', 1)[1]} | {_fmt(row['p50_ms'])} | {_fmt(row['p99_ms'])} | {_fmt(row['rps'], 0)} |"
        )
    lines += _model_hop(m)
    lines += ["", "**The catalog:**", "", "| measure | value |", "|---|---|"]
    for key in sorted(k for k in m if k.startswith("catalog/") or "ttfb" in k):
        lines.append(f"| {key} | " + ", ".join(f"{f}={_fmt(v)}" for f, v in m[key].items()) + " |")
    lines += ["", "**Targets** (issues 4 and 23), computed from the medians above:", ""]
    lines += [f"- {line}" for line in targets(m)]
    return "\n".join(lines)


def _added(m: dict[str, dict[str, float]], setup: str, kind: str) -> float | None:
    through, direct = _get(m, f"model/{setup}/{kind}", "p50_ms"), _get(m, f"model/direct/{kind}", "p50_ms")
    return None if through is None or direct is None else through - direct


def _model_hop(m: dict[str, dict[str, float]]) -> list[str]:
    if "model/direct/complete" not in m:
        return []
    lines = [
        "",
        "**The model hop** (`bench/model_hop.py`: sequential chat completions with no tools against a local mock of "
        "GLM's API, one kept-alive connection, 200 per round; 7 interleaved rounds after a warm-up, median of the "
        "round medians; both gateways check a bearer token; the relay floor, `bench/relay_floor.py`, is glm-mcp's HTTP "
        "stack relaying bytes it never reads):",
        "",
        "| setup | completion p50 | added | first token p50 (streamed) | added |",
        "|---|---|---|---|---|",
    ]
    for setup in ("direct", "relay-floor", "glm-mcp", "litellm"):
        if f"model/{setup}/complete" in m:
            lines.append(
                f"| {setup} | {_fmt(_get(m, f'model/{setup}/complete', 'p50_ms'))} | "
                f"{_fmt(_added(m, setup, 'complete'))} | {_fmt(_get(m, f'model/{setup}/first_token', 'p50_ms'))} | "
                f"{_fmt(_added(m, setup, 'first_token'))} |"
            )
    return lines


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def targets(m: dict[str, dict[str, float]]) -> list[str]:
    out: list[str] = []

    def check(label: str, value: float | None, goal: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
        out.append(f"{label}: {_fmt(value)} (target {goal}) — **{verdict}**")

    raw = _ratio(_get(m, "raw/wrk/glm-mcp/c16", "rps"), _get(m, "raw/wrk/mcp-proxy/c16", "rps"))
    check("req/s vs mcp-proxy, floor echo, wrk c16", raw, "≥ 2×", None if raw is None else raw >= 2)
    sdk = _ratio(_get(m, "sdk/wrk/glm-mcp/c16", "rps"), _get(m, "sdk/wrk/mcp-proxy/c16", "rps"))
    check("req/s vs mcp-proxy, SDK echo, wrk c16", sdk, "≥ 1×", None if sdk is None else sdk >= 1)
    direct = _get(m, "sdk/wrk/direct-http/c1", "p50_ms")
    through = _get(m, "sdk/wrk/glm-mcp/c1", "p50_ms")
    added = None if direct is None or through is None else through - direct
    check(
        "p50 added per MCP call over direct streamable HTTP (SDK echo, wrk c1), ms",
        added,
        "≤ 1 ms",
        None if added is None else added <= 1,
    )
    t1 = _get(m, "chat/emulator-tool-turn/c1", "p50_ms")
    t2 = _get(m, "chat/emulator-answer-turn/c1", "p50_ms")
    gw = _get(m, "chat/glm-mcp/c1", "p50_ms")
    per_step = None if t1 is None or t2 is None or gw is None else (gw - t1 - t2) / 2
    check("p50 added per agent step at c1, ms", per_step, "≤ 2 ms", None if per_step is None else per_step <= 2)
    rate = _get(m, "chat/glm-mcp/c16", "rps")
    check("tool-using completions/s at c16", rate, "≥ 370", None if rate is None else rate >= 370)
    ttfb = None
    if "chat/ttfb/glm-mcp" in m and "chat/ttfb/emulator" in m:
        ttfb = m["chat/ttfb/glm-mcp"]["ttfb_ms"] - m["chat/ttfb/emulator"]["ttfb_ms"]
    check("time to first streamed byte added, ms", ttfb, "reported", None)
    for kind, label in (("complete", "per chat completion"), ("first_token", "to the first streamed token")):
        added = _added(m, "glm-mcp", kind)
        peer = _added(m, "litellm", kind)
        versus = "" if peer is None else f"; LiteLLM's proxy adds {_fmt(peer)}"
        check(f"model hop: p50 added {label}, ms{versus}", added, "≤ 0.5 ms", None if added is None else added <= 0.5)
    listing = _ratio(_get(m, "catalog/list1000/glm-mcp", "list_ms"), _get(m, "catalog/list1000/direct", "list_ms"))
    check("tools/list of 1,000 tools vs direct", listing, "≤ 1.5×", None if listing is None else listing <= 1.5)
    fifty = _ratio(_get(m, "catalog/start/50-raw", "ready_s"), _get(m, "catalog/alone/raw", "ready_s"))
    check("50 floor servers ready vs one alone", fifty, "≤ 1.5×", None if fifty is None else fifty <= 1.5)
    fifty_sdk = _ratio(_get(m, "catalog/start/50-sdk", "ready_s"), _get(m, "catalog/alone/sdk", "ready_s"))
    check("50 SDK servers ready vs one alone", fifty_sdk, "≤ 1.5×", None if fifty_sdk is None else fifty_sdk <= 1.5)
    bundled = _get(m, "catalog/start/bundled", "ready_s")
    check(
        "`serve` ready (`/readyz`) with the bundled servers, s",
        bundled,
        "< 1 s",
        None if bundled is None else bundled < 1,
    )
    first = _get(m, "catalog/start/stdio-initialize", "ready_s")
    check("`stdio` answers `initialize`, s", first, "< 0.3 s", None if first is None else first < 0.3)
    idle = _get(m, "catalog/rss/10-servers", "idle_mb")
    check("resident memory at idle with 10 servers, MB", idle, "< 80 MB", None if idle is None else idle < 80)
    return out


def replace_block(readme: Path, start: str, end: str, text: str) -> None:
    """Put `text` between the README's `start` and `end` markers, in place of what was there."""
    content = readme.read_text()
    if start not in content:
        raise SystemExit(f"{readme} has no {start} marker: put the {start} and {end} lines where the block belongs")
    block = f"{start}\n{text}\n{end}"
    readme.write_text(re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, content, flags=re.S))


def update_readme(readme: Path, text: str) -> None:
    replace_block(readme, START, END, text)
