# One service account per function, holding only what its function needs.
# No Secret Manager role is granted at project level without a condition
# that limits it to the service's secrets (names starting with
# var.secret_prefix), and the list/get functions get none at all.

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project
  account_id   = "fn-${each.key}"
  display_name = "Connectors function ${each.key}"
  description  = "Runtime identity of the ${each.key} function (${each.value.access} access)."

  depends_on = [terraform_data.apis_ready]
}

locals {
  # Built from known values (not the computed email attribute) so that a
  # plan shows every grant's member; the reference keeps the dependency.
  function_sa = {
    for name, sa in google_service_account.function :
    name => "${sa.account_id}@${var.project}.iam.gserviceaccount.com"
  }

  # Unconditioned, so on every database of the project; the minting
  # functions' write access to the token cache's is the grant below.
  firestore_role = {
    read  = "roles/datastore.viewer"
    write = "roles/datastore.user"
    mint  = "roles/datastore.viewer"
  }
}

resource "google_project_iam_member" "firestore" {
  # The console (access "none") gets no role at all.
  for_each = { for name, f in local.functions : name => f if f.access != "none" }

  project = var.project
  # A rotated refresh token is pinned in the connector's metadata.
  role   = contains(local.rotating, each.key) ? "roles/datastore.user" : local.firestore_role[each.value.access]
  member = "serviceAccount:${local.function_sa[each.key]}"

  # Project IAM is read and written through Cloud Resource Manager; the
  # member is built from strings, so the account's creation is named too.
  depends_on = [terraform_data.apis_ready, google_service_account.function]
}

# The minting functions write the token cache, in its own database only.
resource "google_project_iam_member" "token_cache" {
  for_each = { for name, f in local.functions : name => f if f.access == "mint" }

  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${local.function_sa[each.key]}"

  condition {
    title       = "token cache database only"
    description = "Read and write the shared token cache, nothing else in Firestore."
    expression  = "resource.name == \"projects/${var.project}/databases/${var.token_cache_database}\""
  }

  depends_on = [terraform_data.apis_ready, google_service_account.function, google_firestore_database.token_cache]
}

# Secret Manager, as custom roles with exactly the calls the functions make
# (shared/secret/secretmanager): predefined roles would add what they never
# need (secretmanager.admin, for one, includes setIamPolicy).

locals {
  secret_roles = {
    # CreateSecret. It is authorized against the parent project (the secret
    # does not exist yet), where resource.name is the project's, so its
    # condition also accepts the project; it is the only permission of its
    # role, so the project branch grants nothing else. Every later call on
    # the secret is fenced by the name prefix.
    creator = {
      role_id     = "connectorsSecretCreator"
      title       = "Connectors secret creator"
      description = "Create Secret Manager secrets (the connectors admin functions); granted with a condition."
      permissions = ["secretmanager.secrets.create"]
    }
    # What create/update/delete do to a connector's secret once it exists:
    # add a version, read the bundle to merge an update, destroy superseded
    # versions, delete the secret with its connector.
    writer = {
      role_id     = "connectorsSecretWriter"
      title       = "Connectors secret writer"
      description = "Version, read and delete the connectors' Secret Manager secrets; granted with a name-prefix condition."
      permissions = [
        "secretmanager.secrets.delete",
        "secretmanager.versions.access",
        "secretmanager.versions.add",
        "secretmanager.versions.destroy",
        "secretmanager.versions.get",
        "secretmanager.versions.list",
      ]
    }
    # What minting does: read a connector's bundle (and the token-cache
    # key); when the provider rotates a refresh token, add a version with
    # the new one and destroy the old versions. No create, no delete.
    minter = {
      role_id     = "connectorsSecretMinter"
      title       = "Connectors secret minter"
      description = "Read the connectors' Secret Manager secrets and store rotated refresh tokens; granted with a name-prefix condition."
      permissions = [
        "secretmanager.versions.access",
        "secretmanager.versions.add",
        "secretmanager.versions.destroy",
        "secretmanager.versions.get",
        "secretmanager.versions.list",
      ]
    }
  }
}

