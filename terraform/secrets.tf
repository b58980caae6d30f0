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

  depends_on = [terraform_data.apis_ready]
}

# Rotation (docs/deploy.md): bumping token_cache_key_version adds a new
# version before anything is destroyed (create_before_destroy), and with
# token_cache_key_previous_until in the future the previous version stays
# enabled and listed in the minting functions' environment
# (CONNECTORS_TOKEN_CACHE_KEY_VERSIONS, the new one first): new instances
# seal with the new key and still open what running instances sealed with
# the old one. The first apply after that time destroys the previous
# version, once the functions no longer list it.
locals {
  token_cache_key_versions = concat(
    [var.token_cache_key_version],
    var.token_cache_key_version > 1 && var.token_cache_key_previous_until != "" && timecmp(plantimestamp(), coalesce(var.token_cache_key_previous_until, "1970-01-01T00:00:00Z")) < 0 ? [var.token_cache_key_version - 1] : [],
  )
}

resource "google_secret_manager_secret_version" "token_cache_key" {
  for_each = { for v in local.token_cache_key_versions : tostring(v) => v }

  secret                 = google_secret_manager_secret.token_cache_key.id
  secret_data_wo         = jsonencode({ clientSecret = base64sha256("${uuid()}${uuid()}${uuid()}") })
  secret_data_wo_version = each.value

  lifecycle {
    create_before_destroy = true
  }
}

# Before rotation support the version was a single resource: it is the
# first key version.
moved {
  from = google_secret_manager_secret_version.token_cache_key
  to   = google_secret_manager_secret_version.token_cache_key["1"]
}

locals {
  # Secret Manager's version numbers, the sealing key first.
  token_cache_key_secret_versions = join(",", [
    for v in local.token_cache_key_versions : google_secret_manager_secret_version.token_cache_key[tostring(v)].version
  ])
}
