"""Compose, Kubernetes, Terraform, Dockerfile and Cloud Build agree with the app itself: the
RECSYS_ variables are Settings fields, commands are real CLI commands, probes hit real routes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from recsys.cli import app as cli_app
from recsys.settings import Settings
from tests.infra.helpers import K8S_DIR, ROOT, TERRAFORM_DIR, load_yaml_documents

API_PORT = 8000
SETTINGS_VARS = {f"RECSYS_{name.upper()}" for name in Settings.model_fields}
RECSYS_VAR = re.compile(r"\bRECSYS_[A-Z0-9_]+\b")
# Compose interpolation variables (${RECSYS_BUCKET:-...}) are compose's own, not the app's.
COMPOSE_ONLY_VARS = {"RECSYS_BUCKET", "RECSYS_IMAGE_TAG", "RECSYS_PORT"}


def _pod_specs(k8s_objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {}
    for key, obj in k8s_objects.items():
        spec = obj.get("spec", {})
        if obj["kind"] in {"Deployment", "Job"}:
            specs[key] = spec["template"]["spec"]
        elif obj["kind"] == "CronJob":
            specs[key] = spec["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def _app_containers(k8s_objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Containers that run the recsys image, keyed ``Kind/name/container``."""
    found: dict[str, dict[str, Any]] = {}
    for key, spec in _pod_specs(k8s_objects).items():
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            if container["image"].startswith("__IMAGE_REPOSITORY__:"):
                found[f"{key}/{container['name']}"] = container
    return found


