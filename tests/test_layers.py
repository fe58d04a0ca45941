"""The shape of the code: imports point down the tiers, each module imports only what its row allows (and every
allowed edge is used), errors live in one place, loggers are named by module, tests share only helpers."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import glm_mcp
import glm_mcp.errors

PACKAGE = Path(__file__).resolve().parent.parent / "glm_mcp"
TESTS = Path(__file__).resolve().parent

TIERS: list[tuple[str, frozenset[str]]] = [
    (
        "base",
        frozenset(
            {
                "_json",
                "errors",
                "eras",
                "naming",
                "redact",
                "jsonc",
                "activity",
                "metrics",
                "private_files",
                "people",
                "telemetry",
            }
        ),
    ),
    ("config", frozenset({"config"})),
    ("replicas", frozenset({"replicas"})),
    ("replicas", frozenset({"replicas"})),
    ("replicas", frozenset({"replicas"})),
    ("replicas", frozenset({"replicas"})),
    ("model", frozenset({"model"})),
    ("tools", frozenset({"tools"})),
    ("relay", frozenset({"relay"})),
    ("oauth", frozenset({"oauth"})),
    ("upstream", frozenset({"upstream"})),
    ("catalog", frozenset({"catalog"})),
    ("agent", frozenset({"agent"})),
    ("gateway", frozenset({"gateway"})),
    ("faces", frozenset({"faces"})),
    ("http", frozenset({"http"})),
    ("cli", frozenset({"cli"})),
    ("entry points", frozenset({"__init__", "__main__"})),
]
"""Lowest first: a module may import from its own tier and the tiers below it, never above. Each entry is a module
or a package (then every module in it)."""

ALLOWED: dict[str, set[str]] = {
    "__init__": {"config", "errors", "gateway.core"},
    "__main__": {"cli.main"},
    "_json": set(),
    "activity": set(),
    "agent": set(),
    "agent.calls": {"_json", "errors", "model.messages", "model.xml_calls", "relay.asking", "tools.arguments"},
    "agent.loop": {
        "_json",
        "activity",
        "agent.calls",
        "agent.offer",
        "agent.registry",
        "agent.results",
        "catalog",
        "config",
        "errors",
        "model.client",
        "model.messages",
        "model.profile",
        "model.xml_calls",
        "relay.asking",
        "tools.arguments",
        "tools.results",
    },
    "agent.offer": {"_json", "agent.registry", "catalog", "config", "model.messages", "model.profile"},
    "agent.registry": {"catalog", "catalog.search", "errors", "model.messages", "tools.schema"},
    "agent.results": {"model.messages"},
    "catalog": {"catalog.search", "config", "errors", "naming", "upstream.connection"},
    "catalog.search": {"_json"},
    "cli": set(),
    "cli.commands": {
        "agent.results",
        "catalog",
        "cli.common",
        "cli.doctor",
        "cli.terminal",
        "config",
        "errors",
        "faces.mcp.first_answer",
        "faces.mcp.stdio",
        "gateway.core",
    },
    "cli.common": {"cli.token", "config", "errors", "gateway.core"},
    "cli.doctor": {"agent.loop", "agent.offer", "catalog", "errors", "gateway.core", "upstream.connection"},
    "cli.install": {"errors", "jsonc"},
    "cli.installing": {"cli.common", "cli.install", "config", "errors", "redact"},
    "cli.login": {
        "cli.common",
        "config",
        "errors",
        "gateway.core",
        "gateway.logins",
        "oauth.logins",
        "people",
        "upstream.connection",
    },
    "cli.main": {
        "cli.commands",
        "cli.common",
        "cli.install",
        "cli.installing",
        "cli.login",
        "cli.serve",
        "config",
        "errors",
        "faces.mcp.first_answer",
        "redact",
    },
    "cli.serve": {
        "cli.common",
        "cli.token",
        "config",
        "errors",
        "gateway.core",
        "http.app",
        "http.connection_limits",
        "http.server",
        "redact",
        "telemetry",
    },
    "cli.terminal": {"tools.results"},
    "cli.token": {"private_files"},
    "config": {"config.defaults", "config.loading", "config.models", "config.oauth"},
    "config.defaults": set(),
    "config.loading": {
        "_json",
        "config.defaults",
        "config.models",
        "config.variables",
        "errors",
        "jsonc",
        "naming",
        "private_files",
    },
    "config.models": {"config.oauth", "config.serve"},
    "config.oauth": set(),
    "config.serve": {"config.oauth", "config.tokens"},
    "config.tokens": set(),
    "config.variables": {"errors"},
    "eras": set(),
    "errors": set(),
    "faces": set(),
    "faces.anthropic": {
        "_json",
        "agent.results",
        "errors",
        "faces.openai.app",
        "faces.openai.request",
        "faces.openai.writer",
        "model.profile",
    },
    "faces.caller": set(),
    "faces.mcp": set(),
    "faces.mcp.editors": {"catalog", "gateway.core", "relay.asking", "relay.editor"},
    "faces.mcp.fast": {"_json", "eras", "relay.editor"},
    "faces.mcp.first_answer": {"eras"},
    "faces.mcp.gateway_tools": {
        "_json",
        "agent.calls",
        "agent.loop",
        "agent.offer",
        "agent.results",
        "catalog",
        "errors",
        "gateway.core",
        "gateway.logins",
        "oauth.vault",
        "relay.asking",
    },
    "faces.mcp.server": {
        "agent.loop",
        "catalog",
        "eras",
        "errors",
        "faces.caller",
        "faces.mcp.editors",
        "faces.mcp.fast",
        "faces.mcp.first_answer",
        "faces.mcp.gateway_tools",
        "gateway.core",
        "people",
        "relay.asking",
        "relay.editor",
        "relay.rounds",
    },
    "faces.mcp.stdio": {"agent.loop", "faces.mcp.first_answer", "faces.mcp.server", "gateway.core"},
    "faces.openai": set(),
    "faces.openai.app": {
        "_json",
        "activity",
        "agent.results",
        "errors",
        "faces.caller",
        "faces.openai.leaving",
        "faces.openai.request",
        "faces.openai.writer",
        "gateway.core",
        "model.messages",
        "people",
        "relay.asking",
        "relay.rounds",
        "replicas.budgets",
    },
    "faces.openai.leaving": {"faces.caller"},
    "faces.openai.models": {"agent.loop", "faces.openai.request", "model.messages", "model.profile"},
    "faces.openai.request": {
        "_json",
        "agent.loop",
        "agent.offer",
        "catalog",
        "errors",
        "model.messages",
        "model.profile",
    },
    "faces.openai.writer": {
        "_json",
        "agent.offer",
        "agent.results",
        "errors",
        "faces.openai.request",
        "model.messages",
        "model.profile",
    },
    "faces.response_store": {"errors", "model.messages"},
    "faces.responses": {
        "_json",
        "agent.results",
        "errors",
        "faces.openai.app",
        "faces.openai.request",
        "faces.openai.writer",
        "faces.response_store",
        "model.profile",
    },
    "gateway": set(),
    "gateway.core": {
        "activity",
        "agent.loop",
        "catalog",
        "config",
        "errors",
        "gateway.listeners",
        "gateway.reconfigure",
        "gateway.records",
        "gateway.routes",
        "gateway.status",
        "metrics",
        "model.client",
        "model.profile",
        "oauth.logins",
        "redact",
        "relay.answers",
        "relay.asking",
        "upstream.connection",
        "upstream.pool",
    },
    "gateway.listeners": {"catalog", "redact"},
    "gateway.logins": {"gateway.core", "upstream.connection"},
    "gateway.reconfigure": {
        "activity",
        "catalog",
        "config",
        "errors",
        "redact",
        "upstream.connection",
        "upstream.pool",
    },
    "gateway.records": {"activity", "metrics", "relay.answers", "telemetry"},
    "gateway.routes": {"config", "errors", "oauth.vault", "people", "upstream.connection", "upstream.pool"},
    "gateway.status": {"catalog", "upstream.connection"},
    "http": set(),
    "http.admin": {"_json", "activity", "catalog", "errors", "gateway.core", "gateway.logins", "tools.results"},
    "http.app": {
        "errors",
        "faces.anthropic",
        "faces.caller",
        "faces.mcp.server",
        "faces.openai.app",
        "faces.openai.models",
        "faces.openai.writer",
        "faces.responses",
        "gateway.core",
        "http.admin",
        "http.bodies",
        "http.budget",
        "http.events",
        "http.guards",
        "http.oidc",
        "http.response_mode",
        "http.sessions",
        "http.shared_state",
        "http.tracing",
        "metrics",
        "telemetry",
    },
    "http.bodies": set(),
    "http.budget": {"errors", "faces.caller", "replicas.budgets"},
    "http.coalescing": set(),
    "http.connection_limits": {"config", "faces.caller", "http.coalescing"},
    "http.events": set(),
    "http.guards": {"faces.caller", "http.oidc"},
    "http.oidc": {"config"},
    "http.response_mode": {
        "_json",
        "faces.caller",
        "http.bodies",
        "http.events",
        "http.shared_sessions",
        "replicas.events",
    },
    "http.server": set(),
    "http.sessions": {"faces.caller", "http.bodies"},
    "http.shared_sessions": {"_json", "errors", "replicas.events", "replicas.store"},
    "http.shared_state": {
        "config.models",
        "errors",
        "faces.caller",
        "gateway.core",
        "http.events",
        "http.shared_sessions",
        "relay.rounds",
        "replicas.budgets",
        "replicas.cluster",
        "replicas.events",
        "replicas.store",
    },
    "http.tracing": {"telemetry"},
    "jsonc": set(),
    "metrics": set(),
    "model": set(),
    "model.client": {
        "_json",
        "activity",
        "config",
        "errors",
        "model.lane",
        "model.messages",
        "model.profile",
        "model.stream",
        "redact",
        "telemetry",
    },
    "model.lane": {"errors", "redact"},
    "model.messages": set(),
    "model.profile": set(),
    "model.stream": {"_json", "errors", "model.messages", "model.profile"},
    "model.xml_calls": set(),
    "naming": set(),
    "oauth": set(),
    "oauth.assertions": {"config", "oauth.vault"},
    "oauth.clients": {
        "config",
        "errors",
        "oauth.assertions",
        "oauth.dpop",
        "oauth.metadata",
        "oauth.redirect",
        "oauth.vault",
    },
    "oauth.dpop": set(),
    "oauth.logins": {
        "config",
        "oauth.clients",
        "oauth.redirect",
        "oauth.vault",
        "private_files",
        "redact",
        "relay.asking",
    },
    "oauth.metadata": set(),
    "oauth.redirect": set(),
    "oauth.vault": {"errors", "private_files", "redact"},
    "people": set(),
    "private_files": {"errors"},
    "redact": set(),
    "relay": set(),
    "relay.answers": {"config", "errors", "model.client", "relay.asking", "relay.sampling"},
    "relay.asking": set(),
    "relay.editor": {"eras", "relay.asking"},
    "relay.rounds": {"relay.asking"},
    "relay.sampling": {"errors", "model.messages", "model.profile", "tools.arguments", "tools.schema"},
    "replicas": set(),
    "replicas.budgets": {"config.serve", "errors", "metrics", "replicas.store"},
    "replicas.cluster": {"errors", "replicas.store"},
    "replicas.events": {"replicas.store"},
    "replicas.store": {"errors", "redact"},
    "telemetry": set(),
    "tools": set(),
    "tools.arguments": {"_json", "errors", "model.xml_calls", "tools.lenient"},
    "tools.lenient": {"errors"},
    "tools.results": {"_json"},
    "tools.schema": {"_json", "errors", "model.profile"},
    "upstream": set(),
    "upstream.both": {
        "config",
        "eras",
        "redact",
        "relay.asking",
        "upstream.listing",
        "upstream.requests",
        "upstream.supervision",
        "upstream.transport",
        "upstream.wire",
    },
    "upstream.connection": {
        "config",
        "errors",
        "oauth.logins",
        "redact",
        "relay.asking",
        "upstream.both",
        "upstream.listen",
        "upstream.listing",
        "upstream.requests",
        "upstream.signin",
        "upstream.supervision",
        "upstream.transport",
    },
    "upstream.lane": {"relay.asking", "upstream.transport"},
    "upstream.listen": {"errors", "upstream.supervision"},
    "upstream.listing": {"_json", "upstream.wire"},
    "upstream.pool": {
        "config",
        "errors",
        "oauth.logins",
        "relay.asking",
        "upstream.connection",
        "upstream.supervision",
    },
    "upstream.requests": {"_json", "config", "errors", "relay.asking", "upstream.wire"},
    "upstream.signin": {"config", "oauth.logins", "oauth.vault"},
    "upstream.supervision": {"config", "errors", "upstream.transport"},
    "upstream.inbound": {"_json"},
    "upstream.transport": {"config", "redact", "telemetry", "upstream.inbound"},
    "upstream.wire": {"eras", "relay.asking", "upstream.lane"},
}
"""Each module's imports inside the package, exactly: a new edge, or one no longer used, changes this table."""

