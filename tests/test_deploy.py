"""The deployment files: the Helm chart rendered by Helm's own engine and validated against the Kubernetes schemas
offline, its config read by glm-mcp itself; the compose file's set-up (two replicas, nginx, Redis) in one piece."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from glm_mcp.config import parse_config
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

CHART = ROOT / "deploy" / "helm" / "glm-mcp"
VENV = ROOT / "tests" / ".venvs" / "helm"
TOOLS = ("helm-python-sdk==0.2.2", "kubernetes-validate==1.37.0")
"""Helm's Go SDK (v4) through a C library, and the Kubernetes schemas: both offline, in a venv of their own."""

CASES: dict[str, dict[str, Any]] = {
    "default": {"secrets": {"glmMcpToken": "team-token"}},
    "external": {
        "secrets": {"glmMcpToken": "team-token", "zaiApiKey": "key"},
        "redis": {"enabled": False, "url": "rediss://:pw@cache.example:6380/0"},
        "autoscaling": {"enabled": True, "maxReplicas": 5},
        "otel": {"endpoint": "http://collector:4318"},
        "config": {"gateway": {"auth_tokens": ["${GLM_MCP_TOKEN}"], "limits": {"requests_per_minute": 120}}},
    },
    "no-token": {},
}


@functools.cache
def _rendered() -> dict[str, Any]:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TOOLS]
        subprocess.run(pip, check=True, timeout=600)
    script = str(ROOT / "tests" / "deploy_render.py")
    done = subprocess.run(
        [str(python), script, str(CHART), json.dumps(CASES)], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(done.stdout)


def _kinds(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in case["manifests"]}


def test_the_chart_renders_valid_kubernetes_objects_for_a_team_and_glm_mcp_reads_its_config() -> None:
    rendered = _rendered()
    assert rendered["lint"]["errors"] == [], rendered["lint"]
    default = rendered["cases"]["default"]
    assert default["problems"] == []
    kinds = _kinds(default)
    assert set(kinds) == {
        "ConfigMap/team-glm-mcp",
        "Secret/team-glm-mcp-secrets",
        "Deployment/team-glm-mcp",
        "Service/team-glm-mcp",
        "PodDisruptionBudget/team-glm-mcp",
        "Deployment/team-glm-mcp-redis",
        "Service/team-glm-mcp-redis",
    }
    deployment = kinds["Deployment/team-glm-mcp"]
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["GLM_MCP_REDIS_URL"] == "redis://team-glm-mcp-redis:6379/0"
    # The config the replicas read is one glm-mcp accepts, with the Service's names allowed as hosts.
    text = kinds["ConfigMap/team-glm-mcp"]["data"]["glm-mcp.json"]
    config = parse_config(json.loads(text), {"GLM_MCP_TOKEN": "team-token", "POD_NAME": "team-glm-mcp-0"})
    assert "team-glm-mcp.tools.svc.cluster.local" in config.gateway.allowed_hosts
    assert config.gateway.replica_name == "team-glm-mcp-0"
    assert [token.get_secret_value() for token in config.gateway.auth_tokens or ()] == ["team-token"]


def test_an_external_redis_autoscaling_and_traces_render_valid_objects_and_a_missing_token_is_refused() -> None:
    cases = _rendered()["cases"]
    external = cases["external"]
    assert external["problems"] == []
    kinds = _kinds(external)
    assert "Deployment/team-glm-mcp-redis" not in kinds
    assert kinds["HorizontalPodAutoscaler/team-glm-mcp"]["spec"]["maxReplicas"] == 5
    assert "replicas" not in kinds["Deployment/team-glm-mcp"]["spec"]  # the autoscaler owns the count
    secret = kinds["Secret/team-glm-mcp-secrets"]["stringData"]
    assert secret["GLM_MCP_REDIS_URL"] == "rediss://:pw@cache.example:6380/0"  # a URL with a password: a Secret
    container = kinds["Deployment/team-glm-mcp"]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    assert "GLM_MCP_REDIS_URL" not in env
    assert "secrets.glmMcpToken" in cases["no-token"]["error"]


def test_the_compose_file_runs_two_replicas_behind_nginx_on_one_redis() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [
        name for name, service in services.items() if service.get("build") or "glm-mcp" in str(service.get("image"))
    ]
    assert len(replicas) == 2
    for name in replicas:
        environment = services[name]["environment"]
        assert environment["GLM_MCP_REDIS_URL"] == "redis://redis:6379/0"
        assert "redis" in services[name]["depends_on"]
    nginx = (ROOT / "deploy" / "compose" / "nginx.conf").read_text()
    assert all(f"server {name}:8765" in nginx for name in replicas)
    assert "proxy_buffering off" in nginx  # server-sent events pass through as they come
