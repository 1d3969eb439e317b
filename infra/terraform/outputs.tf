output "service_ip" {
  description = "The API's load balancer address (http://SERVICE_IP/healthz)."
  value       = google_compute_address.api.address
}

output "artifact_bucket" {
  description = "The model artifact bucket."
  value       = google_storage_bucket.artifacts.name
}

output "artifact_uri" {
  description = "RECSYS_ARTIFACT_URI on the cluster."
  value       = "gs://${google_storage_bucket.artifacts.name}/models"
}

output "db_connection_name" {
  description = "Cloud SQL instance connection name (the Auth Proxy's argument; Cloud Build's _DB_INSTANCE)."
  value       = google_sql_database_instance.recsys.connection_name
}

output "db_password_secret" {
  description = "Secret Manager secret that holds the database password."
  value       = google_secret_manager_secret.db_password.secret_id
}

output "image_repository" {
  description = "Artifact Registry path images are pushed to."
  value       = local.image_repository
}

output "cluster_name" {
  description = "GKE cluster name (gcloud container clusters get-credentials NAME --region REGION)."
  value       = google_container_cluster.recsys.name
}

output "deployer_service_account" {
  description = "Service account Cloud Build runs as."
  value       = google_service_account.deployer.email
}
