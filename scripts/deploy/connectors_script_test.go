package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectors.dev/connectors/shared/testenv"
)

// needTools skips, or under CI fails, when the script's tools are missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, "%s is not on PATH", tool)
		}
	}
}

// scriptResult is one run of scripts/connectors.
type scriptResult struct {
	stdout, stderr string
	err            error
}

func (r scriptResult) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("output is not a JSON object (%v): %q\nstderr: %s", err, r.stdout, r.stderr)
	}
	return m
}

// runScript runs scripts/connectors with args, stdin and extra environment.
func runScript(t *testing.T, env []string, stdin string, args ...string) scriptResult {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(t), "scripts", "connectors")}, args...)...)
	cmd.Env = append(scriptEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return scriptResult{stdout.String(), stderr.String(), err}
}

// scriptEnv is the environment without the script's own settings.
func scriptEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONNECTORS_") {
			env = append(env, kv)
		}
	}
	return env
}

func mustSucceed(t *testing.T, r scriptResult) map[string]any {
	t.Helper()
	if r.err != nil {
		t.Fatalf("scripts/connectors failed: %v\nstdout: %s\nstderr: %s", r.err, r.stdout, r.stderr)
	}
	return r.json(t)
}

// mustFail checks a failing call: exit status 1 and the function's JSON
// error on stdout.
func mustFail(t *testing.T, r scriptResult, code string) map[string]any {
	t.Helper()
	if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\nstdout: %s\nstderr: %s", r.err, r.stdout, r.stderr)
	}
	m := r.json(t)
	e, _ := m["error"].(map[string]any)
	if e == nil || e["code"] != code {
		t.Fatalf("want error code %s, got %s", code, r.stdout)
	}
	return e
}

// startDevserver builds and starts the local run on a kernel-chosen
// loopback port and returns its base URL; it is stopped when t ends.
func startDevserver(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	return testenv.StartDevserver(t, []string{"-addr", "127.0.0.1:0", "-data", data}, scriptEnv()).Addr
}

