# The whole Connectors stack: APIs, the Firestore database, the staged
# sources, one service account per function with only what it needs, the
# token-cache key, the functions (gen2, private) and who may invoke them.

locals {
  source_dir = var.source_dir != "" ? var.source_dir : "${path.module}/../.stage"
  # Written by scripts/stage: per group, its functions, zip and sha256.
  manifest = jsondecode(file("${local.source_dir}/manifest.json"))

  # Every deployed function: its group (the staged source it is built
  # from), what its service account may touch, and who may invoke it.
  #   read:  Firestore read-only; no Secret Manager at all.
  #   write: Firestore read/write; create, version and delete the
  #          connector secrets (by name prefix).
  #   mint:  the shared token cache's own Firestore database read/write,
  #          the connectors' read-only (only the rotating functions below
  #          write connectors too); read the connector secrets and add
  #          versions to them (a rotated refresh token is written back), by
  #          name prefix.
  #   none:  no role at all (the console: it serves a page and reads
  #          nothing; see console.tf).
  functions = {
    "connectors-create" = { group = "connectors", access = "write", invokers = "admins" }
    "connectors-list"   = { group = "connectors", access = "read", invokers = "admins" }
    "connectors-get"    = { group = "connectors", access = "read", invokers = "admins" }
    "connectors-update" = { group = "connectors", access = "write", invokers = "admins" }
    "connectors-delete" = { group = "connectors", access = "write", invokers = "admins" }
    "connectors-test"   = { group = "probe", access = "mint", invokers = "admins" }
    # The connect flow (connect.tf): authorize stores a pending state beside
    # the connectors; the callback reads the connector's secret for the code
    # exchange and stores the refresh token as a new version.
    "connectors-authorize" = { group = "connect", access = "write", invokers = "admins" }
    "oauth-callback"       = { group = "connect", access = "write", invokers = "admins" }
    "token"                = { group = "token", access = "mint", invokers = "agents" }
    "proxy"                = { group = "proxy", access = "mint", invokers = "agents" }
    "files"                = { group = "files", access = "mint", invokers = "agents" }
    "mcp"                  = { group = "mcp", access = "mint", invokers = "agents" }
    "console"              = { group = "console", access = "none", invokers = "none" }
    # Scheduled maintenance (maintenance.tf): it mints (refreshes idle
    # refresh tokens, probes failing connectors) and sweeps orphan secrets.
    "maintenance" = { group = "maintenance", access = "mint", invokers = "scheduler" }
  }

  groups = toset([for f in local.functions : f.group])

  # The minting functions that may store a rotated refresh token, which
  # pins a new secret version in the connector's metadata: they write the
  # connectors' database too. files mints only gcs_service_account and
  # aws_iam credentials, which never rotate, so it only reads connectors.
  # proxy mints what token mints (oauth included), so it may rotate too, and
  # so does mcp's call_api.
  rotating = ["token", "proxy", "connectors-test", "mcp", "maintenance"]

  # How long an mcp call_api may take in all: the proxy's wait for the
  # API's first byte (CONNECTORS_PROXY_TIMEOUT, 60 s) and a capped read.
  mcp_call_seconds = 90

  agents_bound = distinct(flatten([for agent, members in var.agent_bindings : members]))
  invokers = {
    admins = distinct(var.admin_members)
    agents = distinct(concat(var.agent_members, local.agents_bound))
    # Only through the load balancer, as the IAP service agent (console.tf).
    none = []
    # Cloud Scheduler's service account alone (maintenance.tf).
    scheduler = ["serviceAccount:${local.scheduler_sa}"]
  }

  # The deployment's configuration, read by shared/config and shared/auth
  # (the console gets local.function_environment's own, in console.tf).
  environment = {
    GOOGLE_CLOUD_PROJECT              = var.project
    CONNECTORS_COLLECTION_PREFIX      = var.collection_prefix
    CONNECTORS_SECRET_PREFIX          = var.secret_prefix
    CONNECTORS_ALLOW_INSECURE_URLS    = tostring(var.allow_insecure_urls)
    CONNECTORS_ALLOW_PRIVATE_NETWORKS = tostring(var.allow_private_networks)
    CONNECTORS_ADMINS                 = join(",", var.admin_members)
    CONNECTORS_AGENT_PRINCIPALS       = join(",", var.agent_members)
    CONNECTORS_SCHEDULER_PRINCIPALS   = "serviceAccount:${local.scheduler_sa}"
    CONNECTORS_AGENT_BINDINGS         = join(";", [for agent in sort(keys(var.agent_bindings)) : "${agent}=${join("|", var.agent_bindings[agent])}"])
    # The functions are private (no allUsers invoker): Cloud Run's front end
    # has checked every caller's ID token for roles/run.invoker.
    CONNECTORS_TRUST_CLOUD_RUN_IAM = "true"
  }

  # The Go runtime's settings for every function: the collector at
  # shared/config.DefaultGCPercent (tiny live heap, heavy allocation), and a
  # soft memory limit at 75% of the instance's 512M so that the heap, not
  # the instance, gives way first.
  go_runtime_environment = {
    GOGC       = "400"
    GOMEMLIMIT = "384MiB"
  }

  # The proxy function's platform timeout is Cloud Run's longest, an hour;
  # its own bound on a call (CONNECTORS_PROXY_MAX_DURATION) ends a call five
  # minutes before, so that the proxy, not the platform, cuts it.
  proxy_platform_timeout_seconds = 3600
  proxy_max_duration_seconds     = local.proxy_platform_timeout_seconds - 300

  # Secret Manager names resources with the project number in IAM conditions.
  secrets_path     = "projects/${var.project_number}/secrets/"
  secret_condition = "resource.name.startsWith(\"${local.secrets_path}${var.secret_prefix}\")"
  token_cache_key  = "${var.secret_prefix}token-cache-key"
}