MAX_MODULE_LINES = 400


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, name: str) -> set[str]:
    """The package's modules `path` imports; `from glm_mcp.pkg import x` counts as `pkg.x` when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "glm_mcp" and not node.module.startswith("glm_mcp."):
                continue
            base = node.module.removeprefix("glm_mcp").lstrip(".")
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base else alias.name
                found.add(submodule if submodule in MODULES else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("glm_mcp.") for a in node.names if a.name.startswith("glm_mcp.")}
    found.discard(name)
    found.discard("")
    return found


def _tier(module: str) -> int:
    for index, (_, members) in enumerate(TIERS):
        if module in members or module.split(".")[0] in members:
            return index
    raise AssertionError(f"{module} is in no tier: add it to TIERS")


def test_every_module_imports_exactly_what_its_row_allows() -> None:
    assert set(MODULES) == set(ALLOWED), "a module was added or removed: give it a row in ALLOWED"
    actual = {name: _imports(path, name) for name, path in MODULES.items()}
    unexpected = {name: sorted(actual[name] - ALLOWED[name]) for name in MODULES if actual[name] - ALLOWED[name]}
    unused = {name: sorted(ALLOWED[name] - actual[name]) for name in MODULES if ALLOWED[name] - actual[name]}
    assert unexpected == {}, "imports their row does not allow"
    assert unused == {}, "allowed edges nobody uses: take them out of ALLOWED"


def test_imports_point_down_the_tiers() -> None:
    upward = {
        f"{module} -> {target}": f"{TIERS[_tier(module)][0]} imports {TIERS[_tier(target)][0]}"
        for module, targets in ALLOWED.items()
        for target in targets
        if _tier(target) > _tier(module)
    }
    assert upward == {}


def test_the_import_resolver_sees_a_module_imported_from_its_package(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from glm_mcp import activity\nfrom glm_mcp.faces import anthropic\nfrom glm_mcp.config import X\n"
    )
    assert _imports(source, "sample") == {"activity", "faces.anthropic", "config"}


def test_no_module_is_over_the_line_limit() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_every_public_error_class_lives_in_errors_and_is_exported() -> None:
    defined_elsewhere = {
        f"{name}.{node.name}"
        for name, path in MODULES.items()
        if name != "errors"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and any(isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception")) for base in node.bases)
    }
    assert defined_elsewhere == set()
    errors = {
        name
        for name, value in vars(glm_mcp.errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == "glm_mcp.errors"
    }
    assert errors <= set(glm_mcp.__all__), sorted(errors - set(glm_mcp.__all__))
    assert all(getattr(glm_mcp, name) is getattr(glm_mcp.errors, name) for name in errors)


def test_loggers_are_named_by_their_module_and_servers_logs_by_a_namespace_that_is_no_package() -> None:
    named_otherwise: list[str] = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "logging.getLogger" and node.args):
                continue
            argument = ast.unparse(node.args[0])
            ours = argument.startswith(("'glm_mcp", "f'glm_mcp")) or not argument.startswith(("'", "f'"))
            if ours and argument != "__name__" and not argument.startswith("f'glm_mcp.servers."):
                named_otherwise.append(f"{name}: getLogger({argument})")
    assert named_otherwise == []
    assert "servers" not in {name.split(".")[0] for name in MODULES}


def _test_sources() -> list[Path]:
    """The project's own test files (not the virtual environments and node modules the tests install)."""
    return [
        path
        for path in TESTS.rglob("*.py")
        if not any(part.startswith(".") or part == "node_modules" for part in path.relative_to(TESTS).parts)
    ]


def test_no_test_module_imports_another() -> None:
    importing: list[str] = []
    for path in _test_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests."):
                last = node.module.rsplit(".", 1)[-1]
                if last.startswith("test_"):
                    importing.append(f"{path.relative_to(TESTS)}: {node.module}")
    assert importing == [], "shared helpers live in tests/helpers.py or in fixtures"


def test_waits_longer_than_five_seconds_in_tests_say_why() -> None:
    silent: list[str] = []
    for path in _test_sources():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func).endswith(("fail_after", "move_on_after"))):
                continue
            seconds = node.args[0] if node.args else None
            if isinstance(seconds, ast.Constant) and isinstance(seconds.value, int | float) and seconds.value > 5:
                if "#" not in lines[node.lineno - 1]:
                    silent.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert silent == [], "say on the line why the wait is that long (a hang guard, a slow start…)"
