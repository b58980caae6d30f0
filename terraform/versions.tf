terraform {
  # Write-only attributes (the token-cache key never enters the state).
  required_version = ">= 1.11"

  required_providers {
    # The only provider: the sources are zipped by scripts/stage, and the
    # token-cache key is derived from Terraform's own uuid(), so neither
    # hashicorp/archive nor hashicorp/random is needed.
    # The major .ci/run plans with (its provider is built from the module
    # proxy at a commit after 8.0.0; scripts/deploy's plan test fails when
    # the two disagree), so that a real init installs what CI checked.
    google = {
      source  = "hashicorp/google"
      version = ">= 8.0, < 9.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
