"""The Terraform in infra/terraform, parsed with python-hcl2: required resources and settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.helpers import K8S_DIR, ROOT, TERRAFORM_DIR

hcl2 = pytest.importorskip(
    "hcl2", reason="python-hcl2 is in the `infra` group (synced by default: uv sync --frozen)"
)


_HCL2_MARKERS = {"__is_block__", "__comments__"}


def _clean(value: Any) -> Any:
    """python-hcl2 keeps HCL quotes on labels and strings and adds markers: drop both."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in _HCL2_MARKERS}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _parse_all() -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            for key, blocks in _clean(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


@pytest.fixture(scope="module")
def tf() -> dict[str, list[Any]]:
    return _parse_all()


@pytest.fixture(scope="module")
def resources(tf: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Resources keyed ``type.name``."""
    found: dict[str, dict[str, Any]] = {}
    for block in tf["resource"]:
        for rtype, named in block.items():
            for name, body in named.items():
                found[f"{rtype}.{name}"] = body
    return found


def _one(body: dict[str, Any], key: str) -> dict[str, Any]:
    blocks = body[key]
    assert isinstance(blocks, list) and len(blocks) == 1, key
    result: dict[str, Any] = blocks[0]
    return result


def test_remote_state_is_a_gcs_backend_configured_at_init(tf: dict[str, list[Any]]) -> None:
    (terraform,) = tf["terraform"]
    (backend,) = terraform["backend"]
    # Partial configuration: bucket and prefix come from -backend-config, never from a file here.
    assert backend == {"gcs": {}}


def test_gke_cluster_is_private_with_workload_identity(
    resources: dict[str, dict[str, Any]],
) -> None:
    cluster = resources["google_container_cluster.recsys"]
    private = _one(cluster, "private_cluster_config")
    assert private["enable_private_nodes"] is True
    assert _one(cluster, "workload_identity_config")["workload_pool"] == (
        "${var.project_id}.svc.id.goog"
    )
    assert cluster["remove_default_node_pool"] is True


def test_api_node_pool_uses_gke_metadata_and_its_own_service_account(
    resources: dict[str, dict[str, Any]],
) -> None:
    pool = resources["google_container_node_pool.api"]
    node = _one(pool, "node_config")
    assert _one(node, "workload_metadata_config")["mode"] == "GKE_METADATA"
    assert node["service_account"] == "${google_service_account.nodes.email}"
    assert node["machine_type"] == "${var.api_node_machine_type}"
    assert "min_node_count" in _one(pool, "autoscaling")


def test_cloud_sql_is_private_ip_with_backups(resources: dict[str, dict[str, Any]]) -> None:
    instance = resources["google_sql_database_instance.recsys"]
    assert instance["database_version"].startswith("POSTGRES_")
    settings = _one(instance, "settings")
    ip = _one(settings, "ip_configuration")
    assert ip["ipv4_enabled"] is False
    assert ip["private_network"] == "${google_compute_network.recsys.id}"
    backup = _one(settings, "backup_configuration")
    assert backup["enabled"] is True
    assert backup["point_in_time_recovery_enabled"] is True
    assert "google_sql_database.recsys" in resources
    assert "google_sql_user.recsys" in resources


def test_db_password_is_generated_and_kept_in_secret_manager(
    resources: dict[str, dict[str, Any]],
) -> None:
    assert resources["google_sql_user.recsys"]["password"] == "${random_password.db.result}"
    version = resources["google_secret_manager_secret_version.db_password"]
    assert version["secret_data"] == "${random_password.db.result}"
    assert "random_password.db" in resources


def test_no_literal_password_anywhere_in_terraform() -> None:
    literal = re.compile(r'\b(password|secret_data)\s*=\s*"(?!\$\{)', re.IGNORECASE)
    for path in [*TERRAFORM_DIR.glob("*.tf"), *TERRAFORM_DIR.glob("*.tfvars.example")]:
        text = path.read_text(encoding="utf-8")
        assert not literal.search(text), f"{path.name}: a literal password"


def test_artifact_bucket_is_versioned_with_uniform_access(
    resources: dict[str, dict[str, Any]],
) -> None:
    bucket = resources["google_storage_bucket.artifacts"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert _one(bucket, "versioning")["enabled"] is True


def test_artifact_registry_is_a_docker_repository(resources: dict[str, dict[str, Any]]) -> None:
    repo = resources["google_artifact_registry_repository.images"]
    assert repo["format"] == "DOCKER"
    assert _one(repo, "docker_config")["immutable_tags"] is True


def test_iam_api_reads_and_train_writes_the_bucket(resources: dict[str, dict[str, Any]]) -> None:
    api = resources["google_storage_bucket_iam_member.api_reads_artifacts"]
    train = resources["google_storage_bucket_iam_member.train_writes_artifacts"]
    assert api["role"] == "roles/storage.objectViewer"
    assert api["member"] == '${google_service_account.workload["api"].member}'
    assert train["role"] == "roles/storage.objectAdmin"
    assert train["member"] == '${google_service_account.workload["train"].member}'
    # Least privilege: no workload gets a project-wide storage or owner/editor role.
    for key, body in resources.items():
        if key.startswith("google_project_iam_member."):
            role = body["role"]
            assert not role.startswith("roles/storage."), key
            assert role not in {"roles/owner", "roles/editor"}, key


def test_workload_identity_binds_each_kubernetes_service_account(
    resources: dict[str, dict[str, Any]], k8s_objects: dict[str, dict[str, Any]]
) -> None:
    binding = resources["google_service_account_iam_member.workload_identity"]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert "svc.id.goog[${local.k8s_namespace}/${var.name}-${each.key}]" in binding["member"]
    iam_text = (TERRAFORM_DIR / "iam.tf").read_text(encoding="utf-8")
    workloads = set(re.findall(r"^\s{4}(\w+)\s+=\s+\"", iam_text, re.MULTILINE))
    assert workloads == {"api", "train", "migrate"}
    for workload in workloads:
        account = k8s_objects[f"ServiceAccount/recsys-{workload}"]
        annotation = account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert annotation == f"recsys-{workload}@__PROJECT_ID__.iam.gserviceaccount.com"


def test_kubernetes_resources_sit_behind_apply_k8s(
    tf: dict[str, list[Any]], resources: dict[str, dict[str, Any]]
) -> None:
    variables = {name: body for block in tf["variable"] for name, body in block.items()}
    assert variables["apply_k8s"]["type"] in {"bool", "${bool}"}
    assert variables["apply_k8s"]["default"] is False
    k8s = {key: body for key, body in resources.items() if key.startswith("kubernetes_")}
    assert set(k8s) >= {
        "kubernetes_manifest.namespace",
        "kubernetes_manifest.recsys",
        "kubernetes_secret_v1.db",
    }
    for key, body in k8s.items():
        guard = body.get("count", body.get("for_each"))
        assert isinstance(guard, str) and "var.apply_k8s" in guard, key


def test_every_manifest_token_is_replaced_by_terraform() -> None:
    k8s_tf = (TERRAFORM_DIR / "k8s.tf").read_text(encoding="utf-8")
    replaced = set(re.findall(r'"(__[A-Z_]+__)"', k8s_tf))
    used = {
        token
        for path in (K8S_DIR / "base").glob("*.yaml")
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")  # comments may name tokens in general
        for token in re.findall(r"__[A-Z_]+__", line)
    }
    assert used, "the base manifests carry no tokens: this test checks nothing"
    assert used <= replaced, f"tokens Terraform leaves in place: {sorted(used - replaced)}"


def test_outputs_name_service_ip_bucket_and_db_connection(tf: dict[str, list[Any]]) -> None:
    outputs = {name for block in tf["output"] for name in block}
    assert {"service_ip", "artifact_bucket", "db_connection_name"} <= outputs


def test_tfvars_example_sets_only_declared_variables(tf: dict[str, list[Any]]) -> None:
    declared = {name for block in tf["variable"] for name in block}
    example: Path = TERRAFORM_DIR / "terraform.tfvars.example"
    with example.open(encoding="utf-8") as handle:
        assigned = set(_clean(hcl2.load(handle)))
    assert "project_id" in assigned
    assert assigned <= declared, f"undeclared: {sorted(assigned - declared)}"
    assert not (ROOT / "infra" / "terraform" / "terraform.tfvars").exists() or _ignored(
        "infra/terraform/terraform.tfvars"
    )


def _ignored(relative: str) -> bool:
    import subprocess

    result = subprocess.run(
        ["git", "check-ignore", "-q", relative], cwd=ROOT, check=False, capture_output=True
    )
    return result.returncode == 0
