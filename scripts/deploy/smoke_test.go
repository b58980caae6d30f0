package deploy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
)

// runSmoke runs scripts/smoke with args and extra environment.
func runSmoke(t *testing.T, env []string, args ...string) scriptResult {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(t), "scripts", "smoke")}, args...)...)
	cmd.Env = append(scriptEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return scriptResult{stdout.String(), stderr.String(), err}
}

// steps returns the "status step" pairs of the smoke script's output.
func steps(out string) []string {
	var s []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			s = append(s, f[0]+" "+f[1])
		}
	}
	return s
}

// listAll lists every connector of the local run.
func listAll(t *testing.T, base string) []any {
	t.Helper()
	l := mustSucceed(t, runScript(t, nil, "", "--base-url", base, "list"))
	cs, _ := l["connectors"].([]any)
	return cs
}

// TestSmokeAgainstTheLocalRun runs scripts/smoke against the README's
// local run (the built devserver) with a real OAuth server (fosite) as
// the provider: every step passes, one line each, nothing secret is
// printed, and nothing is left behind. A refusing provider then fails the
// token step, stops the run there with status 1, and the throwaway
// connector is still deleted.
func TestSmokeAgainstTheLocalRun(t *testing.T) {
	needTools(t, "bash", "curl", "jq", "od")
	base := startDevserver(t)
	provider := oauthtest.NewFosite(t)
	const secret = "smoke-client-secret-1234567890"
	provider.AddClient("smoke-client", secret, false)

	env := []string{"CONNECTORS_SMOKE_CLIENT_SECRET=" + secret}
	r := runSmoke(t, env, "--base-url", base, "--agent", "smoke-bot", "--mint-url", provider.TokenURL(), "--client-id", "smoke-client")
	if r.err != nil {
		t.Fatalf("smoke failed: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	t.Logf("scripts/smoke against the local run:\n%s", r.stdout)
	want := []string{"ok create", "ok list", "ok token", "ok proxy", "ok console", "skip iap", "ok delete"}
	if got := steps(r.stdout); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("steps %q, want %q\n%s", got, want, r.stdout)
	}
	if provider.TokenCalls() != 1 {
		t.Errorf("the provider was called %d times, want once (the token step; proxy refuses before minting)", provider.TokenCalls())
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("the client secret was printed:\n%s%s", r.stdout, r.stderr)
	}
	// Fosite's access tokens look like <random>.<signature>; none printed.
	if regexp.MustCompile(`ory_at_|[A-Za-z0-9_-]{40,}\.[A-Za-z0-9_-]{20,}`).MatchString(r.stdout + r.stderr) {
		t.Errorf("something like an access token was printed:\n%s", r.stdout)
	}
	if cs := listAll(t, base); len(cs) != 0 {
		t.Errorf("the smoke test left connectors behind: %v", cs)
	}

	// A provider that refuses: the run stops at token, status 1, and
	// cleans up.
	r = runSmoke(t, []string{"CONNECTORS_SMOKE_CLIENT_SECRET=wrong-secret"}, "--base-url", base, "--mint-url", provider.TokenURL(), "--client-id", "smoke-client")
	if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\n%s", r.err, r.stdout)
	}
	if got := steps(r.stdout); strings.Join(got, ",") != "ok create,ok list,FAIL token" {
		t.Fatalf("steps %q\n%s", got, r.stdout)
	}
	if !strings.Contains(r.stdout, "upstream_error") {
		t.Errorf("the failure does not say why:\n%s", r.stdout)
	}
	if cs := listAll(t, base); len(cs) != 0 {
		t.Errorf("a failed smoke run left connectors behind: %v", cs)
	}

	// Usage errors: the client's parts go together, its secret only from
	// the environment.
	r = runSmoke(t, nil, "--base-url", base, "--client-id", "x")
	if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(r.stderr, "--mint-url") {
		t.Errorf("--client-id alone: %v %s", r.err, r.stderr)
	}
	r = runSmoke(t, nil, "--base-url", base, "--mint-url", provider.TokenURL(), "--client-id", "x")
	if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(r.stderr, "CONNECTORS_SMOKE_CLIENT_SECRET") {
		t.Errorf("no secret: %v %s", r.err, r.stderr)
	}
}

