variable "project" {
  description = "Project ID that holds everything: Firestore, Secret Manager, the functions."
  type        = string
}

variable "project_number" {
  description = "Number of that project (gcloud projects describe PROJECT --format='value(projectNumber)'). Secret Manager IAM conditions match resource names of the form projects/NUMBER/secrets/ID, so the secret-prefix conditions are written with it."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number is the project's number (digits), not its ID."
  }
}

variable "region" {
  description = "Region of the functions and the sources bucket."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Location of the Firestore database (e.g. nam5, eur3, or a region). Defaults to var.region."
  type        = string
  default     = null
}

variable "create_firestore_database" {
  description = "Create the project's (default) Firestore database in native mode. Set false when the project already has one (it must be in native mode)."
  type        = bool
  default     = true
}

variable "token_cache_database" {
  description = "Name of the Firestore database (created here, beside the connectors' (default) one) that holds the shared token cache. Its own database lets IAM give the minting functions write access to the cache while files only reads connector metadata."
  type        = string
  default     = "connectors-token-cache"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.token_cache_database)) && var.token_cache_database != "(default)"
    error_message = "token_cache_database must be a Firestore database ID: 4-63 lowercase letters, digits and hyphens, starting with a letter, and not (default)."
  }
}

variable "admin_members" {
  description = "Who may call the connectors-* functions: IAM members user:EMAIL or serviceAccount:EMAIL. They get roles/run.invoker on those functions and become CONNECTORS_ADMINS (groups cannot be matched against an ID token, so they are refused)."
  type        = list(string)

  validation {
    condition     = length(var.admin_members) > 0 && alltrue([for m in var.admin_members : can(regex("^(user|serviceAccount):[^@\\s,;|=:]+@[^@\\s,;|=:]+$", m))])
    error_message = "admin_members: at least one, each user:EMAIL or serviceAccount:EMAIL."
  }
}

variable "agent_members" {
  description = "Agent runtimes that may call token, proxy, files and mcp: user:EMAIL or serviceAccount:EMAIL. They get roles/run.invoker on those functions and become CONNECTORS_AGENT_PRINCIPALS. They act for the agent IDs agent_bindings binds them to, or, only with allow_unbound_agents, for any agent ID."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.agent_members : can(regex("^(user|serviceAccount):[^@\\s,;|=:]+@[^@\\s,;|=:]+$", m))])
    error_message = "agent_members: each user:EMAIL or serviceAccount:EMAIL."
  }
}

variable "agent_bindings" {
  description = "Agent ID => the members allowed to act for it (CONNECTORS_AGENT_BINDINGS). Bound members also get the agent role and roles/run.invoker on token, proxy, files and mcp."
  type        = map(list(string))
  default     = {}

  validation {
    condition = alltrue([for agent, members in var.agent_bindings :
      can(regex("^[^\\s;|=]+$", agent)) && length(members) > 0 &&
      alltrue([for m in members : can(regex("^(user|serviceAccount):[^@\\s,;|=:]+@[^@\\s,;|=:]+$", m))])
    ])
    error_message = "agent_bindings: agent IDs without spaces or ;|=, each with at least one user:EMAIL or serviceAccount:EMAIL."
  }
}

variable "allow_unbound_agents" {
  description = "Deploy without agent_bindings: every agent principal may then act for every agent ID, so a connector's agents list protects nothing between agent runtimes. Must be set to true to deploy with agent_bindings empty; the functions log a warning at start in that mode."
  type        = bool
  default     = false

  validation {
    condition     = var.allow_unbound_agents || length(var.agent_bindings) > 0
    error_message = "agent_bindings is empty: every agent principal could act for every agent ID. Bind agent IDs to the principals that may act for them in agent_bindings, or set allow_unbound_agents = true to accept unbound mode."
  }
}

variable "allow_insecure_urls" {
  description = "Allow http:// token URLs to loopback hosts (CONNECTORS_ALLOW_INSECURE_URLS). Development only."
  type        = bool
  default     = false
}

variable "allow_private_networks" {
  description = "Let token requests reach private address ranges (CONNECTORS_ALLOW_PRIVATE_NETWORKS), for providers inside a VPC."
  type        = bool
  default     = false
}

variable "collection_prefix" {
  description = "Prefix of the Firestore collections (CONNECTORS_COLLECTION_PREFIX)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]*$", var.collection_prefix))
    error_message = "collection_prefix: letters, digits, _ and - only."
  }
}

variable "secret_prefix" {
  description = "Prefix of every Secret Manager secret the service owns (CONNECTORS_SECRET_PREFIX); the functions' Secret Manager roles are conditioned on it."
  type        = string
  default     = "connector-"

  validation {
    # Never empty: the IAM conditions would then match every secret.
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{2,100}$", var.secret_prefix))
    error_message = "secret_prefix: 3 or more letters, digits, _ or -, starting with a letter."
  }
}

variable "source_dir" {
  description = "Directory written by `go run ./scripts/stage -out DIR` (manifest.json and one zip per function group). Defaults to .stage at the repository root."
  type        = string
  default     = ""
}

