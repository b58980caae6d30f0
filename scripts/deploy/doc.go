// Package deploy holds the checks of the deployment: the Terraform plan
// (every function its own service account, Secret Manager access only by
// name-prefix condition and none for the list/get functions, private
// functions whose invokers are exactly the configured admins and agents),
// cloudbuild.yaml (every file a step uses exists), and the scripts/connectors
// admin helper run end to end against the local run. It has no code outside
// its tests.
package deploy
