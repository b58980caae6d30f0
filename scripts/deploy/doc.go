// Package deploy holds the checks of the deployment: the Terraform plan
// (every function its own service account, Secret Manager access only by
// name-prefix condition and none for the list/get functions, private
// functions whose invokers are exactly the configured admins and agents),
// the order of the apply (APIs, then a propagation wait, before anything
// that uses them; IAM, then a wait, before the builds and IAP's binding),
// the provider major versions.tf admits, the certificate's name and the
// token-cache key's rotation; cloudbuild.yaml (every file a step uses
// exists, every image a full version, tools outside the source tree,
// bootstrap steps before terraform) and .ci/run; and the scripts/connectors
// admin helper and scripts/smoke run end to end against the local run. It
// has no code outside its tests.
package deploy
