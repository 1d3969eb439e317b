# Least privilege: one Google service account per workload, each bound to one Kubernetes service
# account (infra/k8s/base/serviceaccounts.yaml) by Workload Identity. No keys are ever created.
locals {
  workloads = {
    api     = "Serves recommendations: reads model artifacts, connects to Cloud SQL."
    train   = "Nightly training: reads ratings from Cloud SQL, writes model artifacts."
    migrate = "Schema migrations and the seed: Cloud SQL only."
  }
  k8s_namespace = "recsys"
}

resource "google_service_account" "workload" {
  for_each = local.workloads

  account_id   = "${var.name}-${each.key}"
  display_name = "${var.name} ${each.key}"
  description  = each.value
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each = local.workloads

  service_account_id = google_service_account.workload[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${local.k8s_namespace}/${var.name}-${each.key}]"

  depends_on = [google_container_cluster.recsys]
}

# The Cloud SQL Auth Proxy sidecar of every workload.
resource "google_project_iam_member" "workload_sql_client" {
  for_each = local.workloads

  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = google_service_account.workload[each.key].member
}

# The API only reads artifacts.
resource "google_storage_bucket_iam_member" "api_reads_artifacts" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.workload["api"].member
}

# Training writes versions, moves LATEST and prunes old versions (--keep): create and delete.
resource "google_storage_bucket_iam_member" "train_writes_artifacts" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.workload["train"].member
}

# GKE nodes: logs, metrics and image pulls only (not the default compute service account).
resource "google_service_account" "nodes" {
  account_id   = "${var.name}-gke-nodes"
  display_name = "${var.name} GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.nodes.member
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.nodes.member
}

# Cloud Build (cloudbuild.yaml serviceAccount): push images, run the migrate Job, roll the Deployment.
resource "google_service_account" "deployer" {
  account_id   = "${var.name}-deployer"
  display_name = "${var.name} Cloud Build deployer"
}

resource "google_artifact_registry_repository_iam_member" "deployer_push" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deployer.member
}

resource "google_project_iam_member" "deployer" {
  for_each = toset([
    "roles/container.developer",
    "roles/logging.logWriter",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.deployer.member
}