// TestSmokeOverGcloudAndIAP runs scripts/smoke as against a deployment:
// function URLs from gcloud functions describe, identity tokens from
// gcloud (the admin's and, impersonated, the agent's), and the console and
// an admin function through a load balancer with IAP in front. gcloud is a
// stand-in script; Cloud Run's and IAP's token checks are two loopback HTTP
// servers (no real server here shows them) that accept only the bearer
// minted for them and forward to the local run without it. A load balancer
// that refuses the admin function's call fails the iap step, and the
// throwaway connector is still deleted.
func TestSmokeOverGcloudAndIAP(t *testing.T) {
	needTools(t, "bash", "curl", "jq", "od")
	base := startDevserver(t)
	dev, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	provider := oauthtest.NewFosite(t)
	provider.AddClient("smoke-client", "s3cret-smoke", false)

	const admin, agentSA, iapClient = "ops@p.iam.gserviceaccount.com", "agents@p.iam.gserviceaccount.com", "1234-iap.apps.googleusercontent.com"
	var (
		mu      sync.Mutex
		refused []string
		iapOK   atomic.Bool // the load balancer lets connectors-get through
	)
	// forward passes r to the local run when it carries want, without it.
	forward := func(w http.ResponseWriter, r *http.Request, want string) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+want {
			mu.Lock()
			refused = append(refused, r.URL.Path+" with "+got)
			mu.Unlock()
			http.Error(w, `{"error":{"code":"unauthenticated","message":"stand-in: wrong bearer"}}`, http.StatusUnauthorized)
			return
		}
		r.Header.Del("Authorization")
		httputil.NewSingleHostReverseProxy(dev).ServeHTTP(w, r)
	}
	// A spelling of the loopback address the scripts do not treat as the
	// local run, so that they send tokens as to a deployment.
	outside := func(u string) string { return "http://2130706433:" + u[strings.LastIndex(u, ":")+1:] }
	var front string
	run := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, fn := admin, r.URL.Path
		switch {
		case fn == "/token":
			who = agentSA
		case strings.HasPrefix(fn, "/proxy/"):
			// The proxy's URL is its root; the path below it is the call's.
			who, fn = agentSA, "/proxy"
		}
		forward(w, r, "tok:"+who+":"+front+fn)
	}))
	defer run.Close()
	front = outside(run.URL)
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/connectors-get" && !iapOK.Load() {
			http.Error(w, `{"error":{"code":"unauthenticated","message":"no valid IAP assertion"}}`, http.StatusUnauthorized)
			return
		}
		forward(w, r, "tok:"+admin+":"+iapClient)
	}))
	defer lb.Close()
	iapOK.Store(true)

	dir := t.TempDir()
	gcloud := `#!/usr/bin/env bash
case "$1 $2" in
  "functions describe") echo "` + front + `/$3" ;;
  "auth print-identity-token")
    aud="" sa=me
    for a in "$@"; do
      case $a in --audiences=*) aud=${a#*=} ;; --impersonate-service-account=*) sa=${a#*=} ;; esac
    done
    echo "tok:$sa:$aud" ;;
  "config get") echo "" ;;
  *) echo "unexpected gcloud $*" >&2; exit 3 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "gcloud"), []byte(gcloud), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"), "CONNECTORS_SMOKE_CLIENT_SECRET=s3cret-smoke"}
	args := []string{"--region", "europe-west1", "--project", "p", "--impersonate-service-account", admin,
		"--agent", "mailer", "--agent-impersonate", agentSA, "--mint-url", provider.TokenURL(), "--client-id", "smoke-client",
		"--console-url", outside(lb.URL) + "/console", "--iap-audience", iapClient}

	r := runSmoke(t, env, args...)
	t.Logf("scripts/smoke against a stand-in deployment:\n%s", r.stdout)
	mu.Lock()
	wrong := slices.Clone(refused)
	mu.Unlock()
	if r.err != nil {
		t.Fatalf("smoke failed: %v\nstdout:\n%s\nstderr:\n%s\nrefused: %q", r.err, r.stdout, r.stderr, wrong)
	}
	want := "ok create,ok list,ok token,ok proxy,ok console,ok iap,ok delete"
	if got := strings.Join(steps(r.stdout), ","); got != want {
		t.Fatalf("steps %s, want %s\n%s", got, want, r.stdout)
	}
	if len(wrong) != 0 {
		t.Errorf("requests with the wrong bearer: %q", wrong)
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret-smoke") {
		t.Error("the client secret was printed")
	}

	// The admin function refuses what came through IAP: iap fails, the
	// run stops there, and the connector is deleted all the same.
	iapOK.Store(false)
	r = runSmoke(t, env, args...)
	if ee, ok := r.err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\n%s", r.err, r.stdout)
	}
	if got := strings.Join(steps(r.stdout), ","); got != "ok create,ok list,ok token,ok proxy,ok console,FAIL iap" || !strings.Contains(r.stdout, "IAP's assertion") {
		t.Fatalf("steps %s\n%s", got, r.stdout)
	}
	if cs := listAll(t, base); len(cs) != 0 {
		t.Errorf("a failed smoke run left connectors behind: %v", cs)
	}
}
