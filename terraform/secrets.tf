# The key that seals the shared token cache (shared/mint/seal.go): a secret
# named <secret_prefix>token-cache-key holding the bundle
# {"clientSecret": base64(32 random bytes)}. The functions only read it (they
# may not create secrets), so Terraform provisions it.
#
# The 32 bytes are SHA-256 of three uuid() values, which Terraform draws
# from crypto/rand (366 random bits), so no random provider is needed. The
# value goes to a write-only attribute: it is in neither the plan nor the
# state, and it is written again only when token_cache_key_version changes.
resource "google_secret_manager_secret" "token_cache_key" {
  project   = var.project
  secret_id = local.token_cache_key

  labels = {
    managed-by = "connectors"
    purpose    = "token-cache"
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "token_cache_key" {
  secret                 = google_secret_manager_secret.token_cache_key.id
  secret_data_wo         = jsonencode({ clientSecret = base64sha256("${uuid()}${uuid()}${uuid()}") })
  secret_data_wo_version = var.token_cache_key_version
}
