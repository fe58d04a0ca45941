"""Renders the Helm chart with Helm's own engine (helm-python-sdk) and validates every manifest against the
Kubernetes schemas (kubernetes-validate), offline. Run by `tests/test_deploy.py` in a virtual environment of its own;
prints one JSON object: for each case of values, the manifests or the error, and the lint report."""

from __future__ import annotations

import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml

KUBERNETES = "1.33.0"


def render(chart_dir: str, values: dict[str, object]) -> dict[str, object]:
    chart = helm.Chart.load(chart_dir)
    try:
        rendered = chart.render(values, name="team", namespace="tools", is_install=True)
    except helm.HelmError as exc:
        return {"error": str(exc)}
    manifests: list[dict[str, object]] = []
    problems: list[str] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith(".yaml"):
            continue
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            try:
                kubernetes_validate.validate(document, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{path} {document.get('kind')}: {exc.message}")
            manifests.append(document)
    return {"manifests": manifests, "problems": problems}


def main() -> None:
    chart_dir, cases = sys.argv[1], json.loads(sys.argv[2])
    lint = helm.lint(chart_dir, cases["default"], strict=True)
    rendered = {name: render(chart_dir, values) for name, values in cases.items()}
    sys.stdout.write(json.dumps({"lint": lint, "cases": rendered}) + "\n")


if __name__ == "__main__":
    main()
