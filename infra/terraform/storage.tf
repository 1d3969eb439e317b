# Model artifacts: {model_type}/{version}/... and LATEST under gs://BUCKET/models.
resource "google_storage_bucket" "artifacts" {
  name     = "${var.project_id}-${var.name}-artifacts"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Versioning keeps an overwritten LATEST recoverable; old object versions expire after 30 days.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  labels = {
    app = var.name
  }

  depends_on = [google_project_service.enabled]
}

resource "google_artifact_registry_repository" "images" {
  repository_id = var.name
  location      = var.region
  format        = "DOCKER"
  description   = "recsys images, one tag per commit (Cloud Build)."

  # A tag names one image forever: the manifests pin tags (commit SHAs), and a tag cannot move.
  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  labels = {
    app = var.name
  }

  depends_on = [google_project_service.enabled]
}
