# Metrics: the minting functions export shared/metrics' instruments to
# Cloud Monitoring (Google's OpenTelemetry exporter, shared/metrics/gcm) as
# workload.googleapis.com/connectors.* on generic_task resources (job: the
# function, task_id: the instance); a dashboard shows them, and two alert
# policies watch them. docs/metrics.md names every metric and label.

locals {
  metric_prefix = "workload.googleapis.com/"
  metric_mints  = "${local.metric_prefix}connectors.mints"
  metric_needs  = "${local.metric_prefix}connectors.credential.needs_reconnect"

  # Set on the minting functions (console.tf's function_environment): only
  # they count anything.
  metrics_environment = {
    CONNECTORS_METRICS          = var.metrics_enabled ? "gcm" : "off"
    CONNECTORS_METRICS_INTERVAL = "${var.metrics_interval_seconds}s"
  }

  # Refusals that are the caller's doing (an unknown connector, an agent
  # not listed, an inactive connector, a caller that went away) are no
  # failure of the service or of a provider.
  caller_outcomes = ["ok", "not_found", "permission_denied", "failed_precondition", "invalid_argument", "cancelled"]
  mint_failures   = "metric.type = \"${local.metric_mints}\" AND resource.type = \"generic_task\" AND NOT metric.labels.outcome = one_of(${join(", ", [for o in local.caller_outcomes : "\"${o}\""])})"
  mint_all        = "metric.type = \"${local.metric_mints}\" AND resource.type = \"generic_task\""
}

# Writing time series: the minting functions, which alone export.
resource "google_project_iam_member" "metric_writer" {
  for_each = var.metrics_enabled ? { for name, f in local.functions : name => f if f.access == "mint" } : {}

  project = var.project
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${local.function_sa[each.key]}"

  depends_on = [terraform_data.apis_ready, google_service_account.function]
}

# The descriptors of the alerted metrics, made here so that the alert
# policies can name them before the first export (Cloud Monitoring refuses
# a policy on an unknown metric). The exporter finds them and writes to
# them as they are: their kind, type and labels are exactly what it writes
# (shared/metrics; no resource attribute is copied into the metric labels).
resource "google_monitoring_metric_descriptor" "mints" {
  count = var.metrics_enabled ? 1 : 0

  project      = var.project
  type         = local.metric_mints
  metric_kind  = "CUMULATIVE"
  value_type   = "INT64"
  unit         = "{mint}"
  display_name = "Connectors mints"
  description  = "Credentials handed out (outcome ok) or refused, by connector, grant type, outcome (ok or the error code) and cache layer (local, shared, minted; none for a refusal)."

  dynamic "labels" {
    for_each = ["connector", "grant_type", "outcome", "layer"]
    content {
      key        = labels.value
      value_type = "STRING"
    }
  }

  depends_on = [terraform_data.apis_ready]
}

resource "google_monitoring_metric_descriptor" "needs_reconnect" {
  count = var.metrics_enabled ? 1 : 0

  project      = var.project
  type         = local.metric_needs
  metric_kind  = "GAUGE"
  value_type   = "INT64"
  unit         = "{connector}"
  display_name = "Connectors needing a reconnect"
  description  = "1 while a connector's provider refuses its grant (invalid_grant: revoked or expired) so that an admin must connect it again, else 0, by connector."

  labels {
    key        = "connector"
    value_type = "STRING"
  }

  depends_on = [terraform_data.apis_ready]
}

resource "google_monitoring_alert_policy" "mint_failure_ratio" {
  count = var.metrics_enabled ? 1 : 0

  project      = var.project
  display_name = "Connectors: mint failure ratio above ${var.alert_mint_failure_ratio}"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "share of a connector's mints failing (provider or backend) over ${var.alert_mint_failure_minutes} min"
    condition_threshold {
      filter             = local.mint_failures
      denominator_filter = local.mint_all
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_mint_failure_ratio
      duration           = "${var.alert_mint_failure_minutes * 60}s"
      aggregations {
        alignment_period     = "${var.alert_mint_failure_minutes * 60}s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.connector"]
      }
      denominator_aggregations {
        alignment_period     = "${var.alert_mint_failure_minutes * 60}s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.connector"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Mints of connector $${metric.label.connector} fail (the provider refuses or is down, or a backend times out). The dashboard \"Connectors\" shows the outcomes; the token function's audit lines (`token <code>`) and the connector's `connectors-test` say which. docs/metrics.md."
  }

  notification_channels = var.alert_notification_channels

  depends_on = [terraform_data.apis_ready, google_monitoring_metric_descriptor.mints]
}