// tokenEndpoint is an OAuth token endpoint (client_credentials) that only
// accepts clientID with secret.
func tokenEndpoint(t *testing.T, clientID, secret string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" ||
			r.PostForm.Get("client_id") != clientID || r.PostForm.Get("client_secret") != secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client","error_description":"bad client credentials"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"scope":"read"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestConnectorsScriptAgainstTheLocalRun(t *testing.T) {
	needTools(t, "bash", "curl", "jq")
	base := startDevserver(t)
	const secret, nextSecret = "s3cr3t-from-stdin", "n3xt-s3cr3t-from-stdin"
	oauth := tokenEndpoint(t, "client-1", secret)
	env := []string{"CONNECTORS_BASE_URL=" + base}
	noSecret := func(r scriptResult) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, secret) || strings.Contains(r.stdout+r.stderr, nextSecret) {
			t.Fatalf("the secret was printed: %s %s", r.stdout, r.stderr)
		}
	}

	// Create from flags, the client secret and the next one from standard
	// input (in that order, whatever the order of the flags).
	r := runScript(t, env, secret+"\n"+nextSecret+"\n", "create", "--name", "Billing", "--url", oauth.URL+"/token",
		"--grant-type", "client_credentials", "--client-id", "client-1", "--scope", "read write",
		"--agents", "mailer, crm", "--param", "audience=api", "--api-base-url", "http://127.0.0.1:9/billing/v1/",
		"--next-client-secret", "-", "--client-secret", "-", "--max-token-lifetime", "600")
	noSecret(r)
	c := mustSucceed(t, r)
	if c["name"] != "Billing" || c["hasClientSecret"] != true || c["hasNextClientSecret"] != true || c["maxTokenLifetime"] != float64(600) ||
		fmt.Sprint(c["agents"]) != "[mailer crm]" ||
		c["apiBaseUrl"] != "http://127.0.0.1:9/billing/v1/" ||
		fmt.Sprint(c["extraParams"]) != "map[audience:api]" {
		t.Fatalf("created %v", c)
	}

	// The stored secret is the one typed: the provider accepts it.
	r = runScript(t, nil, "", "--base-url", base, "test", "Billing")
	noSecret(r)
	if got := mustSucceed(t, r); got["ok"] != true {
		t.Fatalf("test: %v", got)
	}

	// Create from a file, flags overriding it.
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"name": "Other", "grantType": "client_credentials", "url": "https://auth.example.com/token",
		"clientId": "c2", "clientSecret": "from-file", "agents": ["nobody"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c = mustSucceed(t, runScript(t, env, "", "create", "--file", file, "--agents", "crm"))
	if c["name"] != "Other" || fmt.Sprint(c["agents"]) != "[crm]" || c["hasClientSecret"] != true {
		t.Fatalf("created from file %v", c)
	}

	// List by agent, paginated.
	l := mustSucceed(t, runScript(t, env, "", "list", "--agent", "crm", "--page-size", "1"))
	if cs, _ := l["connectors"].([]any); len(cs) != 1 || l["nextPageToken"] == "" {
		t.Fatalf("list page 1: %v", l)
	}
	l = mustSucceed(t, runScript(t, env, "", "list", "--agent", "mailer"))
	if cs, _ := l["connectors"].([]any); len(cs) != 1 || cs[0].(map[string]any)["name"] != "Billing" {
		t.Fatalf("list mailer: %v", l)
	}
	// --url before the command is the base URL (after it, a connector's).
	l = mustSucceed(t, runScript(t, nil, "", "--url", base, "list"))
	if cs, _ := l["connectors"].([]any); len(cs) != 2 {
		t.Fatalf("--url %s list: %v", base, l)
	}

	// Get; update with a stale revision (409), then rename with the
	// current one.
	got := mustSucceed(t, runScript(t, env, "", "get", "Billing"))
	rev, _ := got["revision"].(string)
	mustFail(t, runScript(t, env, "", "update", "Billing", "--revision", "stale", "--scope", "x"), "conflict")
	u := mustSucceed(t, runScript(t, env, "", "update", "Billing", "--revision", rev, "--new-name", "Billing2", "--active", "false"))
	if u["name"] != "Billing2" || u["active"] != false || u["hasClientSecret"] != true {
		t.Fatalf("updated %v", u)
	}
	mustFail(t, runScript(t, env, "", "get", "--name", "Billing"), "not_found")

	// Bad input gets the function's error, naming the field, and status 1.
	e := mustFail(t, runScript(t, env, "", "create", "--name", "has space", "--grant-type", "client_credentials",
		"--url", "https://auth.example.com/token", "--client-id", "x", "--client-secret", "y"), "invalid_argument")
	if e["field"] != "name" {
		t.Errorf("error %v does not name the field", e)
	}

	// Delete, then it is gone.
	if d := mustSucceed(t, runScript(t, env, "", "delete", "Billing2")); d["deleted"] != "Billing2" {
		t.Fatalf("delete: %v", d)
	}
	mustFail(t, runScript(t, env, "", "delete", "Billing2"), "not_found")

	// A preset with its placeholder, waiting to be connected; authorize
	// prints the provider's authorization URL.
	z := mustSucceed(t, runScript(t, env, secret+"\n", "create", "--name", "Support", "--preset", "zendesk",
		"--preset-param", "subdomain=acme", "--client-id", "zd", "--client-secret", "-", "--auth-param", "prompt=consent"))
	if z["url"] != "https://acme.zendesk.com/oauth/tokens" || z["authorizationUrl"] != "https://acme.zendesk.com/oauth/authorizations/new" ||
		fmt.Sprint(z["authorizationParams"]) != "map[prompt:consent]" || z["hasRefreshToken"] != false {
		t.Fatalf("created from a preset %v", z)
	}
	a := mustSucceed(t, runScript(t, env, "", "authorize", "Support", "--return-to", "/console"))
	if au, _ := a["authorizationUrl"].(string); !strings.HasPrefix(au, "https://acme.zendesk.com/oauth/authorizations/new?") ||
		!strings.Contains(au, "code_challenge_method=S256") || !strings.Contains(au, "prompt=consent") {
		t.Fatalf("authorize: %v", a)
	}

	// Usage errors exit 2 without calling anything.
	r = runScript(t, env, "", "frobnicate")
	if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("unknown command: %v", r.err)
	}
}

