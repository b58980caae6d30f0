output "function_urls" {
  description = "Every function's URL (Cloud Run URI): the audience of callers' ID tokens and what they POST to."
  value       = { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].uri }
}

output "token_url" {
  description = "Where agents mint credentials."
  value       = google_cloudfunctions2_function.function["token"].service_config[0].uri
}

output "proxy_url" {
  description = "Where agents call APIs through their connectors: {proxy_url}/{connector}/{path} with the header Connectors-Agent."
  value       = google_cloudfunctions2_function.function["proxy"].service_config[0].uri
}

output "files_url" {
  description = "Where agents read and write objects."
  value       = google_cloudfunctions2_function.function["files"].service_config[0].uri
}

output "mcp_url" {
  description = "Where MCP clients (ADK McpToolset, Gemini CLI, Claude) connect: Streamable HTTP, with the agent's ID token and Connectors-Agent header (docs/agents.md)."
  value       = google_cloudfunctions2_function.function["mcp"].service_config[0].uri
}

output "service_accounts" {
  description = "Each function's runtime service account."
  value       = local.function_sa
}

output "sources_bucket" {
  description = "Bucket of the staged sources."
  value       = google_storage_bucket.sources.name
}

output "token_cache_key_secret" {
  description = "Secret holding the token-cache key."
  value       = google_secret_manager_secret.token_cache_key.secret_id
}

output "console_url" {
  description = "The web console, behind Identity-Aware Proxy (null when console_domain is empty)."
  value       = local.console_enabled ? "https://${var.console_domain}/console" : null
}

output "console_ip" {
  description = "Address of the console's load balancer: console_domain's DNS A record (null when console_domain is empty)."
  value       = local.console_enabled ? google_compute_global_address.console[0].address : null
}

output "function_environment" {
  description = "Each function's environment variables. A function's whole environment shows as unknown in a plan while any value is (CONNECTORS_IAP_AUDIENCES holds the backend service's server-assigned ID); this output shows the known values next to the unknown."
  value       = local.function_environment
}

output "oauth_redirect_uri" {
  description = "The redirect URI to register at each provider for the connect flow (oauth-callback on the console's load balancer); empty without console_domain."
  value       = local.console_enabled ? local.connect_environment.CONNECTORS_OAUTH_REDIRECT_URL : ""
}
