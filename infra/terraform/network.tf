resource "google_compute_network" "recsys" {
  name                    = var.name
  auto_create_subnetworks = false

  depends_on = [google_project_service.enabled]
}

# Explicit lowest-priority deny of all ingress; GKE adds the allow rules its nodes and load
# balancers need at higher priority.
resource "google_compute_firewall" "deny_all_ingress" {
  name      = "${var.name}-deny-all-ingress"
  network   = google_compute_network.recsys.id
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }

  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "recsys" {
  name                     = "${var.name}-nodes"
  region                   = var.region
  network                  = google_compute_network.recsys.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Private nodes have no public address: Cloud NAT gives them egress (the migrate Job fetches the
# dataset; images come from Artifact Registry over Private Google Access).
resource "google_compute_router" "recsys" {
  name    = var.name
  region  = var.region
  network = google_compute_network.recsys.id
}

resource "google_compute_router_nat" "recsys" {
  name                               = var.name
  router                             = google_compute_router.recsys.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Private services access: Cloud SQL gets an address inside this VPC and no public IP.
resource "google_compute_global_address" "private_services" {
  name          = "${var.name}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.recsys.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.recsys.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

# The API's load balancer address: stable across Service re-creation.
resource "google_compute_address" "api" {
  name   = "${var.name}-api"
  region = var.region

  depends_on = [google_project_service.enabled]
}