resource "google_monitoring_alert_policy" "needs_reconnect" {
  count = var.metrics_enabled ? 1 : 0

  project      = var.project
  display_name = "Connectors: a connector needs a reconnect"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "connectors whose provider answers invalid_grant > 0"
    condition_threshold {
      filter          = "metric.type = \"${local.metric_needs}\" AND resource.type = \"generic_task\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.connector"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The provider of connector $${metric.label.connector} refuses its refresh token or grant (invalid_grant: revoked, expired, or the consent was withdrawn). An admin must connect it again (the console's Connect, or connectors-authorize). docs/metrics.md."
  }

  notification_channels = var.alert_notification_channels

  depends_on = [terraform_data.apis_ready, google_monitoring_metric_descriptor.needs_reconnect]
}

resource "google_monitoring_dashboard" "connectors" {
  count = var.metrics_enabled ? 1 : 0

  project = var.project
  dashboard_json = jsonencode({
    displayName = "Connectors"
    mosaicLayout = {
      columns = 12
      tiles = [
        { xPos = 0, yPos = 0, width = 6, height = 4, widget = local.dashboard_widgets.mints_by_outcome },
        { xPos = 6, yPos = 0, width = 6, height = 4, widget = local.dashboard_widgets.mints_by_layer },
        { xPos = 0, yPos = 4, width = 6, height = 4, widget = local.dashboard_widgets.upstream_latency },
        { xPos = 6, yPos = 4, width = 6, height = 4, widget = local.dashboard_widgets.needs_reconnect },
        { xPos = 0, yPos = 8, width = 6, height = 4, widget = local.dashboard_widgets.proxy_status },
        { xPos = 6, yPos = 8, width = 6, height = 4, widget = local.dashboard_widgets.files_status },
      ]
    }
  })

  depends_on = [terraform_data.apis_ready]
}

locals {
  # One time-series chart: the metric, how each series is aligned, how
  # they are summed and by which labels.
  dashboard_chart = {
    for k, c in {
      mints_by_outcome = { title = "Mints per second by outcome", metric = "connectors.mints", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", by = ["metric.label.outcome"] }
      mints_by_layer   = { title = "Credentials handed out per second by cache layer", metric = "connectors.mints", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", by = ["metric.label.layer"], extra = " AND metric.labels.outcome = \"ok\"" }
      upstream_latency = { title = "Token endpoint latency, 95th percentile, by connector", metric = "connectors.upstream.duration", aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_95", by = ["metric.label.connector"] }
      needs_reconnect  = { title = "Connectors needing a reconnect", metric = "connectors.credential.needs_reconnect", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", by = ["metric.label.connector"] }
      proxy_status     = { title = "Proxied API calls per second by status class", metric = "connectors.proxy.calls", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", by = ["metric.label.status_class"] }
      files_status     = { title = "files calls per second by operation and status class", metric = "connectors.files.calls", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", by = ["metric.label.operation", "metric.label.status_class"] }
    } : k => c
  }
  dashboard_widgets = {
    for k, c in local.dashboard_chart : k => {
      title = c.title
      xyChart = {
        dataSets = [{
          plotType = "LINE"
          timeSeriesQuery = {
            timeSeriesFilter = {
              filter = "metric.type = \"${local.metric_prefix}${c.metric}\" AND resource.type = \"generic_task\"${lookup(c, "extra", "")}"
              aggregation = {
                alignmentPeriod    = "60s"
                perSeriesAligner   = c.aligner
                crossSeriesReducer = c.reducer
                groupByFields      = c.by
              }
            }
          }
        }]
      }
    }
  }
}
