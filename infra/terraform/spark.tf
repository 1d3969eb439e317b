# ALS on Spark (infra/k8s/base/train-spark-cronjob.yaml): the driver runs as the Kubernetes
# service account recsys-train-spark with the training Google service account (it reads the
# database and writes artifacts, as the implicit job does); the executors get their own Google
# service account that can only touch the Parquet export and Spark's checkpoints.
locals {
  # RECSYS_ARTIFACT_URI is gs://BUCKET/models (configmap.yaml); exports go under spark-exports/.
  spark_export_prefix = "projects/_/buckets/${google_storage_bucket.artifacts.name}/objects/models/spark-exports/"
}

resource "google_service_account_iam_member" "train_spark_workload_identity" {
  service_account_id = google_service_account.workload["train"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${local.k8s_namespace}/${var.name}-train-spark]"

  depends_on = [google_container_cluster.recsys]
}

resource "google_service_account" "spark_executor" {
  account_id   = "${var.name}-spark-executor"
  display_name = "${var.name} spark executor"
  description  = "Spark executors of the ALS training Job: read the Parquet export, write checkpoints."
}

resource "google_service_account_iam_member" "spark_executor_workload_identity" {
  service_account_id = google_service_account.spark_executor.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${local.k8s_namespace}/${var.name}-spark-executor]"

  depends_on = [google_container_cluster.recsys]
}

# Objects under models/spark-exports/ only (read the export, write and delete checkpoints); the
# bucket itself for listing, which GCS checks on the bucket, not on an object name.
resource "google_storage_bucket_iam_member" "spark_executor_exports" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectUser"
  member = google_service_account.spark_executor.member

  condition {
    title       = "spark-exports-only"
    description = "The Parquet exports and Spark checkpoints, not the model versions."
    expression  = "resource.name == \"projects/_/buckets/${google_storage_bucket.artifacts.name}\" || resource.name.startsWith(\"${local.spark_export_prefix}\")"
  }
}
