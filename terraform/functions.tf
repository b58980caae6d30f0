# The staged sources (scripts/stage): one object per function group, named
# by the hash of its zip, so a group's functions are rebuilt exactly when its
# source changes.
resource "google_storage_bucket" "sources" {
  project                     = var.project
  name                        = "${var.project}-connectors-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # It only ever holds staged zips.
  force_destroy = true

  depends_on = [terraform_data.apis_ready]
}

resource "google_storage_bucket_iam_member" "builder_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${local.builder_sa}"
}

resource "google_storage_bucket_object" "source" {
  for_each = local.groups

  bucket       = google_storage_bucket.sources.name
  name         = local.manifest.groups[each.key].object
  source       = "${local.source_dir}/${local.manifest.groups[each.key].zip}"
  content_type = "application/zip"

  lifecycle {
    precondition {
      condition = (
        contains(keys(local.manifest.groups), each.key) &&
        sort(try(local.manifest.groups[each.key].functions, [])) == sort([for name, f in local.functions : name if f.group == each.key])
      )
      error_message = "The staged group ${each.key} does not register exactly the functions terraform/main.tf deploys from it: stage again (go run ./scripts/stage) and update local.functions."
    }
  }
}

# The functions' images. Without one, the first deploy of each function
# races the others to create gcf-artifacts; builds push here instead.
resource "google_artifact_registry_repository" "functions" {
  project       = var.project
  location      = var.region
  repository_id = "connectors-functions"
  format        = "DOCKER"
  description   = "Images of the Connectors functions (Cloud Functions builds)."

  depends_on = [terraform_data.apis_ready]
}

# IAM grants take effect within minutes, not when the call returns: a build
# started at once reads the source copy in the gcf-v2-sources-* bucket and
# pushes its image as connectors-builder through roles granted a moment
# earlier, and fails with a permission error (the provider's own tests do).
# Wait before the functions, again whenever the grants change.
resource "terraform_data" "iam_ready" {
  triggers_replace = {
    builder   = sort(keys(google_project_iam_member.builder))
    functions = sort(concat(keys(google_project_iam_member.firestore), keys(google_project_iam_member.secrets)))
  }

  provisioner "local-exec" {
    command = "sleep ${var.iam_propagation_seconds}"
  }

  depends_on = [
    google_project_iam_member.builder,
    google_project_iam_member.firestore,
    google_project_iam_member.secrets,
    google_storage_bucket_iam_member.builder_reads_sources,
  ]
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  project     = var.project
  location    = var.region
  name        = each.key
  description = "Connectors: ${each.key}"

  build_config {
    runtime           = var.go_runtime
    entry_point       = each.key
    service_account   = "projects/${var.project}/serviceAccounts/${local.builder_sa}"
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.value.group].name
      }
    }
  }

  service_config {
    service_account_email = local.function_sa[each.key]
    environment_variables = local.function_environment[each.key]
    # Reachable from anywhere, but private: only roles/run.invoker holders
    # get through Cloud Run's front end (see invoker below). The admin
    # functions stay reachable so that the command-line path keeps working
    # next to the console's load balancer; the console itself is reachable
    # through the load balancer (and IAP) only (console.tf).
    ingress_settings               = contains(local.lb_only, each.key) ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    available_memory               = "512M"
    available_cpu                  = "1"
    # Requests end by CONNECTORS_REQUEST_TIMEOUT (20 s) well inside 60 s;
    # a files read streams its body for up to its own timeout after that,
    # a proxied call (an LLM's stream, a large download) for up to
    # CONNECTORS_PROXY_MAX_DURATION, five minutes inside the hour; and an
    # mcp call_api waits for the API up to local.mcp_call_seconds.
    timeout_seconds                  = each.key == "files" ? var.files_read_timeout_seconds + 60 : each.key == "proxy" ? local.proxy_platform_timeout_seconds : each.key == "mcp" ? local.mcp_call_seconds + 30 : 60
    max_instance_count               = var.max_instance_count
    max_instance_request_concurrency = var.max_instance_request_concurrency
  }

  labels = {
    managed-by = "connectors"
    group      = each.value.group
  }

  lifecycle {
    precondition {
      condition     = contains(keys(local.manifest.groups), each.value.group)
      error_message = "Group ${each.value.group} is not staged in ${local.source_dir}: run go run ./scripts/stage -out ${local.source_dir}."
    }
  }

  depends_on = [
    terraform_data.iam_ready,
    google_secret_manager_secret_version.token_cache_key,
    google_firestore_database.default,
  ]
}

# Who may call each function: Cloud Run checks the caller's Google ID token
# for roles/run.invoker before the request reaches the function. Nobody
# else, and never allUsers or allAuthenticatedUsers.
locals {
  invoker_grants = merge([
    for name, f in local.functions : {
      for member in local.invokers[f.invokers] : "${name} ${member}" => { function = name, member = member }
    }
  ]...)
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invoker_grants

  project  = var.project
  location = var.region
  # A gen2 function runs as the Cloud Run service of the same name.
  name   = google_cloudfunctions2_function.function[each.value.function].name
  role   = "roles/run.invoker"
  member = each.value.member
}
