# Scheduled maintenance (functions/maintenance): Cloud Scheduler calls the
# maintenance function with an OIDC token for its own service account,
# the function's only invoker and the only principal with the scheduler
# role (CONNECTORS_SCHEDULER_PRINCIPALS).

resource "google_service_account" "scheduler" {
  project      = var.project
  account_id   = "connectors-scheduler"
  display_name = "Connectors maintenance scheduler"
  description  = "Cloud Scheduler calls the maintenance function as this account; it holds no role but that function's invoker."

  depends_on = [terraform_data.apis_ready]
}

locals {
  scheduler_sa = "${google_service_account.scheduler.account_id}@${var.project}.iam.gserviceaccount.com"
  # The function's run.app URL, known before apply (as its
  # CONNECTORS_AUDIENCE): the target and the token's audience.
  maintenance_url = "https://maintenance-${var.project_number}.${var.region}.run.app"
}

# The orphan sweep deletes secrets nothing refers to: the writer role
# (delete among its calls) under the admin functions' condition, which
# keeps the token-cache key out of reach.
resource "google_project_iam_member" "maintenance_secrets" {
  project = var.project
  role    = local.custom_role["writer"]
  member  = "serviceAccount:${local.function_sa["maintenance"]}"

  condition {
    title       = "connectors-secrets"
    description = "Only secrets named ${var.secret_prefix}*, not the token-cache key."
    expression  = local.secret_grant_kinds.writer.expression
  }

  depends_on = [terraform_data.apis_ready, google_service_account.function]
}

resource "google_cloud_scheduler_job" "maintenance" {
  project     = var.project
  region      = var.region
  name        = "connectors-maintenance"
  description = "Connectors: sweep orphan secrets, refresh idle refresh tokens, probe failing connectors."
  schedule    = var.maintenance_schedule
  time_zone   = "Etc/UTC"
  # The function ends its own run inside its request deadline.
  attempt_deadline = "90s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = local.maintenance_url
    body        = base64encode("{}")
    headers     = { "Content-Type" = "application/json" }

    oidc_token {
      service_account_email = local.scheduler_sa
      audience              = local.maintenance_url
    }
  }

  depends_on = [terraform_data.apis_ready, google_cloudfunctions2_function.function]
}