def _env_names(container: dict[str, Any], k8s_objects: dict[str, dict[str, Any]]) -> set[str]:
    names = {item["name"] for item in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(k8s_objects[f"ConfigMap/{source['configMapRef']['name']}"]["data"])
    return names


def _cli_command(path: list[str]) -> Any:
    # Typer ships its own copy of click: look commands up by duck typing, not isinstance.
    command: Any = typer.main.get_command(cli_app)
    for name in path:
        found = getattr(command, "commands", {}).get(name)
        assert found is not None, f"`recsys {' '.join(path)}` is not a command of the CLI"
        command = found
    return command


def _check_cli_args(args: list[str]) -> None:
    """``args`` (after ``recsys``) name a real command and real options of it."""
    words = [arg for arg in args if not arg.startswith("-")]
    group: Any = typer.main.get_command(cli_app)
    path: list[str] = []
    for word in words:
        if not hasattr(group, "commands"):
            break
        path.append(word)
        group = _cli_command(path)
    options = {opt for param in group.params for opt in getattr(param, "opts", [])}
    for arg in args:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"recsys {' '.join(path)}: no option {arg}"


def test_settings_fields_include_the_api_settings() -> None:
    assert {"RECSYS_DATABASE_URL", "RECSYS_ARTIFACT_URI", "RECSYS_MODELS"} <= SETTINGS_VARS


def test_every_recsys_variable_in_deployment_files_is_a_settings_field() -> None:
    files = [
        ROOT / "docker-compose.yaml",
        ROOT / "cloudbuild.yaml",
        ROOT / "Dockerfile",
        *K8S_DIR.rglob("*.yaml"),
        *TERRAFORM_DIR.glob("*.tf"),
    ]
    for path in files:
        names = set(RECSYS_VAR.findall(path.read_text(encoding="utf-8")))
        if path.name == "docker-compose.yaml":
            names -= COMPOSE_ONLY_VARS
        unknown = names - SETTINGS_VARS
        assert not unknown, f"{path.relative_to(ROOT)}: not Settings fields: {sorted(unknown)}"


def test_kubernetes_app_containers_get_every_setting(
    k8s_objects: dict[str, dict[str, Any]],
) -> None:
    containers = _app_containers(k8s_objects)
    assert set(containers) >= {
        "Deployment/recsys-api/api",
        "CronJob/recsys-train/train",
        "Job/recsys-migrate/migrate",
    }
    for key, container in containers.items():
        if key.endswith("/fetch-data"):
            continue  # only downloads the dataset: needs DATA_DIR and DATASET, no database
        missing = SETTINGS_VARS - _env_names(container, k8s_objects)
        assert not missing, f"{key}: settings not set: {sorted(missing)}"


def test_database_url_comes_from_the_secret_terraform_creates(
    k8s_objects: dict[str, dict[str, Any]],
) -> None:
    k8s_tf = (TERRAFORM_DIR / "k8s.tf").read_text(encoding="utf-8")
    assert re.search(r'name\s*=\s*"recsys-db"', k8s_tf)
    assert re.search(r"RECSYS_DATABASE_URL\s*=", k8s_tf)
    assert "RECSYS_DATABASE_URL" not in k8s_objects["ConfigMap/recsys-config"]["data"]
    for key, container in _app_containers(k8s_objects).items():
        for item in container.get("env", []):
            if item["name"] == "RECSYS_DATABASE_URL":
                ref = item["valueFrom"]["secretKeyRef"]
                assert ref == {"name": "recsys-db", "key": "RECSYS_DATABASE_URL"}, key


def test_compose_app_services_get_every_setting(compose: dict[str, Any]) -> None:
    for name in ("migrate", "train", "api"):
        service = compose["services"][name]
        missing = SETTINGS_VARS - set(service["environment"])
        assert not missing, f"compose {name}: settings not set: {sorted(missing)}"


def test_compose_fails_fast_without_the_database_password() -> None:
    text = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
    uses = re.findall(r"\$\{POSTGRES_PASSWORD(:\?|:-|-|\})", text)
    assert uses and all(use == ":?" for use in uses), uses


def test_compose_startup_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    api_deps = services["api"]["depends_on"]
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"
    assert api_deps["train"]["condition"] == "service_completed_successfully"
    assert services["gcs"]["image"].startswith("fsouza/fake-gcs-server:")
    assert services["jupyter"]["profiles"] == ["notebook"]


def test_compose_commands_are_cli_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    _check_cli_args(services["migrate"]["command"])
    _check_cli_args(services["api"]["command"])
    assert ["--port", str(API_PORT)] == services["api"]["command"][-2:]
    for model in re.findall(r"for m in ([\w ]+);", services["train"]["command"][0])[0].split():
        _check_cli_args(["train", "--model-type", model])


def test_kubernetes_commands_are_cli_commands(k8s_objects: dict[str, dict[str, Any]]) -> None:
    containers = _app_containers(k8s_objects)
    _check_cli_args(containers["Deployment/recsys-api/api"]["args"])
    _check_cli_args(containers["Job/recsys-migrate/migrate"]["args"])
    _check_cli_args(["data", "fetch"])
    script = containers["CronJob/recsys-train/train"]["args"][0]
    models = re.findall(r"for model in ([\w ]+);", script)[0].split()
    assert {"als", "item_knn"} <= set(models)
    for model in models:
        _check_cli_args(["train", "--model-type", model])


def test_dockerfile_entrypoint_and_port_match_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    runtime = text.split("AS runtime", 1)[1]
    assert 'ENTRYPOINT ["recsys"]' in runtime
    cmd = re.search(r"^CMD (\[.*\])$", runtime, re.MULTILINE)
    assert cmd is not None
    args = [part.strip().strip('"') for part in cmd.group(1).strip("[]").split(",")]
    _check_cli_args(args)
    assert f"EXPOSE {API_PORT}" in runtime
    assert f"127.0.0.1:{API_PORT}/healthz" in runtime
    assert re.search(r"^USER 10001$", runtime, re.MULTILINE)


def test_probes_hit_the_apps_health_routes(k8s_objects: dict[str, dict[str, Any]]) -> None:
    from recsys.api.routes.health import router

    routes = {getattr(route, "path", None) for route in router.routes}
    assert {"/healthz", "/readyz"} <= routes
    api = _app_containers(k8s_objects)["Deployment/recsys-api/api"]
    assert api["ports"] == [{"name": "http", "containerPort": API_PORT}]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize(
    "key", ["Deployment/recsys-api", "CronJob/recsys-train", "Job/recsys-migrate"]
)
def test_pods_are_hardened(k8s_objects: dict[str, dict[str, Any]], key: str) -> None:
    spec = _pod_specs(k8s_objects)[key]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "limits" in container["resources"], container["name"]
    proxies = [c for c in spec.get("initContainers", []) if c["name"] == "cloud-sql-proxy"]
    assert len(proxies) == 1 and proxies[0]["restartPolicy"] == "Always"


def test_kustomization_lists_every_base_manifest() -> None:
    base = K8S_DIR / "base"
    (kustomization,) = load_yaml_documents(base / "kustomization.yaml")
    files = {p.name for p in base.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_cloud_build_fills_every_migrate_job_token() -> None:
    job = (K8S_DIR / "jobs" / "migrate-job.yaml").read_text(encoding="utf-8")
    tokens = {
        token
        for line in job.splitlines()
        if not line.lstrip().startswith("#")
        for token in re.findall(r"__[A-Z_]+__", line)
    }
    (build,) = load_yaml_documents(ROOT / "cloudbuild.yaml")
    migrate = next(step for step in build["steps"] if step["id"] == "migrate")
    script = migrate["args"][-1]
    assert tokens and all(f"s|{token}|" in script for token in tokens), tokens
    assert "infra/k8s/jobs/migrate-job.yaml" in script


def test_cloud_build_steps_and_no_hard_coded_project() -> None:
    text = (ROOT / "cloudbuild.yaml").read_text(encoding="utf-8")
    (build,) = load_yaml_documents(ROOT / "cloudbuild.yaml")
    steps = [step["id"] for step in build["steps"]]
    assert steps == ["test", "build", "build-spark", "push", "push-spark", "migrate", "rollout"]
    # The service image, and its training-spark variant for the Spark training Job (issue 18).
    assert build["images"] == ["${_IMAGE}:${SHORT_SHA}", "${_IMAGE}-spark:${SHORT_SHA}"]
    assert "docker.pkg.dev/${PROJECT_ID}/" in build["substitutions"]["_IMAGE"]
    # Every project reference is the built-in substitution.
    assert not re.search(r"projects/(?!\$\{PROJECT_ID\})", text)
