variable "project_id" {
  description = "Google Cloud project that holds everything."
  type        = string
}

variable "region" {
  description = "Region for the cluster, the database, the bucket and the image repository."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "recsys"
}

variable "apply_k8s" {
  description = "Apply the Kubernetes objects of infra/k8s/base; false on the first apply, before the cluster exists."
  type        = bool
  default     = false
}

variable "image_tag" {
  description = "Tag of the recsys image the Kubernetes objects run (Cloud Build pushes one per commit: SHORT_SHA)."
  type        = string
  default     = "latest-release"
}

variable "master_authorized_cidrs" {
  description = "CIDR blocks allowed to reach the GKE control plane (kubectl, Cloud Build private pool, VPN)."
  type        = list(object({ cidr_block = string, display_name = string }))
  default     = []
}

variable "api_node_machine_type" {
  description = "Machine type of the API node pool: each API pod requests 0.5 CPU and 1 GiB and holds every model in memory."
  type        = string
  default     = "e2-standard-4"
}

variable "api_node_count" {
  description = "Node count bounds of the API node pool, per zone."
  type        = object({ min = number, max = number })
  default     = { min = 1, max = 3 }
}

variable "db_tier" {
  description = "Cloud SQL machine tier."
  type        = string
  default     = "db-custom-2-7680"
}

variable "db_availability_type" {
  description = "ZONAL or REGIONAL (high availability)."
  type        = string
  default     = "REGIONAL"

  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.db_availability_type)
    error_message = "db_availability_type must be ZONAL or REGIONAL."
  }
}

variable "deletion_protection" {
  description = "Protect the cluster and the database from terraform destroy."
  type        = bool
  default     = true
}

variable "subnet_cidr" {
  description = "Primary range of the cluster subnet."
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range for pods."
  type        = string
  default     = "10.20.0.0/14"
}

variable "services_cidr" {
  description = "Secondary range for services."
  type        = string
  default     = "10.24.0.0/20"
}

variable "master_cidr" {
  description = "The /28 the GKE control plane's private endpoint uses."
  type        = string
  default     = "172.16.0.0/28"
}
