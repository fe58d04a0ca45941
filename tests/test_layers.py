"""Imports inside glm_mcp point one way: each module may import only the modules listed for it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "glm_mcp"

ALLOWED: dict[str, set[str]] = {
    "_json": set(),
    "errors": set(),
    "config": {"errors", "jsonc", "naming"},
    "naming": set(),
    "upstream": set(),
    "upstream.transport": {"config", "redact"},
    "redact": set(),
    "token": {"errors"},
    "sessions": set(),
    "bodies": set(),
    "connections": set(),
    "upstream.asking": set(),
    "upstream.wire": {"upstream.asking"},
    "upstream.listing": {"upstream.wire"},
    "upstream.connection": {
        "_json",
        "config",
        "errors",
        "redact",
        "upstream.asking",
        "upstream.listing",
        "upstream.transport",
        "upstream.wire",
    },
    "upstream.pool": {"config", "errors", "upstream.asking", "upstream.connection"},
    "catalog": {"config", "errors", "naming", "tools.discovery", "upstream.connection", "upstream.listing"},
    "model": set(),
    "model.messages": set(),
    "model.profile": set(),
    "model.sampling": {"errors", "model.messages", "model.profile", "tools.arguments", "tools.schema"},
    "answers": {"config", "errors", "model.client", "model.sampling", "upstream.asking"},
    "model.stream": {"errors", "model.messages", "model.profile"},
    "model.client": {"activity", "config", "errors", "model.messages", "model.profile", "model.stream", "redact"},
    "model.xml_calls": set(),
    "tools": set(),
    "tools.schema": {"errors", "model.profile"},
    "tools.arguments": {"errors", "model.xml_calls", "tools.lenient"},
    "tools.lenient": {"errors"},
    "tools.results": set(),
    "agent": {
        "activity",
        "catalog",
        "config",
        "errors",
        "model.client",
        "model.messages",
        "model.profile",
        "model.xml_calls",
        "offer",
        "tools.arguments",
        "tools.registry",
        "tools.results",
        "tools.schema",
        "upstream.asking",
    },
    "chat_api": {
        "activity",
        "agent",
        "sessions",
        "catalog",
        "errors",
        "gateway",
        "model.messages",
        "model.profile",
        "offer",
        "rounds",
        "upstream.asking",
    },
    "anthropic_api": {"_json", "agent", "chat_api", "errors", "model.profile"},
    "responses_api": {"_json", "agent", "chat_api", "errors", "model.profile"},
    "offer": {"catalog", "config", "model.messages", "model.profile", "tools.discovery", "tools.registry"},
    "tools.registry": {"catalog", "errors", "model.messages", "tools.discovery", "tools.schema"},
    "tools.discovery": set(),
    "metrics": set(),
    "gateway": {
        "activity",
        "agent",
        "answers",
        "catalog",
        "config",
        "errors",
        "metrics",
        "model.client",
        "model.profile",
        "redact",
        "upstream.asking",
        "upstream.connection",
        "upstream.pool",
    },
    "activity": set(),
    "editors": {"catalog", "gateway", "upstream.asking", "upstream.wire"},
    "rounds": {"upstream.asking"},
    "facade": {
        "agent",
        "sessions",
        "catalog",
        "editors",
        "errors",
        "gateway",
        "offer",
        "rounds",
        "upstream.asking",
        "upstream.wire",
    },
    "app": {
        "admin",
        "agent",
        "anthropic_api",
        "responses_api",
        "bodies",
        "chat_api",
        "errors",
        "facade",
        "gateway",
        "http_mode",
        "metrics",
        "model.client",
        "sessions",
    },
    "admin": {"activity", "catalog", "errors", "gateway", "tools.results"},
    "http_mode": {"_json", "bodies"},
    "install": {"errors", "jsonc"},
    "jsonc": set(),
    "cli": {
        "agent",
        "app",
        "catalog",
        "config",
        "connections",
        "doctor",
        "errors",
        "facade",
        "gateway",
        "install",
        "model.client",
        "redact",
        "terminal",
        "token",
    },
    "terminal": {"tools.results"},
    "doctor": {"agent", "catalog", "errors", "gateway", "offer", "upstream.connection"},
    "__main__": {"cli"},
    "__init__": {"config", "errors", "gateway"},
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("glm_mcp."):
            found.add(node.module.removeprefix("glm_mcp."))
        elif isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("glm_mcp.") for alias in node.names if alias.name.startswith("glm_mcp.")}
    return found


def test_every_module_imports_only_what_its_layer_allows() -> None:
    modules = {
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }
    assert set(modules) == set(ALLOWED), "a module was added or removed: give it a row in ALLOWED"
    # `_json` (typed views of parsed JSON) has no dependencies and serves every layer.
    wrong = {name: sorted(_imports(path) - ALLOWED[name] - {"_json"}) for name, path in modules.items()}
    assert {name: bad for name, bad in wrong.items() if bad} == {}
