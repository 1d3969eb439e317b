terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.20"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Remote state in a GCS bucket, configured at init (never a local tfstate in git):
  #   terraform init -backend-config="bucket=my-tf-state" -backend-config="prefix=recsys"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

# The cluster's address and CA exist only after the first apply: the Kubernetes resources sit
# behind var.apply_k8s (first apply false, then true).
provider "kubernetes" {
  host                   = "https://${google_container_cluster.recsys.endpoint}"
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = base64decode(google_container_cluster.recsys.master_auth[0].cluster_ca_certificate)
}
