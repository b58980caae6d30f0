# Variables of the offline plan .ci/run makes and scripts/deploy checks.
project        = "connectors-ci"
project_number = "123456789012"
region         = "europe-west1"
admin_members = [
  "user:admin@example.com",
  "serviceAccount:ops@connectors-ci.iam.gserviceaccount.com",
]
agent_members = [
  "serviceAccount:agent-runtime@connectors-ci.iam.gserviceaccount.com",
]
agent_bindings = {
  mailer    = ["serviceAccount:mailer@connectors-ci.iam.gserviceaccount.com"]
  "crm-bot" = ["serviceAccount:crm@connectors-ci.iam.gserviceaccount.com", "serviceAccount:agent-runtime@connectors-ci.iam.gserviceaccount.com"]
}
collection_prefix   = "prod-"
secret_prefix       = "cx-"
files_project_roles = ["roles/storage.objectAdmin"]
console_domain      = "console.connectors-ci.example.com"
# A token-cache key rotation's grace period: version 2 seals, version 1
# stays enabled and accepted.
token_cache_key_version        = 2
token_cache_key_previous_until = "2999-01-01T00:00:00Z"

# files without a connector: only crm-bot, only here (CONNECTORS_FILES_DEFAULT_ACCESS).
files_default_access = { "crm-bot" = ["gs://crm-exports/reports", "s3://crm-archive"] }
