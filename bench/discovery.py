"""Tool discovery, measured: `python -m bench.discovery`.

A catalog of real tool definitions (`bench/data/tool_catalog.json`: the published tool lists of 35 MCP servers)
and labelled requests as users write them (`bench/data/discovery_requests.json`: each with the tools it needs,
any listed alternative will do). It reports:
- recall@k of the gateway's selection (its FTS5/BM25 index, ranked for the request) for k = 8, 16, 32, 64, and
  for the offer GLM gets past 128 tools (what `offer.build_offer` chooses);
- the prompt tokens of the tool definitions per step, offered against all (estimated as characters / 4: no
  GLM tokenizer is available offline);
- selection time per request at 1,000 and 5,000 tools (the catalog repeated under other server names), and
  the time to build the index once per catalog snapshot.
Writes `bench/discovery_results.json` and, unless `--no-readme`, the README's discovery table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from glm_mcp.agent.offer import FIND_TOOLS_DEFINITION, GLM_MAX_TOOLS, definition_tokens
from glm_mcp.catalog.search import ToolIndex, tool_text
from glm_mcp.naming import assign_names
from glm_mcp.tools.schema import SchemaError, compile_schema

BENCH = Path(__file__).parent
DATA = BENCH / "data"
START, END = "<!-- discovery:start -->", "<!-- discovery:end -->"
KS = (8, 16, 32, 64)


def load_catalog(copies: int = 1, size: int | None = None) -> dict[str, dict[str, Any]]:
    """Exposed name → tool definition, for the catalog repeated `copies` times under other server names (and cut
    to `size` tools)."""
    raw = json.loads((DATA / "tool_catalog.json").read_text())
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for copy in range(copies):
        for server, entry in raw.items():
            if server.startswith("_"):
                continue
            name = server if copy == 0 else f"{server}{copy}"
            for tool in entry["tools"]:
                pairs[(name, tool["name"])] = tool
    if size is not None:
        pairs = dict(list(pairs.items())[:size])
    return {exposed: pairs[pair] for pair, exposed in assign_names(pairs).items()}


def build_index(catalog: dict[str, dict[str, Any]]) -> ToolIndex:
    texts = [
        (name, tool_text(name, tool["name"], tool.get("title"), tool.get("description"), tool.get("inputSchema", {})))
        for name, tool in catalog.items()
    ]
    return ToolIndex(texts)


def definition(name: str, tool: dict[str, Any]) -> dict[str, Any] | None:
    try:
        parameters = compile_schema(tool.get("inputSchema", {"type": "object"}))
    except SchemaError:
        return None
    description = tool.get("description") or tool.get("title") or name
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def recall(ranked: list[str], needs: list[list[str]]) -> float:
    return sum(1 for need in needs if any(alt in ranked for alt in need)) / len(needs)


def measure() -> dict[str, Any]:
    catalog = load_catalog()
    requests = json.loads((DATA / "discovery_requests.json").read_text())["requests"]
    index = build_index(catalog)
    offer_slots = GLM_MAX_TOOLS - 1 - min(16, GLM_MAX_TOOLS // 8)  # as build_offer leaves room for glm__find_tools
    recalls: dict[str, list[float]] = {f"@{k}": [] for k in KS}
    recalls["offer"] = []
    misses: list[str] = []
    for item in requests:
        ranked = index.rank_for([item["request"]], max(*KS, offer_slots))
        for k in KS:
            recalls[f"@{k}"].append(recall(ranked[:k], item["needs"]))
        recalls["offer"].append(recall(ranked[:offer_slots], item["needs"]))
        if recall(ranked[:32], item["needs"]) < 1:
            misses.append(item["request"])
    definitions = {name: definition(name, tool) for name, tool in catalog.items()}
    sizes = {name: definition_tokens(d) for name, d in definitions.items() if d is not None}
    all_tokens = sum(sizes.values())
    per_step: list[int] = []
    for item in requests:
        chosen = index.rank_for([item["request"]], 32)
        per_step.append(sum(sizes.get(name, 0) for name in chosen) + definition_tokens(FIND_TOOLS_DEFINITION))
    timing: dict[str, dict[str, float]] = {}
    for copies, label in ((2, "1000"), (10, "5000")):
        big = load_catalog(copies, int(label))
        started = time.perf_counter()
        big_index = build_index(big)
        build_ms = (time.perf_counter() - started) * 1000
        durations: list[float] = []
        for item in requests:
            started = time.perf_counter()
            big_index.rank_for([item["request"]], 32)
            durations.append((time.perf_counter() - started) * 1000)
        timing[label] = {
            "tools": len(big),
            "select_ms_median": statistics.median(durations),
            "select_ms_p95": sorted(durations)[int(len(durations) * 0.95)],
            "index_build_ms": build_ms,
        }
    return {
        "tools": len(catalog),
        "servers": len({name.split("__")[0] for name in catalog}),
        "requests": len(requests),
        "recall": {key: statistics.mean(values) for key, values in recalls.items()},
        "tokens": {
            "all_tools": all_tokens,
            "per_step_median_k32": statistics.median(per_step),
            "ratio": statistics.median(per_step) / all_tokens,
        },
        "timing": timing,
        "misses_at_32": misses,
    }


def render(results: dict[str, Any]) -> str:
    r, t, timing = results["recall"], results["tokens"], results["timing"]
    lines = [
        f"{results['tools']} real tool definitions of {results['servers']} servers, {results['requests']} labelled "
        "requests (`python -m bench.discovery`). Tokens are characters / 4 (no GLM tokenizer offline).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        *(f"| recall@{k} | {r[f'@{k}']:.3f} | {'≥ 0.95' if k == 32 else ''} |" for k in KS),
        f"| recall of the offer past 128 tools | {r['offer']:.3f} | |",
        f"| definition tokens per step (32 tools + glm__find_tools) | {t['per_step_median_k32']:,.0f} of "
        f"{t['all_tools']:,} ({t['ratio']:.1%}) | ≤ 15 % |",
        f"| selection per request, {timing['1000']['tools']:,} tools | {timing['1000']['select_ms_median']:.2f} ms "
        f"(p95 {timing['1000']['select_ms_p95']:.2f}) | ≤ 5 ms |",
        f"| selection per request, {timing['5000']['tools']:,} tools | {timing['5000']['select_ms_median']:.2f} ms "
        f"(p95 {timing['5000']['select_ms_p95']:.2f}) | |",
        f"| index build, once per catalog change | {timing['1000']['index_build_ms']:.0f} ms at "
        f"{timing['1000']['tools']:,} tools, {timing['5000']['index_build_ms']:.0f} ms at {timing['5000']['tools']:,} | |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.discovery", description=__doc__)
    parser.add_argument("--no-readme", action="store_true", help="print only; leave the README alone")
    args = parser.parse_args()
    results = measure()
    table = render(results)
    print(table)
    if results["misses_at_32"]:
        print("\nmissed at 32:", *results["misses_at_32"], sep="\n  ")
    if args.no_readme:
        return
    (BENCH / "discovery_results.json").write_text(json.dumps(results, indent=1))
    readme = BENCH.parent / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