// TestConnectorsScriptOverGcloud runs the script without a base URL against
// a stand-in gcloud: it finds the function's URL with gcloud functions
// describe, sends the identity token gcloud prints, and never puts a
// write-only value on a command line; --gcloud-call uses gcloud functions
// call itself.
func TestConnectorsScriptOverGcloud(t *testing.T) {
	needTools(t, "bash", "curl", "jq")
	var (
		mu       sync.Mutex
		requests []*http.Request
		bodies   []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests, bodies = append(requests, r), append(bodies, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"name":"X","hasClientSecret":true}`)
	}))
	defer srv.Close()
	// A spelling of the loopback address the script does not treat as the
	// local run, so that it sends a token as to a deployed function.
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	fnURL := "http://2130706433:" + port

	dir := t.TempDir()
	log := filepath.Join(dir, "gcloud.log")
	gcloud := `#!/usr/bin/env bash
printf '%s\n' "$*" >>"` + log + `"
case "$1 $2" in
  "functions describe") echo "` + fnURL + `/$3" ;;
  "auth print-identity-token")
    case "$*" in *--audiences*) echo "ERROR: user accounts cannot set audiences" >&2; exit 1 ;; esac
    echo fake-id-token ;;
  "functions call") echo '{"via":"gcloud"}' ;;
  "config get") echo "" ;;
  *) echo "unexpected gcloud $*" >&2; exit 3 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "gcloud"), []byte(gcloud), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}
	const secret = "never-on-a-command-line"

	r := runScript(t, env, secret+"\n", "--region", "europe-west1", "--project", "p1", "create", "--name", "X",
		"--grant-type", "client_credentials", "--url", "https://auth.example.com/token", "--client-id", "c", "--client-secret", "-")
	if c := mustSucceed(t, r); c["name"] != "X" {
		t.Fatalf("create: %v", c)
	}
	mu.Lock()
	if len(requests) != 1 || requests[0].URL.Path != "/connectors-create" || requests[0].Header.Get("Authorization") != "Bearer fake-id-token" {
		t.Fatalf("requests %v", requests)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(bodies[0]), &body); err != nil || body["clientSecret"] != secret || body["name"] != "X" {
		t.Fatalf("body %s", bodies[0])
	}
	mu.Unlock()

	r = runScript(t, env, "", "--region", "europe-west1", "--gcloud-call", "get", "X")
	if m := mustSucceed(t, r); m["via"] != "gcloud" {
		t.Fatalf("gcloud call: %v", m)
	}
	r = runScript(t, env, secret+"\n", "--region", "europe-west1", "--gcloud-call", "update", "X", "--client-secret", "-")
	if r.err == nil {
		t.Error("--gcloud-call sent a write-only value")
	}
	r = runScript(t, env, "", "get", "X")
	if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(r.stderr, "--region") {
		t.Errorf("no region: %v %s", r.err, r.stderr)
	}

	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	calls := string(b)
	if strings.Contains(calls, secret) {
		t.Errorf("a write-only value reached gcloud's command line:\n%s", calls)
	}
	for _, want := range []string{
		"functions describe connectors-create --gen2 --region europe-west1 --project p1 --format=value(serviceConfig.uri)",
		"auth print-identity-token --audiences=" + fnURL + "/connectors-create",
		`functions call connectors-get --gen2 --region europe-west1 --data {"name":"X"}`,
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("gcloud was not called with %q; calls:\n%s", want, calls)
		}
	}
}