resource "google_project_iam_custom_role" "secret" {
  for_each = local.secret_roles

  project     = var.project
  role_id     = each.value.role_id
  title       = each.value.title
  description = each.value.description
  permissions = each.value.permissions

  depends_on = [terraform_data.apis_ready]
}

# The roles were once three resources; these keep deployed ones in place.
moved {
  from = google_project_iam_custom_role.secret_creator
  to   = google_project_iam_custom_role.secret["creator"]
}
moved {
  from = google_project_iam_custom_role.secret_writer
  to   = google_project_iam_custom_role.secret["writer"]
}
moved {
  from = google_project_iam_custom_role.secret_minter
  to   = google_project_iam_custom_role.secret["minter"]
}

locals {
  custom_role = { for kind, r in google_project_iam_custom_role.secret : kind => "projects/${var.project}/roles/${r.role_id}" }

  # Secret grants by kind, each to the functions of one access. The admin
  # functions cannot touch the token-cache key: only minting reads it.
  secret_grant_kinds = {
    creator = {
      access      = "write"
      title       = "connectors-secret-create"
      description = "Create secrets named ${var.secret_prefix}*."
      expression  = "resource.type == \"cloudresourcemanager.googleapis.com/Project\" || ${local.secret_condition}"
    }
    writer = {
      access      = "write"
      title       = "connectors-secrets"
      description = "Only secrets named ${var.secret_prefix}*, not the token-cache key."
      expression  = "${local.secret_condition} && !resource.name.startsWith(\"${local.secrets_path}${local.token_cache_key}\")"
    }
    minter = {
      access      = "mint"
      title       = "connectors-secrets"
      description = "Only secrets named ${var.secret_prefix}* (connector secrets and the token-cache key)."
      expression  = local.secret_condition
    }
  }
  secret_grants = merge([
    for kind, g in local.secret_grant_kinds : {
      for name, f in local.functions : "${name}/${kind}" => merge(g, { function = name, role = local.custom_role[kind] }) if f.access == g.access
    }
  ]...)
}

resource "google_project_iam_member" "secrets" {
  for_each = local.secret_grants

  project = var.project
  role    = each.value.role
  member  = "serviceAccount:${local.function_sa[each.value.function]}"

  condition {
    title       = each.value.title
    description = each.value.description
    expression  = each.value.expression
  }

  depends_on = [terraform_data.apis_ready, google_service_account.function]
}

# The files function's own identity, for requests that name no connector.
resource "google_project_iam_member" "files_default" {
  for_each = contains(keys(local.functions), "files") ? toset(var.files_project_roles) : toset([])

  project = var.project
  role    = each.value
  member  = "serviceAccount:${local.function_sa["files"]}"

  depends_on = [terraform_data.apis_ready, google_service_account.function]
}

# Builds: gen2 functions are built by Cloud Build as this account, not the
# project's default compute account (which new projects no longer make an
# editor).
resource "google_service_account" "builder" {
  project      = var.project
  account_id   = "connectors-builder"
  display_name = "Connectors function builds"

  depends_on = [terraform_data.apis_ready]
}

locals {
  builder_sa = "${google_service_account.builder.account_id}@${var.project}.iam.gserviceaccount.com"
}

resource "google_project_iam_member" "builder" {
  for_each = toset([
    "roles/artifactregistry.writer",
    "roles/cloudbuild.builds.builder",
    "roles/logging.logWriter",
  ])

  project = var.project
  role    = each.value
  member  = "serviceAccount:${local.builder_sa}"

  depends_on = [terraform_data.apis_ready, google_service_account.builder]
}

# Admins find the functions' URLs with gcloud (gcloud functions call and
# describe read the function first).
resource "google_project_iam_member" "admin_functions_viewer" {
  for_each = toset(local.invokers.admins)

  project = var.project
  role    = "roles/cloudfunctions.viewer"
  member  = each.value

  depends_on = [terraform_data.apis_ready]
}
