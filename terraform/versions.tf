terraform {
  # Write-only attributes (the token-cache key never enters the state).
  required_version = ">= 1.11"

  required_providers {
    # The only provider: the sources are zipped by scripts/stage, and the
    # token-cache key is derived from Terraform's own uuid(), so neither
    # hashicorp/archive nor hashicorp/random is needed.
    google = {
      source  = "hashicorp/google"
      version = ">= 6.30, < 8.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
