package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Setting is one environment variable the functions or the local run
// read: its name, its default as a person would write it, who reads it and
// what it means. Settings is the one declaration; docs/configuration.md is
// generated from it (go run ./scripts/configdoc), and a test fails when a
// variable is read that is not declared here, or the doc is stale.
type Setting struct {
	Name    string
	Default string // "" when unset means off or none
	ReadBy  string
	Meaning string
}

// Who reads a setting.
const (
	everyFunction = "every function but the console"
	minting       = "`token`, `files`, `proxy`, `mcp`, `connectors-test`, `maintenance`"
	filesOnly     = "`files`, `mcp`"
	proxyOnly     = "`proxy`, `mcp`"
	mcpOnly       = "`mcp`"
	consoleOnly   = "`console`"
	localRun      = "the local run"
	connectFlow   = "`connectors-authorize`, `oauth-callback`"
)

// Settings lists every setting, grouped as docs/configuration.md shows
// them.
var Settings = []Setting{
	// Backends.
	{"GOOGLE_CLOUD_PROJECT", "", everyFunction, "The project of Firestore and Secret Manager (set by Terraform; required)."},
	{"CONNECTORS_COLLECTION_PREFIX", "", everyFunction, "Prefix of the Firestore collections, so that deployments can share a database."},
	{"CONNECTORS_SECRET_PREFIX", DefaultSecretPrefix, everyFunction, "Prefix of the Secret Manager secret names the service owns; IAM conditions are scoped to it."},
	{"CONNECTORS_TOKEN_CACHE_DATABASE", "", minting, "The Firestore database of the shared token cache; unset: the connectors' own. Terraform gives it its own (`token_cache_database`) so IAM can tell cache writes from connector writes."},
	{"CONNECTORS_TOKEN_CACHE_KEY_VERSIONS", "the latest version", minting, "The token-cache key's Secret Manager versions: the sealing one first, then any still accepted after a rotation (set by Terraform)."},

	// Callers.
	{"CONNECTORS_ADMINS", "", everyFunction, "Comma-separated admin principals (`user:` / `serviceAccount:` / `group:` prefixes as Terraform writes them)."},
	{"CONNECTORS_AGENT_PRINCIPALS", "", everyFunction, "Comma-separated principals with the agent role."},
	{"CONNECTORS_SCHEDULER_PRINCIPALS", "", everyFunction, "Comma-separated principals with the scheduler role, the only callers of `maintenance` (Terraform: Cloud Scheduler's service account)."},
	{"CONNECTORS_MAINTENANCE_IDLE_REFRESH", "168h", "`maintenance`", "A `refresh_token` connector with no successful mint for this long (a Go duration, at least `1h`) is refreshed by `maintenance`, so that providers that expire unused refresh tokens do not."},
	{"CONNECTORS_AGENT_BINDINGS", "", everyFunction, "Which principals may act for which agent ID: `agentA=sa1@p.iam.gserviceaccount.com|sa2@…;agentB=…`. Empty is unbound mode (any agent principal for every agent ID), which Terraform allows only with `allow_unbound_agents`."},
	{"CONNECTORS_AUDIENCE", "derived from the request", everyFunction, "Comma-separated: the function's own URLs, the accepted ID-token audiences (Terraform sets its cloudfunctions.net and run.app URLs; never the project's bare cloudfunctions.net origin)."},
	{"CONNECTORS_CLIENT_IDS", "gcloud's client ID", everyFunction, "Comma-separated OAuth client IDs also accepted as audience (`none` for none), so `gcloud functions call` works."},
	{"CONNECTORS_TRUST_CLOUD_RUN_IAM", "false", everyFunction, "`true` on private functions: accept the ID token Cloud Run already verified (it strips its signature); its claims are still checked."},
	{"CONNECTORS_IAP_AUDIENCES", "", "the admin functions behind the console", "The backend services whose Identity-Aware Proxy assertions are accepted (set by Terraform after apply)."},
	{"K_SERVICE", "", everyFunction, "Set by Cloud Run: the service name, from which the function's own run.app and cloudfunctions.net URLs are known."},

	// Token requests.
	{"CONNECTORS_ALLOW_INSECURE_URLS", "false", everyFunction, "`true` only for development: `http://` token URLs to loopback hosts."},
	{"CONNECTORS_ALLOW_PRIVATE_NETWORKS", "false", everyFunction, "`true` lets token requests and proxied calls reach private address ranges (providers and APIs inside a VPC); link-local and metadata addresses stay refused."},
	{"CONNECTORS_TOKEN_CONNECT_TIMEOUT", DefaultTokenConnectTimeout.String(), everyFunction, "Bound on connecting to a token endpoint."},
	{"CONNECTORS_TOKEN_TIMEOUT", DefaultTokenTimeout.String(), everyFunction, "Bound on a whole token request."},
	{"CONNECTORS_DEFAULT_TOKEN_LIFETIME", DefaultDefaultTokenLifetime.String(), everyFunction, "Lifetime assumed when a provider omits `expires_in`."},
	{"CONNECTORS_REQUEST_TIMEOUT", DefaultRequestTimeout.String(), everyFunction + ", the local run", "Deadline of every request: a backend that does not answer ends it as 503 `unavailable` before the platform's limit; for a `files` read it bounds opening the object, not streaming it."},

	// files.
	{"CONNECTORS_GCS_ENDPOINT", "Google's", filesOnly, "The GCS endpoint (an emulator in the local run)."},
	{"CONNECTORS_S3_ENDPOINT", "AWS's", filesOnly, "The S3 endpoint (an emulator; S3 then uses path-style addressing)."},
	{"CONNECTORS_S3_REGION", "`AWS_REGION`", filesOnly, "Default S3 region."},
	{"CONNECTORS_FILES_MAX_WRITE_BYTES", "20 MiB", filesOnly, "Largest `write`; larger objects go through `sign`."},
	{"CONNECTORS_FILES_DEFAULT_ACCESS", "", filesOnly, "Where each agent may use `files` without a connector, with the function's own identity: `agent=gs://bucket/folder|s3://bucket;agent2=…`. Unset: nowhere (403 before any storage call). Terraform: `files_default_access`."},
	{"CONNECTORS_FILES_MAX_SIGNED_EXPIRY", "1h", filesOnly, "Longest `expiresIn` of a signed URL, at most `168h` (Terraform: `files_max_signed_url_seconds`); beyond it 400 on `expiresIn`."},
	{"CONNECTORS_FILES_WRITE_BUFFER_BYTES", "64 MiB", filesOnly, "Bytes of large request bodies one instance reads and decodes at once; past it a write waits up to 5 s, then 503 `unavailable` with `Retry-After`."},
	{"CONNECTORS_FILES_READ_TIMEOUT", "10m", filesOnly, "How long a `read` may stream its body once the object is open (Terraform: `files_read_timeout_seconds`; the platform timeout is a minute more)."},

	// proxy.
	{"CONNECTORS_PROXY_TIMEOUT", "60s", proxyOnly, "How long a proxied call waits for the API's answer headers (its first byte), a Go duration or whole seconds; past it 504 `upstream_timeout`. Terraform: `proxy_timeout_seconds`."},
	{"CONNECTORS_PROXY_MAX_DURATION", "55m", proxyOnly, "Bound on a whole proxied call, streaming the answer included, a Go duration or whole seconds (the platform timeout is above it: Terraform sets the function's timeout to an hour)."},
	{"CONNECTORS_PROXY_MAX_BODY_BYTES", "33554432 (32 MiB)", proxyOnly, "Largest request body a proxied call may send, read as a stream; beyond it 413 `payload_too_large`."},

	// mcp.
	{"CONNECTORS_MCP_MAX_RESULT_BYTES", "262144 (256 KiB)", mcpOnly, "Most body bytes `call_api` and `read_file` return; a longer body is cut there with `truncated: true` (a model's context is the limit, not memory)."},
	{"CONNECTORS_MCP_MAX_REQUEST_BYTES", "4194304 (4 MiB)", mcpOnly, "Largest MCP request body (413 beyond): `call_api` and `write_file` bodies ride in it, base64 taking 4/3; larger uploads go through `sign_url`."},

	// Metrics (docs/metrics.md).
	{"CONNECTORS_METRICS", "off (the local run: `prometheus`)", minting + ", the local run", "Where the metrics go: `gcm` exports them to Cloud Monitoring (Terraform sets it on the minting functions unless `metrics_enabled` is false), `prometheus` serves them on the local run's `/metrics`, `off` counts nothing. A deployed function refuses `prometheus`, the local run `gcm`."},
	{"CONNECTORS_METRICS_INTERVAL", "60s", minting + ", " + localRun, "How often an instance sends its metrics to Cloud Monitoring, at least `5s` (Terraform: `metrics_interval_seconds`); SIGTERM sends what is left."},

	// console.
	{"CONNECTORS_FUNCTION_BASE_URL", "the page's own origin", consoleOnly, "Function `NAME` is at `$CONNECTORS_FUNCTION_BASE_URL/NAME` (an https URL, http only to loopback, or a path such as `/admin`)."},
	{"CONNECTORS_FUNCTION_URLS", "", consoleOnly, "Per-function URLs, overriding the base: `{\"connectors-list\": \"https://…\"}` or `connectors-list=https://…,connectors-get=…`."},

	// The connect flow.
	{"CONNECTORS_OAUTH_REDIRECT_URL", "derived from the request", connectFlow, "The registered redirect URI, `oauth-callback`'s URL behind the console's load balancer (Terraform: `https://<console_domain>/oauth-callback`); unset, `http://HOST/oauth-callback` on loopback in the local run."},
	{"CONNECTORS_CONSOLE_URL", "HOST/console", connectFlow, "The console page: where `oauth-callback` sends the admin back, and the only place a `returnTo` may lead (Terraform: `https://<console_domain>/console`)."},

	// Events (docs/operations.md).
	{"CONNECTORS_EVENTS_TOPIC", "", everyFunction, "Pub/Sub topic (an ID in the project, or `projects/P/topics/T`) receiving the connector events as CloudEvents; unset with no webhook: no events. Terraform sets it on the functions that change connectors or record their health (`events_topic`)."},
	{"CONNECTORS_WEBHOOK_URL", "", everyFunction, "An https URL also receiving every event, signed per Standard Webhooks; needs `CONNECTORS_WEBHOOK_SECRET_NAME`. Terraform: `webhook_url`."},
	{"CONNECTORS_WEBHOOK_SECRET_NAME", "", everyFunction, "The Secret Manager secret holding the webhook's signing secret (`whsec_` + base64 of 24 or more random bytes): its ID (latest version) or `projects/P/secrets/S/versions/V`. Terraform: `webhook_secret`."},

	// The local run.
	{"PORT", "8080", localRun, "The loopback port every function is served on."},
	{"CONNECTORS_DATA_DIR", "./.connectors", localRun, "Where the embedded database, the encrypted secrets and their key live."},

	// Go's own.
	{"GOGC", strconv.Itoa(DefaultGCPercent), "every function, the local run", "Go's collector target; Terraform sets it on every function, the local run uses it when unset (docs/performance.md)."},
	{"GOMEMLIMIT", "", "every function", "Go's soft memory limit; Terraform sets 75% of the instance's memory."},
}

// Markdown renders Settings as docs/configuration.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Configuration\n\n")
	b.WriteString("<!-- Generated by `go run ./scripts/configdoc` from shared/config/settings.go; do not edit. -->\n\n")
	b.WriteString("Every environment variable the functions and the local run read. Terraform\n")
	b.WriteString("sets the deployed ones from its variables (docs/deploy.md); the local run\n")
	b.WriteString("needs none. A value that does not parse stops the function with an error\n")
	b.WriteString("naming the variable.\n\n")
	b.WriteString("| variable | default | read by | meaning |\n|---|---|---|---|\n")
	for _, s := range Settings {
		def := s.Default
		if def == "" {
			def = "unset"
		} else if !strings.ContainsAny(def, "` ") {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Name, def, s.ReadBy, strings.ReplaceAll(s.Meaning, "|", "\\|"))
	}
	return b.String()
}
