# The web console, private behind Identity-Aware Proxy (docs/deploy.md, "The console in production"):
# one global external HTTPS load balancer for var.console_domain, routing
# /console to the console function and /connectors-<op> to each admin
# function, each through its own serverless NEG and backend service with IAP
# on. The page's calls are then same-origin and carry the IAP cookie; IAP
# lets only the admins through and forwards each request with its signed
# X-Goog-IAP-JWT-Assertion, which the admin functions verify against their
# own backend service's audience (CONNECTORS_IAP_AUDIENCES).
#
# token and files are never behind it. The admin functions keep ingress
# ALLOW_ALL and their invoker IAM so that scripts and gcloud still reach
# them directly with ID tokens; the console is reachable only through the
# load balancer (ALLOW_INTERNAL_AND_GCLB). Nothing here exists while
# var.console_domain is empty.

locals {
  console_enabled = var.console_domain != ""

  # Functions whose ingress is internal and load-balancer traffic only: the
  # console, and the connect flow's callback, which admins' browsers reach
  # through IAP only (its assertion names the admin the state is bound to).
  lb_only = ["console", "oauth-callback"]

  # The functions the load balancer routes to, by the name of their backend
  # service and NEG: the console and the admin functions (never the agents').
  console_routes = local.console_enabled ? {
    for name, f in local.functions :
    name => startswith(name, "connectors-") ? name : "connectors-${name}"
    if name == "console" || f.invokers == "admins"
  } : {}

  # IAP calls the functions as its service agent.
  iap_agent = "serviceAccount:service-${var.project_number}@gcp-sa-iap.iam.gserviceaccount.com"

  iap_accessors = merge([
    for name in keys(local.console_routes) : {
      for member in local.invokers.admins : "${name} ${member}" => { function = name, member = member }
    }
  ]...)

  # Each function's environment. The console needs only its project: with
  # CONNECTORS_FUNCTION_BASE_URL unset the page calls the admin functions on
  # its own origin, i.e. through this load balancer. A function behind IAP
  # accepts IAP's assertions for its own backend service. The backend
  # services do not depend on the functions (their NEGs name the Cloud Run
  # services by string), so this is no cycle.
  function_environment = {
    for name, f in local.functions : name => (
      f.access == "none" ? tomap(merge(local.go_runtime_environment, { GOOGLE_CLOUD_PROJECT = var.project })) : tomap(merge(
        local.go_runtime_environment,
        local.environment,
        contains(keys(local.console_routes), name) ? {
          CONNECTORS_IAP_AUDIENCES = "/projects/${var.project_number}/global/backendServices/${google_compute_backend_service.console[name].generated_id}"
        } : {},
        name == "files" ? {
          CONNECTORS_FILES_READ_TIMEOUT      = "${var.files_read_timeout_seconds}s"
          CONNECTORS_FILES_MAX_SIGNED_EXPIRY = "${var.files_max_signed_url_seconds}s"
          CONNECTORS_FILES_DEFAULT_ACCESS    = join(";", [for agent in sort(keys(var.files_default_access)) : "${agent}=${join("|", var.files_default_access[agent])}"])
        } : {},
        name == "proxy" ? {
          CONNECTORS_PROXY_TIMEOUT        = "${var.proxy_timeout_seconds}s"
          CONNECTORS_PROXY_MAX_DURATION   = "${local.proxy_max_duration_seconds}s"
          CONNECTORS_PROXY_MAX_BODY_BYTES = tostring(var.proxy_max_body_bytes)
        } : {},
        # mcp: its file tools sign as files does; call_api's whole call,
        # the API's answer read up to the result cap, ends inside the
        # function's platform timeout (functions.tf).
        name == "mcp" ? {
          CONNECTORS_FILES_MAX_SIGNED_EXPIRY = "${var.files_max_signed_url_seconds}s"
          CONNECTORS_MCP_MAX_RESULT_BYTES    = tostring(var.mcp_max_result_bytes)
          CONNECTORS_PROXY_MAX_DURATION      = "${local.mcp_call_seconds}s"
        } : {},
        # Only the minting functions read the token-cache key (secrets.tf).
        f.access == "mint" ? { CONNECTORS_TOKEN_CACHE_KEY_VERSIONS = local.token_cache_key_secret_versions } : {},
        f.access == "mint" ? { CONNECTORS_TOKEN_CACHE_DATABASE = var.token_cache_database } : {},
        # The functions that change connectors or record their health
        # publish their events (events.tf).
        contains(local.event_publishers, name) ? local.events_environment : {},
        # They alone count mints, proxied and files calls (metrics.tf).
        f.access == "mint" ? local.metrics_environment : {},
        name == "maintenance" ? { CONNECTORS_MAINTENANCE_IDLE_REFRESH = "${var.maintenance_idle_refresh_hours}h" } : {},
        # The connect flow: the registered redirect URI and the console it
        # returns to, both on the load balancer (connect.tf).
        f.group == "connect" && local.console_enabled ? local.connect_environment : {},
        # The audiences its callers' ID tokens must carry: its own URLs,
        # known before apply (the run.app URL Cloud Run reports is derived
        # from Host and K_SERVICE; see shared/auth).
        { CONNECTORS_AUDIENCE = "https://${var.region}-${var.project}.cloudfunctions.net/${name},https://${name}-${var.project_number}.${var.region}.run.app" },
      ))
    )
  }
}

