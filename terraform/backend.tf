# State lives in a GCS bucket named at init time:
#
#   terraform -chdir=terraform init \
#     -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=connectors"
#
# (cloudbuild.yaml passes its _TF_STATE_BUCKET substitution). .ci/run plans
# offline from a copy of this directory without this file.
terraform {
  backend "gcs" {}
}
