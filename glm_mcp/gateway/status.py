"""The gateway's state as JSON-ready data: what `/readyz`, `/admin/status`, the status page, `doctor` and the metrics
show. Never holds secrets."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict

from glm_mcp.catalog import Catalog
from glm_mcp.upstream.connection import ServerState, Upstream

StateName = Literal["disabled", "starting", "ready", "restarting", "failed", "stopped", "needs login"]


class Conflict(TypedDict):
    name: str
    reason: str


class Quarantined(TypedDict):
    tool: str
    reason: str


class ServerStatus(TypedDict):
    """One server as `/readyz`, `/admin/status`, `glm-mcp doctor` and the metrics see it; never holds secrets."""

    state: StateName
    transport: Literal["stdio", "http", "sse", "inprocess", "bundled"]
    tools: int
    resources: int
    prompts: int
    restarts: int
    uptime_seconds: float | None
    error: NotRequired[str]
    notes: NotRequired[list[str]]
    quarantined: NotRequired[list[Quarantined]]
    filtered: NotRequired[list[str]]
    conflicts: NotRequired[list[Conflict]]


class GatewayStatus(TypedDict):
    ready: bool
    """Every enabled server is connected."""
    servers: dict[str, ServerStatus]
    tools: int
    config_error: NotRequired[str]


def server_status(upstream: Upstream, catalog: Catalog) -> ServerStatus:
    """One server's state, with what `catalog` exposes of it."""
    listing = upstream.listing
    status: ServerStatus = {
        "state": ServerState.NEEDS_LOGIN.value if upstream.signin.waiting else upstream.state.value,
        "transport": upstream.config.type,
        "tools": sum(1 for entry, _ in catalog.tools.values() if entry.server == upstream.name),
        "resources": len(listing.resources) + len(listing.templates),
        "prompts": len(listing.prompts),
        "restarts": upstream.restarts,
        "uptime_seconds": round(time.time() - upstream.ready_since, 1) if upstream.ready_since else None,
    }
    if upstream.signin.waiting:  # the URL is the operator's to see (logs, status page), not `/readyz`'s
        status["error"] = f"waiting for a login: on the status page, or run `glm-mcp login {upstream.name}`"
    elif upstream.error and upstream.state is not ServerState.READY:
        status["error"] = upstream.error
    if listing.notes:
        status["notes"] = [f"{method} failed ({why}); counted as empty" for method, why in listing.notes]
    if listing.quarantined:
        status["quarantined"] = [{"tool": name, "reason": reason} for name, reason in listing.quarantined]
    if filtered := catalog.filtered.get(upstream.name):
        status["filtered"] = list(filtered)
    if conflicts := catalog.conflicts.get(upstream.name):
        status["conflicts"] = [{"name": clash.name, "reason": clash.reason} for clash in conflicts]
    return status


def gateway_status(upstreams: Mapping[str, Upstream], catalog: Catalog, problems: list[str]) -> GatewayStatus:
    """Every server's state; `ready` is true when every enabled server is connected; `problems` with the config
    (a refused reload, names left out) become `config_error`."""
    servers = {name: server_status(upstream, catalog) for name, upstream in upstreams.items()}
    enabled = [status for status in servers.values() if status["state"] != ServerState.DISABLED.value]
    status: GatewayStatus = {
        "ready": all(status["state"] == ServerState.READY.value for status in enabled),
        "servers": servers,
        "tools": len(catalog.tools),
    }
    if problems:
        status["config_error"] = "; ".join(problems)
    return status
