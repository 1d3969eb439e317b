# The Kubernetes objects of infra/k8s/base, applied with the values only Terraform knows. The
# manifests carry __TOKENS__ in their place so that the files stay plain, valid Kubernetes YAML
# (validated offline by `make lint-infra`). Second apply only: -var apply_k8s=true.
locals {
  image_repository = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/recsys"
  k8s_dir          = "${path.module}/../k8s/base"

  k8s_raw_docs = flatten([
    for file_name in sort(fileset(local.k8s_dir, "*.yaml")) : [
      for doc in split("\n---\n", file("${local.k8s_dir}/${file_name}")) : doc
      if file_name != "kustomization.yaml" && try(yamldecode(doc).kind, null) != null
    ]
  ])

  # Keys come from the raw documents, so that they are known at plan time.
  k8s_docs = {
    for doc in local.k8s_raw_docs :
    "${yamldecode(doc).kind}/${yamldecode(doc).metadata.name}" => yamldecode(
      replace(replace(replace(replace(replace(replace(doc,
        "__PROJECT_ID__", var.project_id),
        "__ARTIFACT_BUCKET__", google_storage_bucket.artifacts.name),
        "__DB_INSTANCE__", google_sql_database_instance.recsys.connection_name),
        "__API_IP__", google_compute_address.api.address),
        "__IMAGE_REPOSITORY__", local.image_repository),
      "__IMAGE_TAG__", var.image_tag)
    )
  }

  k8s_namespaced = { for key, doc in local.k8s_docs : key => doc if doc.kind != "Namespace" }
}

resource "kubernetes_manifest" "namespace" {
  count = var.apply_k8s ? 1 : 0

  manifest = local.k8s_docs["Namespace/${local.k8s_namespace}"]
}

resource "kubernetes_manifest" "recsys" {
  for_each = var.apply_k8s ? local.k8s_namespaced : {}

  manifest = each.value
  # The HPA owns the replica count; Cloud Build's `kubectl set image` changes the image between
  # applies (pass -var image_tag=<deployed tag> to keep them in step).
  computed_fields = ["metadata.labels", "metadata.annotations", "spec.replicas"]

  depends_on = [kubernetes_manifest.namespace, kubernetes_secret_v1.db]
}

# The database URL holds the password: a Secret, filled from the generated password (the copy in
# Secret Manager is the one people read), consumed as RECSYS_DATABASE_URL by every workload.
resource "kubernetes_secret_v1" "db" {
  count = var.apply_k8s ? 1 : 0

  metadata {
    name      = "recsys-db"
    namespace = local.k8s_namespace
    labels = {
      "app.kubernetes.io/part-of" = "recsys"
    }
  }

  data = {
    RECSYS_DATABASE_URL = "postgresql+asyncpg://${google_sql_user.recsys.name}:${random_password.db.result}@127.0.0.1:5432/${google_sql_database.recsys.name}"
  }

  depends_on = [kubernetes_manifest.namespace]
}
