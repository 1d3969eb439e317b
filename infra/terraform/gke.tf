resource "google_container_cluster" "recsys" {
  name     = var.name
  location = var.region

  network    = google_compute_network.recsys.id
  subnetwork = google_compute_subnetwork.recsys.id

  # Node pools are managed below; the default one is removed at creation.
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = var.deletion_protection

  release_channel {
    channel = "REGULAR"
  }

  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  # Dataplane V2 enforces the NetworkPolicies of infra/k8s/base.
  datapath_provider = "ADVANCED_DATAPATH"

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_cidr
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.master_authorized_cidrs
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  # Enforces the project's Binary Authorization policy (the default one admits every image; a
  # stricter one can require images from the recsys repository only).
  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  enable_shielded_nodes       = true
  enable_intranode_visibility = true

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  resource_labels = {
    app = var.name
  }

  depends_on = [google_project_service.enabled]
}

# Sized for the API: e2-standard-4 (4 vCPU, 16 GiB) fits the 2-6 API pods the HPA runs (0.5-2 CPU,
# 1-2 GiB each, every model in memory) and the nightly training Job (up to 2 CPU, 6 GiB).
resource "google_container_node_pool" "api" {
  name     = "${var.name}-api"
  location = var.region
  cluster  = google_container_cluster.recsys.name

  autoscaling {
    min_node_count = var.api_node_count.min
    max_node_count = var.api_node_count.max
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.api_node_machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = 50
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    # Pods see the GKE metadata server (Workload Identity), never the node's credentials.
    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }

    labels = {
      app = var.name
    }
  }
}