variable "go_runtime" {
  description = "Cloud Functions Go runtime. It must provide the Go version go.mod requires (go 1.26)."
  type        = string
  default     = "go126"
}

variable "token_cache_key_version" {
  description = "Bump to write a new random token-cache key: the new version is created before the previous one is destroyed (see token_cache_key_previous_until)."
  type        = number
  default     = 1

  validation {
    condition     = var.token_cache_key_version >= 1 && floor(var.token_cache_key_version) == var.token_cache_key_version
    error_message = "token_cache_key_version: a whole number, 1 or more."
  }
}

variable "token_cache_key_previous_until" {
  description = "RFC 3339 time (e.g. 2026-12-01T12:00:00Z) until which the previous token-cache key version (token_cache_key_version - 1) stays enabled and accepted by the functions after a rotation; the first apply after it destroys that version. Empty: the previous version is destroyed by the rotating apply itself, after the new one exists."
  type        = string
  default     = ""

  validation {
    condition     = var.token_cache_key_previous_until == "" || can(timecmp(var.token_cache_key_previous_until, "2000-01-01T00:00:00Z"))
    error_message = "token_cache_key_previous_until: an RFC 3339 time such as 2026-12-01T12:00:00Z, or empty."
  }
}

variable "api_propagation_seconds" {
  description = "How long to wait after enabling the APIs before using them (the provider's guide recommends waiting: an enabled API is not yet serving everywhere)."
  type        = number
  default     = 60

  validation {
    condition     = var.api_propagation_seconds >= 0 && floor(var.api_propagation_seconds) == var.api_propagation_seconds
    error_message = "api_propagation_seconds: a whole number of seconds, 0 or more."
  }
}

variable "iam_propagation_seconds" {
  description = "How long to wait after the IAM grants before the functions are built and the IAP service agent is granted (grants take effect within minutes, not on return)."
  type        = number
  default     = 90

  validation {
    condition     = var.iam_propagation_seconds >= 0 && floor(var.iam_propagation_seconds) == var.iam_propagation_seconds
    error_message = "iam_propagation_seconds: a whole number of seconds, 0 or more."
  }
}

variable "max_instance_count" {
  description = "Maximum instances per function."
  type        = number
  default     = 10
}

variable "max_instance_request_concurrency" {
  description = "Concurrent requests per instance."
  type        = number
  default     = 40
}

variable "files_project_roles" {
  description = "Project roles for the files function's own identity, used when a files request names no connector (Application Default Credentials), e.g. [\"roles/storage.objectAdmin\"], and then only where files_default_access maps the agent. Secret Manager roles are refused."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.files_project_roles : !startswith(r, "roles/secretmanager.") && !contains(["roles/owner", "roles/editor"], r)])
    error_message = "files_project_roles must not grant Secret Manager, owner or editor roles."
  }
}

variable "files_default_access" {
  description = "Agent ID => the gs://BUCKET[/PREFIX] and s3://BUCKET[/PREFIX] locations where that agent may use the files function's own identity, i.e. files requests naming no connector (CONNECTORS_FILES_DEFAULT_ACCESS). A prefix is a folder: gs://b/pre admits gs://b/pre/... only. Empty (the default): no agent may; createBucket and grantAccess never may."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue(flatten([for a, ls in var.files_default_access : [for l in ls : can(regex("^(gs|s3)://[a-z0-9][a-z0-9._-]*[a-z0-9](/[^|;]*)?$", l))]]))
    error_message = "files_default_access locations must be gs://BUCKET[/PREFIX] or s3://BUCKET[/PREFIX]."
  }
}

variable "files_max_signed_url_seconds" {
  description = "Longest expiresIn a files sign request may ask for (CONNECTORS_FILES_MAX_SIGNED_EXPIRY): a signed URL is a bearer credential nobody can revoke. Default one hour; at most 604800 (7 days, the providers' limit)."
  type        = number
  default     = 3600

  validation {
    condition     = var.files_max_signed_url_seconds >= 1 && var.files_max_signed_url_seconds <= 604800
    error_message = "files_max_signed_url_seconds must be from 1 to 604800 (7 days)."
  }
}

variable "files_read_timeout_seconds" {
  description = "How long the files function may stream one read's body (CONNECTORS_FILES_READ_TIMEOUT). The request deadline bounds only opening the object; the files function's platform timeout is this plus a minute."
  type        = number
  default     = 600

  validation {
    condition     = var.files_read_timeout_seconds >= 1 && var.files_read_timeout_seconds <= 3540
    error_message = "files_read_timeout_seconds must be from 1 to 3540: a Cloud Run request may last an hour at most, and the files function needs a minute more than its reads."
  }
}

variable "console_domain" {
  description = "Hostname of the web console (e.g. console.connectors.example.com), served by an HTTPS load balancer with Identity-Aware Proxy in front of the console and the admin functions (console.tf). Point its DNS A record at the console_ip output; the Google-managed certificate is issued once it resolves. Empty: no load balancer, the console is not exposed."
  type        = string
  default     = ""

  validation {
    condition     = var.console_domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.console_domain))
    error_message = "console_domain: a lower-case DNS hostname without scheme, port or path, or empty."
  }
}

