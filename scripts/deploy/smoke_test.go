package deploy

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
	want := []string{"ok create", "ok list", "ok token", "ok console", "skip iap", "ok delete"}
	if got := steps(r.stdout); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("steps %q, want %q\n%s", got, want, r.stdout)
	}
	if provider.TokenCalls() != 1 {
		t.Errorf("the provider was called %d times, want once (the token step)", provider.TokenCalls())
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
