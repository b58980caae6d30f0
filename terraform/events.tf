# Connector events (docs/operations.md, "Events"): the functions that
# change connectors write each change's event into the Firestore outbox in
# the change's own transaction, then publish it as a CloudEvent to this
# topic and, when set, to a signed webhook. Only they may publish.

variable "events_topic" {
  description = "Pub/Sub topic (created here) receiving connector.created|updated|deleted and credential.* events as CloudEvents JSON (CONNECTORS_EVENTS_TOPIC). Empty: no topic; events go only to the webhook, if any."
  type        = string
  default     = "connectors-events"

  validation {
    condition     = var.events_topic == "" || can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.events_topic))
    error_message = "events_topic must be empty or a Pub/Sub topic ID: 3 to 255 characters, starting with a letter."
  }
}

variable "webhook_url" {
  description = "An https URL also receiving every event, signed per Standard Webhooks (CONNECTORS_WEBHOOK_URL). Empty: no webhook."
  type        = string
  default     = ""

  validation {
    condition     = var.webhook_url == "" || (startswith(var.webhook_url, "https://") && var.webhook_secret != "")
    error_message = "webhook_url must be an https URL, and needs webhook_secret (the Secret Manager secret holding its signing secret)."
  }
}

variable "webhook_secret" {
  description = "ID of the Secret Manager secret (made by the operator, in this project) whose latest version is the webhook's signing secret, whsec_ + base64 of 24 or more random bytes (CONNECTORS_WEBHOOK_SECRET_NAME). The publishing functions get roles/secretmanager.secretAccessor on it alone."
  type        = string
  default     = ""

  validation {
    condition     = var.webhook_secret == "" || can(regex("^[A-Za-z0-9_-]{1,255}$", var.webhook_secret))
    error_message = "webhook_secret must be a Secret Manager secret ID."
  }
}

locals {
  # The functions whose catalog mutations record events, and so publish.
  # The functions that change connectors publish connector.* events; the
  # minting ones that record connector health (all but files, which only
  # reads the connectors' database) publish credential.* events.
  event_publishers = toset([for name, f in local.functions : name if f.access == "write" || (f.access == "mint" && name != "files")])
  events_environment = merge(
    var.events_topic != "" ? { CONNECTORS_EVENTS_TOPIC = var.events_topic } : {},
    var.webhook_url != "" ? {
      CONNECTORS_WEBHOOK_URL         = var.webhook_url
      CONNECTORS_WEBHOOK_SECRET_NAME = "projects/${var.project}/secrets/${var.webhook_secret}/versions/latest"
    } : {},
  )
}

resource "google_pubsub_topic" "events" {
  count = var.events_topic != "" ? 1 : 0

  project = var.project
  name    = var.events_topic
  # A subscriber created later, or one that fell behind, can still read a
  # week back (seek).
  message_retention_duration = "604800s"

  depends_on = [terraform_data.apis_ready]
}

resource "google_pubsub_topic_iam_member" "events_publisher" {
  for_each = var.events_topic != "" ? local.event_publishers : toset([])

  project = var.project
  topic   = google_pubsub_topic.events[0].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${local.function_sa[each.key]}"

  depends_on = [terraform_data.apis_ready, google_service_account.function]
}

resource "google_secret_manager_secret_iam_member" "webhook_secret" {
  for_each = var.webhook_url != "" ? local.event_publishers : toset([])

  project   = var.project
  secret_id = var.webhook_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${local.function_sa[each.key]}"

  depends_on = [terraform_data.apis_ready, google_service_account.function]
}