resource "google_compute_global_address" "console" {
  count = local.console_enabled ? 1 : 0

  project = var.project
  name    = "connectors-console"

  depends_on = [terraform_data.apis_ready]
}

resource "google_compute_managed_ssl_certificate" "console" {
  count = local.console_enabled ? 1 : 0

  project = var.project
  # Named after its domain: a new console_domain makes a certificate of
  # another name, so create_before_destroy can hold both while the proxy
  # moves over (a fixed name answers 409 on the create).
  name = "connectors-console-${substr(sha256(var.console_domain), 0, 12)}"

  managed {
    domains = [var.console_domain]
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [terraform_data.apis_ready]
}

# A gen2 function runs as the Cloud Run service of the same name; the NEG
# names it as a string, not through the function resource (whose
# environment depends on the backend service).
resource "google_compute_region_network_endpoint_group" "console" {
  for_each = local.console_routes

  project               = var.project
  region                = var.region
  name                  = each.value
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = each.key
  }

  depends_on = [terraform_data.apis_ready]
}

resource "google_compute_backend_service" "console" {
  for_each = local.console_routes

  project               = var.project
  name                  = each.value
  description           = "Connectors: ${each.key}, behind Identity-Aware Proxy."
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.console[each.key].id
  }

  # No OAuth client: IAP uses the Google-managed one.
  iap {
    enabled = true
  }
}

resource "google_compute_url_map" "console" {
  count = local.console_enabled ? 1 : 0

  project = var.project
  name    = "connectors-console"

  # Its backend services are named inside a dynamic block, which the plan
  # does not show as a dependency (scripts/deploy checks the order).
  depends_on = [terraform_data.apis_ready]

  # Anything else (token and files included) is sent to the console.
  default_url_redirect {
    path_redirect          = "/console"
    redirect_response_code = "FOUND"
    strip_query            = true
  }

  host_rule {
    hosts        = [var.console_domain]
    path_matcher = "console"
  }

  path_matcher {
    name = "console"

    default_url_redirect {
      path_redirect          = "/console"
      redirect_response_code = "FOUND"
      strip_query            = true
    }

    dynamic "path_rule" {
      for_each = local.console_routes
      content {
        paths   = path_rule.key == "console" ? ["/console", "/console/*"] : ["/${path_rule.key}"]
        service = google_compute_backend_service.console[path_rule.key].id
      }
    }
  }
}

resource "google_compute_target_https_proxy" "console" {
  count = local.console_enabled ? 1 : 0

  project          = var.project
  name             = "connectors-console"
  url_map          = google_compute_url_map.console[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.console[0].id]
}

resource "google_compute_global_forwarding_rule" "console" {
  count = local.console_enabled ? 1 : 0

  project               = var.project
  name                  = "connectors-console"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  ip_address            = google_compute_global_address.console[0].id
  port_range            = "443"
  target                = google_compute_target_https_proxy.console[0].id
}

# Who gets through IAP: the admins, on every backend service, and nobody
# else.
resource "google_iap_web_backend_service_iam_member" "console" {
  for_each = local.iap_accessors

  project             = var.project
  web_backend_service = google_compute_backend_service.console[each.value.function].name
  role                = "roles/iap.httpsResourceAccessor"
  member              = each.value.member
}

# IAP reaches the functions as its service agent. The agent does not exist
# until IAP first runs in the project, and only the beta API creates it on
# demand: cloudbuild.yaml's iap-service-agent step (docs/deploy.md, for a
# workstation) runs `gcloud beta services identity create
# --service=iap.googleapis.com` before Terraform. The grant then waits for
# IAM propagation with the functions (terraform_data.iam_ready).
resource "google_cloud_run_v2_service_iam_member" "iap_invoker" {
  for_each = local.console_routes

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = local.iap_agent

  depends_on = [google_compute_backend_service.console, terraform_data.iam_ready]
}