variable "proxy_timeout_seconds" {
  description = "How long a proxied call waits for the API's answer headers (CONNECTORS_PROXY_TIMEOUT); past it the proxy answers 504 upstream_timeout. The whole call, streaming included, is bounded by CONNECTORS_PROXY_MAX_DURATION (55 minutes) under the proxy function's one-hour platform timeout."
  type        = number
  default     = 60

  validation {
    condition     = var.proxy_timeout_seconds >= 1 && var.proxy_timeout_seconds <= 3300 && floor(var.proxy_timeout_seconds) == var.proxy_timeout_seconds
    error_message = "proxy_timeout_seconds must be a whole number from 1 to 3300: a proxied call lasts 55 minutes at most (CONNECTORS_PROXY_MAX_DURATION)."
  }
}

variable "proxy_max_body_bytes" {
  description = "Largest request body a proxied call may send (CONNECTORS_PROXY_MAX_BODY_BYTES), read as a stream; beyond it the proxy answers 413 payload_too_large. Cloud Run refuses HTTP/1 requests over 32 MiB before they reach the function, hence the ceiling."
  type        = number
  default     = 33554432

  validation {
    condition     = var.proxy_max_body_bytes >= 1 && var.proxy_max_body_bytes <= 33554432 && floor(var.proxy_max_body_bytes) == var.proxy_max_body_bytes
    error_message = "proxy_max_body_bytes must be a whole number of bytes from 1 to 33554432 (32 MiB, Cloud Run's HTTP/1 request limit)."
  }
}

variable "mcp_max_result_bytes" {
  description = "Most body bytes the mcp function's call_api and read_file return before cutting with truncated: true (CONNECTORS_MCP_MAX_RESULT_BYTES): a model's context is the limit. Default 256 KiB."
  type        = number
  default     = 262144

  validation {
    condition     = var.mcp_max_result_bytes >= 1 && var.mcp_max_result_bytes <= 67108864
    error_message = "mcp_max_result_bytes must be from 1 to 67108864 (64 MiB)."
  }
}

# Metrics (terraform/metrics.tf, docs/metrics.md).

variable "metrics_enabled" {
  description = "Whether the minting functions export their metrics to Cloud Monitoring (CONNECTORS_METRICS=gcm) and the dashboard and alert policies are made; false sets CONNECTORS_METRICS=off and makes none."
  type        = bool
  default     = true
}

variable "metrics_interval_seconds" {
  description = "How often each function instance sends its metrics to Cloud Monitoring (CONNECTORS_METRICS_INTERVAL); Cloud Monitoring takes a point per series every 5 s at most and bills by the point."
  type        = number
  default     = 60

  validation {
    condition     = var.metrics_interval_seconds >= 5 && floor(var.metrics_interval_seconds) == var.metrics_interval_seconds
    error_message = "metrics_interval_seconds must be a whole number of seconds, at least 5 (Cloud Monitoring's limit per series)."
  }
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/ID) the alert policies notify; empty: the incidents are only shown in the console."
  type        = list(string)
  default     = []
}

variable "alert_mint_failure_ratio" {
  description = "The mint failure alert fires when, for a connector, the share of mints refused for a reason other than the caller's (provider errors, timeouts, backends) stays above this over alert_mint_failure_minutes."
  type        = number
  default     = 0.1

  validation {
    condition     = var.alert_mint_failure_ratio > 0 && var.alert_mint_failure_ratio <= 1
    error_message = "alert_mint_failure_ratio must be above 0 and at most 1."
  }
}

variable "alert_mint_failure_minutes" {
  description = "How long the mint failure ratio must stay above alert_mint_failure_ratio before the alert fires (the window it is computed over too)."
  type        = number
  default     = 5

  validation {
    condition     = var.alert_mint_failure_minutes >= 1 && var.alert_mint_failure_minutes <= 1440 && floor(var.alert_mint_failure_minutes) == var.alert_mint_failure_minutes
    error_message = "alert_mint_failure_minutes must be a whole number of minutes from 1 to 1440."
  }
}

variable "maintenance_schedule" {
  description = "When Cloud Scheduler calls the maintenance function (unix-cron, UTC): it sweeps orphan secrets, refreshes idle refresh_token connectors and probes failing ones."
  type        = string
  default     = "17 * * * *"
}

variable "maintenance_idle_refresh_hours" {
  description = "A refresh_token connector with no successful mint for this many hours is refreshed by maintenance (CONNECTORS_MAINTENANCE_IDLE_REFRESH), so providers that expire unused refresh tokens do not."
  type        = number
  default     = 168

  validation {
    condition     = var.maintenance_idle_refresh_hours >= 1 && floor(var.maintenance_idle_refresh_hours) == var.maintenance_idle_refresh_hours
    error_message = "maintenance_idle_refresh_hours must be a whole number of hours, at least 1."
  }
}
