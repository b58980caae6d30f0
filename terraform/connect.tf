# The connect flow (functions/connect; docs/api.md, "connectors-authorize"
# and "oauth-callback"): an admin presses Connect in the console, consents
# at the provider, and the provider sends the browser back to oauth-callback
# on the console's load balancer, behind IAP, whose assertion names the admin
# the pending state is bound to. Without var.console_domain there is no such
# origin, and the flow is unavailable (the functions answer, but no browser
# gets through Cloud Run's IAM check).

locals {
  connect_environment = {
    # Register this URL as the redirect URI at each provider.
    CONNECTORS_OAUTH_REDIRECT_URL = "https://${var.console_domain}/oauth-callback"
    CONNECTORS_CONSOLE_URL        = "https://${var.console_domain}/console"
  }
}

# Pending authorizations live ten minutes; Firestore's TTL policy deletes
# the documents of <prefix>auth-states once expiresAt has passed (within a
# day; the callback refuses an expired one itself).
resource "google_firestore_field" "auth_states_ttl" {
  project    = var.project
  database   = "(default)"
  collection = "${var.collection_prefix}auth-states"
  field      = "expiresAt"

  ttl_config {}
  # No single-field index on a timestamp nobody queries.
  index_config {}

  depends_on = [google_firestore_database.default, terraform_data.apis_ready]
}
