"""The API pods tell Prometheus where /metrics is, and that is where the app serves it."""

from __future__ import annotations

from typing import Any

import httpx

from recsys.api import create_app
from recsys.settings import Settings
from tests.infra.helpers import ROOT, load_yaml_documents


def api_pod(k8s_objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    template: dict[str, Any] = k8s_objects["Deployment/recsys-api"]["spec"]["template"]
    return template


def test_the_api_pods_carry_the_scrape_annotations(
    k8s_objects: dict[str, dict[str, Any]],
) -> None:
    annotations = api_pod(k8s_objects)["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    [api] = [c for c in api_pod(k8s_objects)["spec"]["containers"] if c["name"] == "api"]
    ports = {p["containerPort"] for p in api["ports"]}
    assert int(annotations["prometheus.io/port"]) in ports
    # The port the annotation names is the one `recsys serve` listens on.
    assert api["args"][api["args"].index("--port") + 1] == annotations["prometheus.io/port"]


def test_the_network_policy_lets_the_scrape_port_in(
    k8s_objects: dict[str, dict[str, Any]],
) -> None:
    port = int(api_pod(k8s_objects)["metadata"]["annotations"]["prometheus.io/port"])
    policy = k8s_objects["NetworkPolicy/recsys-api-http"]["spec"]
    allowed = {p["port"] for rule in policy["ingress"] for p in rule.get("ports", [])}
    assert port in allowed


async def test_the_annotated_path_answers_prometheus_text(
    k8s_objects: dict[str, dict[str, Any]], tiny_sqlite_url: str
) -> None:
    # No lifespan needed: /metrics reads the process's registry, not the app's state.
    path = api_pod(k8s_objects)["metadata"]["annotations"]["prometheus.io/path"]
    app = create_app(
        Settings(database_url=tiny_sqlite_url, models=("popularity",), default_model="popularity")
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE recsys_http_requests_total counter" in response.text


def test_the_optional_service_monitor_selects_the_api_service_and_its_named_port(
    k8s_objects: dict[str, dict[str, Any]],
) -> None:
    # For Prometheus Operator clusters; outside infra/k8s (offline validation has no CRDs).
    [monitor] = load_yaml_documents(ROOT / "infra" / "prometheus" / "servicemonitor.yaml")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    service = k8s_objects["Service/recsys-api"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    port_names = {p["name"] for p in service["spec"]["ports"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == api_pod(k8s_objects)["metadata"]["annotations"]["prometheus.io/path"]