locals {
  # Bootstrap APIs (cloudresourcemanager, serviceusage, iam) must already be
  # on before Terraform runs: the provider reads and enables services
  # through them (cloudbuild.yaml's bootstrap-apis step; docs/deploy.md).
  # Listing them here too keeps them on.
  apis = toset(concat([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
    ], local.console_enabled ? [
    # The console's load balancer and Identity-Aware Proxy (console.tf).
    "compute.googleapis.com",
    "iap.googleapis.com",
  ] : []))
}

resource "google_project_service" "apis" {
  for_each = local.apis

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

# An enabled API is not yet serving everywhere when the enablement returns;
# the provider's guide ("Enabling APIs") has dependents wait a while. A
# built-in sleep (terraform_data), not hashicorp/time: it runs again only
# when the set of APIs changes. Every resource that calls a Google API
# depends on it, directly or through a resource that does
# (scripts/deploy's plan test checks).
resource "terraform_data" "apis_ready" {
  triggers_replace = sort(local.apis)

  provisioner "local-exec" {
    command = "sleep ${var.api_propagation_seconds}"
  }

  depends_on = [google_project_service.apis]
}

# Firestore in native mode. Collections: <prefix>connectors,
# <prefix>secret-orphans, <prefix>token-cache, <prefix>catalog (one
# document, the catalog version every connector mutation adds to),
# <prefix>connector-health (one document per connector: its health, which
# the minting functions write, except files, which only reads).
#
# Indexes: connectors-list queries <prefix>connectors with
# `agents array-contains A` ordered by document ID ascending (and
# <prefix>secret-orphans by document ID alone). Firestore's automatic
# single-field index on `agents` (array-contains) serves that query: every
# single-field index entry ends with the document name in ascending order,
# so an equality or array-contains filter ordered by __name__ ascending needs
# no composite index. One would be needed only for a descending __name__
# order or for a second filtered or ordered field, so none is declared.
# The shared token cache (sealed credentials and leases), apart from the
# connectors: IAM conditions can name a database, not a collection.
resource "google_firestore_database" "token_cache" {
  project     = var.project
  name        = var.token_cache_database
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"
  # Nothing in it outlives an hour; destroy may take it.
  deletion_policy = "DELETE"

  depends_on = [terraform_data.apis_ready]
}

resource "google_firestore_database" "default" {
  count = var.create_firestore_database ? 1 : 0

  project                 = var.project
  name                    = "(default)"
  location_id             = coalesce(var.firestore_location, var.region)
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  # Reads of any minute of the last 7 days, for restores
  # (docs/operations.md).
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  # terraform destroy leaves the data alone.
  deletion_policy = "ABANDON"

  depends_on = [terraform_data.apis_ready]
}
